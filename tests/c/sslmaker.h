/*
 * libsslmaker: makes SSL_CTX and SSL objects in C, so the tests can hand
 * objects created outside Python to the binding (ownership and ABI tests).
 *
 * Errors leave OpenSSL's error queue untouched for the caller to inspect;
 * nothing is printed.
 */
#ifndef SSLMAKER_H
#define SSLMAKER_H

#include <openssl/ssl.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A server (is_server != 0) or client SSL_CTX. Loads the PEM chain `cert` and
 * the key `key` when given; when `cafile` is given, loads it as the trust
 * anchors and turns on SSL_VERIFY_PEER (a server also advertises its names as
 * the acceptable client CAs). A server context gets a session id context, so
 * sessions resume with client verification on. Returns NULL on error.
 */
SSL_CTX *sslmaker_ctx_new(int is_server, const char *cert, const char *key, const char *cafile);

/*
 * SSL_new(ctx) put in accept (is_server != 0) or connect state. For a client
 * with a non-NULL hostname, sets SNI and SSL_set1_host(hostname). No BIO is
 * attached: the caller attaches one. Returns NULL on error.
 */
SSL *sslmaker_ssl_new(SSL_CTX *ctx, int is_server, const char *hostname);

void sslmaker_ctx_free(SSL_CTX *ctx);

/* SSL_free(ssl); counts the call when ssl is not NULL. */
void sslmaker_ssl_free(SSL *ssl);

/* How many SSL objects sslmaker_ssl_free has freed so far. */
int sslmaker_ssl_count_frees(void);

/* OpenSSL_version(OPENSSL_VERSION) of the libcrypto this library runs with. */
const char *sslmaker_openssl_version(void);

/*
 * How many SSL objects made by sslmaker_ssl_new have really been destroyed
 * (their reference count reached zero), whoever made the last SSL_free call.
 * Counted by an ex_data free callback, so an extra reference held by another
 * owner (SSL_up_ref) delays the count until that owner lets go.
 */
int sslmaker_ssl_count_destroyed(void);

/* SSL_get_version(ssl): lets the tests hand the binding's own SSL * to C code. */
const char *sslmaker_get_version(const SSL *ssl);

#ifdef __cplusplus
}
#endif

#endif /* SSLMAKER_H */
