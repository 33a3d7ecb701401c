/* Pre-shared keys: TLS 1.3 external PSKs (an SSL_SESSION built from the key,
 * glue/psk.c) and TLS 1.2 PSK cipher suites. The callbacks are the Python
 * trampolines of core/callbacks.py (extern "Python": cffi's syntax). */


void SSL_CTX_set_psk_use_session_callback(SSL_CTX *ctx,
    int (*cb)(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
              SSL_SESSION **sess));
void SSL_CTX_set_psk_find_session_callback(SSL_CTX *ctx,
    int (*cb)(SSL *ssl, const unsigned char *identity, size_t identity_len,
              SSL_SESSION **sess));
void SSL_CTX_set_psk_client_callback(SSL_CTX *ctx,
    unsigned int (*cb)(SSL *ssl, const char *hint, char *identity,
                       unsigned int max_identity_len, unsigned char *psk,
                       unsigned int max_psk_len));
void SSL_CTX_set_psk_server_callback(SSL_CTX *ctx,
    unsigned int (*cb)(SSL *ssl, const char *identity, unsigned char *psk,
                       unsigned int max_psk_len));
int SSL_CTX_use_psk_identity_hint(SSL_CTX *ctx, const char *hint);
const char *SSL_get_psk_identity_hint(const SSL *s);
const char *SSL_get_psk_identity(const SSL *s);

extern "Python" int py_psk_use_session_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id,
                                          size_t *idlen, SSL_SESSION **sess);
extern "Python" int py_psk_find_session_cb(SSL *ssl, const unsigned char *identity,
                                           size_t identity_len, SSL_SESSION **sess);
extern "Python" unsigned int py_psk_client_cb(SSL *ssl, const char *hint, char *identity,
                                              unsigned int max_identity_len,
                                              unsigned char *psk, unsigned int max_psk_len);
extern "Python" unsigned int py_psk_server_cb(SSL *ssl, const char *identity,
                                              unsigned char *psk, unsigned int max_psk_len);
