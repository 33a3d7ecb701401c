/* BIO plumbing for the direct mode and the wire mode. */
#include "../glue.h"

/* Two SSLs on one BIO pair (the direct mode): bytes never enter Python. */
static int ossl_join(SSL *a, SSL *b, size_t size)
{
    BIO *ba = NULL, *bb = NULL;
    if (!BIO_new_bio_pair(&ba, size, &bb, size))
        return 0;
    SSL_set_bio(a, ba, ba);
    SSL_set_bio(b, bb, bb);
    return 1;
}

/* Move up to max bytes from one BIO to another without a round trip through
 * Python objects, through a buffer of its own (one TLS record). Returns bytes
 * moved, -1 if the destination refused. */
static long ossl_bio_move(BIO *from, BIO *to, size_t max)
{
    char buf[16384];
    const size_t bufsize = sizeof(buf);
    long moved = 0;
    while ((size_t)moved < max) {
        size_t want = BIO_ctrl_pending(from);
        size_t room = BIO_ctrl_get_write_guarantee(to);
        if (want == 0 || room == 0)
            break;
        if (want > room) want = room;
        if (want > bufsize) want = bufsize;
        if (want > max - (size_t)moved) want = max - (size_t)moved;
        int n = BIO_read(from, buf, (int)want);
        if (n <= 0)
            break;
        int w = BIO_write(to, buf, n);
        if (w != n)
            return -1;
        moved += n;
    }
    return moved;
}
