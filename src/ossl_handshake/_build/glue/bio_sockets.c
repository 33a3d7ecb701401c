/* Connect and accept BIOs on non-blocking sockets: the transports that make
 * SSL_get_error report WANT_CONNECT and WANT_ACCEPT (BIO_s_connect(3),
 * BIO_s_accept(3)). */
#include <stdlib.h>
#include "../glue.h"

static BIO *ossl_bio_connect_new(const char *host_port)
{
    BIO *b = BIO_new_connect(host_port);

    if (b != NULL && BIO_set_nbio(b, 1) <= 0) {
        BIO_free(b);
        return NULL;
    }
    return b;
}

static BIO *ossl_bio_accept_new(const char *host_port)
{
    BIO *b = BIO_new_accept(host_port);

    /* Non-blocking accept() and accepted sockets; the first BIO_do_accept
     * only binds and listens. */
    if (b == NULL || BIO_set_nbio_accept(b, 1) <= 0 || BIO_set_nbio(b, 1) <= 0
        || BIO_do_accept(b) <= 0) {
        BIO_free(b);
        return NULL;
    }
    return b;
}

static int ossl_bio_accept_port(BIO *b)
{
    const char *port = BIO_get_accept_port(b);

    return port != NULL ? atoi(port) : -1;
}

static int ossl_bio_fd(BIO *b)
{
    int fd = -1;

    if (b == NULL || BIO_get_fd(b, &fd) <= 0)
        return -1;
    return fd;
}

static int ossl_bio_accepted_fd(BIO *b)
{
    return ossl_bio_fd(BIO_next(b));
}
