/* TLS 1.3 record protection with libcrypto: AEAD seal/open (RFC 8446 5.2) and
 * HKDF-Expand (RFC 5869), for core/record_crypto.py. EVP_PKEY_HKDF works the
 * same on 1.1.1, 3.x and 4.0 (EVP_KDF is 3.0+ only). */
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include "../glue.h"

#define OSSL_AEAD_TAG 16

static int ossl_aead(const EVP_CIPHER *cipher, int enc, const unsigned char *key,
                     const unsigned char *nonce, size_t noncelen,
                     const unsigned char *aad, size_t aadlen,
                     const unsigned char *in, size_t inlen,
                     unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int ok = 0, n = 0;

    if (ctx == NULL || inlen > INT_MAX || aadlen > INT_MAX)
        goto end;
    if (!EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, enc)
        || !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, (int)noncelen, NULL)
        || !EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc))
        goto end;
    if (!enc && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, OSSL_AEAD_TAG, tag))
        goto end;
    if (!EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen))
        goto end;
    if (inlen > 0 && !EVP_CipherUpdate(ctx, out, &n, in, (int)inlen))
        goto end;
    if (!EVP_CipherFinal_ex(ctx, out + (inlen > 0 ? n : 0), &n))
        goto end;
    if (enc && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, OSSL_AEAD_TAG, tag))
        goto end;
    ok = 1;
end:
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static int ossl_hkdf_expand(const EVP_MD *md, const unsigned char *secret, size_t secretlen,
                            const unsigned char *info, size_t infolen,
                            unsigned char *out, size_t outlen)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    size_t len = outlen;
    int ok = pctx != NULL
             && EVP_PKEY_derive_init(pctx) > 0
             && EVP_PKEY_CTX_hkdf_mode(pctx, EVP_PKEY_HKDEF_MODE_EXPAND_ONLY) > 0
             && EVP_PKEY_CTX_set_hkdf_md(pctx, md) > 0
             && EVP_PKEY_CTX_set1_hkdf_key(pctx, secret, (int)secretlen) > 0
             && EVP_PKEY_CTX_add1_hkdf_info(pctx, info, (int)infolen) > 0
             && EVP_PKEY_derive(pctx, out, &len) > 0
             && len == outlen;

    EVP_PKEY_CTX_free(pctx);
    return ok;
}
