/*
 * libsslmaker.so: see sslmaker.h. Build with
 *   cc -shared -fPIC sslmaker.c -o libsslmaker.so -lssl -lcrypto
 */
#include "sslmaker.h"

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "verify_host.h"

#define SSLMAKER_API __attribute__((visibility("default")))

static int ssl_frees;
static int ssl_destroyed;
static int destroy_idx = -1;
static char destroy_marker;

static void count_destroy(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                          void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    /* OpenSSL calls this for every SSL; only ours carry the marker. */
    if (ptr == &destroy_marker)
        __atomic_add_fetch(&ssl_destroyed, 1, __ATOMIC_SEQ_CST);
}

SSLMAKER_API SSL_CTX *sslmaker_ctx_new(int is_server, const char *cert, const char *key,
                                       const char *cafile)
{
    SSL_CTX *ctx = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());

    if (ctx == NULL)
        return NULL;
    if (cert != NULL && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        goto err;
    if (key != NULL && SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        goto err;
    if (cert != NULL && key != NULL && SSL_CTX_check_private_key(ctx) != 1)
        goto err;
    if (cafile != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1)
            goto err;
        if (is_server) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cafile);

            if (names == NULL)
                goto err;
            SSL_CTX_set_client_CA_list(ctx, names);
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    if (is_server) {
        static const unsigned char sid_ctx[] = "sslmaker";

        if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1)
            goto err;
    }
    return ctx;

err:
    SSL_CTX_free(ctx);
    return NULL;
}

SSLMAKER_API SSL *sslmaker_ssl_new(SSL_CTX *ctx, int is_server, const char *hostname)
{
    SSL *ssl;

    if (ctx == NULL)
        return NULL;
    if (destroy_idx < 0)
        destroy_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, count_destroy);
    if (destroy_idx < 0)
        return NULL;
    ssl = SSL_new(ctx);
    if (ssl == NULL)
        return NULL;
    if (SSL_set_ex_data(ssl, destroy_idx, &destroy_marker) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    if (is_server) {
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
        if (hostname != NULL
            && (SSL_set_tlsext_host_name(ssl, hostname) != 1 || set1_verify_host(ssl, hostname) != 1)) {
            SSL_free(ssl);
            return NULL;
        }
    }
    return ssl;
}

SSLMAKER_API void sslmaker_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

SSLMAKER_API void sslmaker_ssl_free(SSL *ssl)
{
    if (ssl == NULL)
        return;
    SSL_free(ssl);
    __atomic_add_fetch(&ssl_frees, 1, __ATOMIC_SEQ_CST);
}

SSLMAKER_API int sslmaker_ssl_count_frees(void)
{
    return __atomic_load_n(&ssl_frees, __ATOMIC_SEQ_CST);
}

SSLMAKER_API const char *sslmaker_openssl_version(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}

SSLMAKER_API int sslmaker_ssl_count_destroyed(void)
{
    return __atomic_load_n(&ssl_destroyed, __ATOMIC_SEQ_CST);
}

SSLMAKER_API const char *sslmaker_get_version(const SSL *ssl)
{
    return SSL_get_version(ssl);
}
