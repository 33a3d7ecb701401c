/* Certificates, private keys and CRLs from memory: PEM (any number of
 * blocks) or DER (one or more concatenated objects), told apart by a PEM
 * header anywhere in the bytes. Keys use the same password callback as the
 * file loads (ossl_pem_password_cb, which never prompts). */
#include <openssl/pem.h>
#include "../glue.h"

static int ossl_is_pem(const unsigned char *data, int len)
{
    static const char tag[] = "-----BEGIN ";
    int i, n = (int)sizeof(tag) - 1;
    for (i = 0; i + n <= len; i++)
        if (memcmp(data + i, tag, (size_t)n) == 0)
            return 1;
    return 0;
}

/* Every certificate in data, in order; NULL (queue filled) when there is none
 * or one is damaged. Free with ossl_chain_free. */
static STACK_OF_X509 *ossl_certs_from_data(const unsigned char *data, int len)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    if (sk == NULL || len <= 0)
        goto fail;
    if (ossl_is_pem(data, len)) {
        BIO *bio = BIO_new_mem_buf(data, len);
        if (bio == NULL)
            goto fail;
        while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            if (!sk_X509_push(sk, x)) {
                X509_free(x);
                BIO_free(bio);
                goto fail;
            }
        }
        BIO_free(bio);
        /* The loop ends on "no start line" after the last block: expected. */
        if (ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE && sk_X509_num(sk) > 0)
            ERR_clear_error();
        else
            goto fail;
    } else {
        const unsigned char *p = data, *end = data + len;
        while (p < end) {
            x = d2i_X509(NULL, &p, (long)(end - p));
            if (x == NULL || !sk_X509_push(sk, x)) {
                X509_free(x);
                goto fail;
            }
        }
    }
    return sk;
fail:
    sk_X509_pop_free(sk, X509_free);
    return NULL;
}

/* The private key in data (PEM, possibly encrypted with pw, or DER of any
 * kind d2i_AutoPrivateKey knows); NULL with the queue filled otherwise. */
static EVP_PKEY *ossl_key_from_data(const unsigned char *data, int len, ossl_password *pw)
{
    EVP_PKEY *key = NULL;
    if (len <= 0)
        return NULL;
    if (ossl_is_pem(data, len)) {
        BIO *bio = BIO_new_mem_buf(data, len);
        if (bio == NULL)
            return NULL;
        key = PEM_read_bio_PrivateKey(bio, NULL, ossl_pem_password_cb, pw);
        BIO_free(bio);
    } else {
        const unsigned char *p = data;
        key = d2i_AutoPrivateKey(NULL, &p, len);
        if (key != NULL && p != data + len) {
            EVP_PKEY_free(key); /* trailing garbage: not one key */
            key = NULL;
        }
    }
    return key;
}

/* Add every CRL in data to store; the number added, -1 (queue filled) when
 * the bytes hold none or a damaged one. */
static int ossl_store_add_crls(X509_STORE *store, const unsigned char *data, int len)
{
    X509_CRL *crl;
    int n = 0;
    if (len <= 0)
        return -1;
    if (ossl_is_pem(data, len)) {
        BIO *bio = BIO_new_mem_buf(data, len);
        if (bio == NULL)
            return -1;
        while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
            int ok = X509_STORE_add_crl(store, crl);
            X509_CRL_free(crl); /* the store took its own reference */
            if (!ok) {
                BIO_free(bio);
                return -1;
            }
            n++;
        }
        BIO_free(bio);
        if (ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE && n > 0) {
            ERR_clear_error();
            return n;
        }
        return -1;
    } else {
        const unsigned char *p = data, *end = data + len;
        while (p < end) {
            int ok;
            crl = d2i_X509_CRL(NULL, &p, (long)(end - p));
            if (crl == NULL)
                return -1;
            ok = X509_STORE_add_crl(store, crl);
            X509_CRL_free(crl);
            if (!ok)
                return -1;
            n++;
        }
        return n;
    }
}
