/* Pauses (issue 15): what the ClientHello and certificate callbacks need in
 * C: the extension list (allocated by libssl, freed here), loading a
 * certificate and key for SSL_CTX_set_client_cert_cb (which takes
 * ownership of both), and SSL_set_retry_verify where it exists. */
#include <openssl/pem.h>
#include "../glue.h"

#if OPENSSL_VERSION_NUMBER >= 0x30000020L
#define OSSL_HAVE_RETRY_VERIFY 1
#else
#define OSSL_HAVE_RETRY_VERIFY 0
#endif

/* SSL_client_hello_get1_extensions_present into out[0..cap): the number of
 * extensions (which may exceed cap: only cap are copied), -1 on failure. */
static int ossl_client_hello_extensions(SSL *s, int *out, size_t cap)
{
    int *exts = NULL;
    size_t n = 0, i;
    if (SSL_client_hello_get1_extensions_present(s, &exts, &n) != 1)
        return -1;
    for (i = 0; i < n && i < cap; i++)
        out[i] = exts[i];
    OPENSSL_free(exts);
    return (int)n;
}

/* PEM certificate and private key files into *x / *k (both or neither):
 * 1 loaded, 0 failed (the error queue says why). */
static int ossl_load_cert_key(const char *cert, const char *key, X509 **x, EVP_PKEY **k)
{
    BIO *b;
    *x = NULL;
    *k = NULL;
    if ((b = BIO_new_file(cert, "r")) == NULL)
        return 0;
    *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (*x == NULL)
        return 0;
    if ((b = BIO_new_file(key, "r")) != NULL) {
        /* No password callback: an encrypted key fails instead of prompting. */
        *k = PEM_read_bio_PrivateKey(b, NULL, ossl_no_password_cb, NULL);
        BIO_free(b);
    }
    if (*k == NULL || X509_check_private_key(*x, *k) != 1) {
        X509_free(*x);
        EVP_PKEY_free(*k);
        *x = NULL;
        *k = NULL;
        return 0;
    }
    return 1;
}

static int ossl_no_password_cb(char *buf, int size, int rwflag, void *u)
{
    (void)buf; (void)size; (void)rwflag; (void)u;
    return -1;
}

/* SSL_set_retry_verify (3.0.2+); 0 where the linked OpenSSL lacks it. */
static int ossl_set_retry_verify(SSL *ssl)
{
#if OSSL_HAVE_RETRY_VERIFY
    return SSL_set_retry_verify(ssl);
#else
    (void)ssl;
    return 0;
#endif
}
