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

/* The rest of a new Connection's setup: what a Connection(...) call names
 * (SNI, the host name or IP address to verify, the session to offer) and,
 * with bio_size >= 0, its own BIO pair of that size per direction (0: 17 KiB),
 * in one call under the context's guard. Returns OSSL_OPEN_OK with out
 * filled in, or which call failed, with nothing left allocated. */
static int ossl_open(SSL_CTX *ctx, ossl_conn_state *st, int server, const char *sni,
                     const char *host, const char *ip, SSL_SESSION *session, long bio_size,
                     ossl_opened *out)
{
    SSL *ssl = ossl_new_ssl(ctx, st, server);
    BIO *ours = NULL, *net = NULL;
    int failed = OSSL_OPEN_OK;

    out->ssl = NULL;
    out->net = NULL;
    if (ssl == NULL)
        return OSSL_OPEN_SSL_NEW;
    if (sni != NULL && !SSL_set_tlsext_host_name(ssl, sni))
        failed = OSSL_OPEN_SNI;
    else if (host != NULL && !SSL_set1_host(ssl, host))
        failed = OSSL_OPEN_HOST;
    else if (ip != NULL && !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip))
        failed = OSSL_OPEN_IP;
    else if (session != NULL && !SSL_set_session(ssl, session))
        failed = OSSL_OPEN_SESSION;
    else if (bio_size >= 0 && !ossl_memory_pair(&ours, (size_t)bio_size, &net, (size_t)bio_size))
        failed = OSSL_OPEN_BIO_PAIR;
    if (failed != OSSL_OPEN_OK) {
        ossl_close_ssl(ssl, 0, 1);
        return failed;
    }
    if (ours != NULL)
        SSL_set_bio(ssl, ours, ours);
    out->ssl = ssl;
    out->net = net;
    return OSSL_OPEN_OK;
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
