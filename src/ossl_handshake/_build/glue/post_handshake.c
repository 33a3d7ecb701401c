/* Early data (0-RTT): SSL_write_early_data and SSL_read_early_data with the
 * capture of glue/step.c (docs/architecture.md, rule 5). */
#include "../glue.h"

static int ossl_write_early_data(SSL *ssl, const void *buf, size_t num, ossl_result *r)
{
    return ossl_write_with(SSL_write_early_data, ssl, buf, num, r);
}

/* Returns SSL_read_early_data's own value (ERROR/SUCCESS/FINISH); r->ret is
 * 1 for SUCCESS/FINISH and 0 for ERROR, the value SSL_get_error is asked
 * about (SSL_read_early_data(3): on ERROR, SSL_get_error says why). */
static int ossl_read_early_data(SSL *ssl, void *buf, size_t num, ossl_result *r)
{
    return ossl_read_with(SSL_read_early_data, ssl, buf, num, r);
}
