/* Connection construction and close, one call each. */
#include "../glue.h"

/* Connection construction in one call: SSL_new, our state and C observers
 * (ossl_attach), SSL_set_connect_state/SSL_set_accept_state. NULL on failure
 * (the error queue says why). */
static SSL *ossl_new_ssl(SSL_CTX *ctx, ossl_conn_state *st, int server)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL)
        return NULL;
    if (!ossl_attach(ssl, st)) {
        SSL_free(ssl);
        return NULL;
    }
    if (server)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    return ssl;
}

/* Connection.close in one call: a finished connection is marked as having
 * sent close_notify (SSL_free would otherwise make its session
 * non-resumable), our state is detached, and the SSL freed if ours. */
static void ossl_close_ssl(SSL *ssl, int mark_shutdown, int free_it)
{
    if (mark_shutdown && SSL_is_init_finished(ssl))
        SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_SENT_SHUTDOWN);
    ossl_detach(ssl);
    if (free_it)
        SSL_free(ssl);
}

/* Our info and message callbacks on an SSL made by other code (an adopted
 * one), so that on_info, on_message and Trace see it: OpenSSL keeps one of
 * each per SSL, so this replaces whatever its creator installed. */
static void ossl_observe(SSL *ssl)
{
    SSL_set_info_callback(ssl, ossl_info_cb);
    SSL_set_msg_callback(ssl, ossl_msg_cb);
}
