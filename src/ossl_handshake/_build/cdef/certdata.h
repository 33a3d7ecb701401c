/* Certificates, keys and CRLs from memory (PEM or DER bytes) and the calls
 * that install them on an SSL_CTX or one SSL. The parsing is glue
 * (glue/certdata.c, declared in glue.h). */

int SSL_CTX_use_certificate(SSL_CTX *ctx, X509 *x);
int SSL_CTX_use_PrivateKey(SSL_CTX *ctx, EVP_PKEY *pkey);
long SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *x509);
long SSL_CTX_clear_chain_certs(SSL_CTX *ctx);
int SSL_use_certificate(SSL *ssl, X509 *x);
int SSL_use_PrivateKey(SSL *ssl, EVP_PKEY *pkey);
long SSL_add1_chain_cert(SSL *ssl, X509 *x509);
long SSL_clear_chain_certs(SSL *ssl);
int SSL_check_private_key(const SSL *ssl);
void EVP_PKEY_free(EVP_PKEY *pkey);
void X509_CRL_free(X509_CRL *a);
void SSL_certs_clear(SSL *s);
