/* Opaque OpenSSL types. STACK_OF_X509 is STACK_OF(X509) in C (glue/openssl.h
 * #defines it): an OPENSSL_STACK underneath, so OPENSSL_sk_* work from Python. */

typedef ... SSL_CTX;
typedef ... SSL;
typedef ... SSL_METHOD;
typedef ... SSL_CIPHER;
typedef ... SSL_SESSION;
typedef ... BIO;
typedef ... BIO_METHOD;
typedef ... X509;
typedef ... X509_NAME;
typedef ... X509_STORE_CTX;
typedef ... X509_VERIFY_PARAM;
typedef ... EVP_PKEY;
typedef ... EVP_MD;
typedef ... OPENSSL_STACK;
typedef ... STACK_OF_X509;
typedef ... SSL_CONF_CTX;
