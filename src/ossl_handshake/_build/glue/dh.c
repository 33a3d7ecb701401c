/* DHE parameters from PEM text ("-----BEGIN DH PARAMETERS-----").
 *
 * OpenSSL 3.0 reads them as an EVP_PKEY and SSL_CTX_set0_tmp_dh_pkey takes
 * ownership on success (SSL_CTX_set_tmp_dh and the DH type are deprecated);
 * 1.1.1 has only SSL_CTX_set_tmp_dh, which copies the DH. Returns 1 on
 * success, 0 with the reason on the error queue (Python's ensure()). */

#include <openssl/pem.h>
#if OPENSSL_VERSION_NUMBER < 0x30000000L
#include <openssl/dh.h>
#endif

static int ossl_ctx_set_dh_pem(SSL_CTX *ctx, const char *pem, int len)
{
    BIO *bio = BIO_new_mem_buf(pem, len);
    int ok = 0;
    if (bio == NULL)
        return 0;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    {
        EVP_PKEY *params = PEM_read_bio_Parameters(bio, NULL);
        if (params != NULL && !EVP_PKEY_is_a(params, "DH")) {
            ERR_raise_data(ERR_LIB_SSL, SSL_R_BAD_DH_VALUE, "the PEM parameters are not DH");
        } else if (params != NULL && SSL_CTX_set0_tmp_dh_pkey(ctx, params) == 1) {
            params = NULL; /* owned by the SSL_CTX now */
            ok = 1;
        }
        EVP_PKEY_free(params);
    }
#else
    {
        DH *dh = PEM_read_bio_DHparams(bio, NULL, NULL, NULL);
        if (dh != NULL && SSL_CTX_set_tmp_dh(ctx, dh) == 1)
            ok = 1;
        DH_free(dh);
    }
#endif
    BIO_free(bio);
    return ok;
}
