/* Pauses (issue 15): the ClientHello callback and its getters, the
 * certificate callbacks, SSL_set_retry_verify, CA lists. The Python side is
 * core/client_hello.py, core/cert_callbacks.py, core/ca_lists.py. */

#define SSL_CLIENT_HELLO_SUCCESS ...
#define SSL_CLIENT_HELLO_ERROR ...
#define SSL_CLIENT_HELLO_RETRY ...

int SSL_client_hello_isv2(SSL *s);
unsigned int SSL_client_hello_get0_legacy_version(SSL *s);
size_t SSL_client_hello_get0_random(SSL *s, const unsigned char **out);
size_t SSL_client_hello_get0_session_id(SSL *s, const unsigned char **out);
size_t SSL_client_hello_get0_ciphers(SSL *s, const unsigned char **out);
size_t SSL_client_hello_get0_compression_methods(SSL *s, const unsigned char **out);
int SSL_client_hello_get0_ext(SSL *s, unsigned int type, const unsigned char **out,
                              size_t *outlen);
void SSL_CTX_set_client_hello_cb(SSL_CTX *c, int (*cb)(SSL *, int *, void *), void *arg);

void SSL_CTX_set_cert_cb(SSL_CTX *c, int (*cb)(SSL *, void *), void *arg);
void SSL_CTX_set_client_cert_cb(SSL_CTX *ctx, int (*cb)(SSL *, X509 **, EVP_PKEY **));
const SSL_CIPHER *SSL_CIPHER_find(SSL *ssl, const unsigned char *ptr);

/* CA lists: STACK_OF(X509_NAME) is passed as void * (cffi has no STACK_OF). */
void *SSL_get_client_CA_list(const SSL *s);
void *SSL_CTX_get_client_CA_list(const SSL_CTX *ctx);
int SSL_CTX_add_client_CA(SSL_CTX *ctx, X509 *x);
OPENSSL_STACK *OPENSSL_sk_new_null(void);

/* glue/hello.c: SSL_set_retry_verify exists from 3.0.2 */
static const int OSSL_HAVE_RETRY_VERIFY;

extern "Python" int py_client_hello_cb(SSL *s, int *al, void *arg);
extern "Python" int py_cert_cb(SSL *ssl, void *arg);
extern "Python" int py_client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey);
