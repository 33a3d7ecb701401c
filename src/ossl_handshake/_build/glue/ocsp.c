/* OCSP stapling: the server's staple (libssl takes ownership of an
 * OPENSSL_malloc'd copy), the client's view of it, and reading a DER
 * OCSPResponse for one certificate (status, times, signature). */
#include <time.h>
#include <openssl/ocsp.h>
#include "../glue.h"

static int ossl_set_ocsp_response(SSL *ssl, const unsigned char *der, int len)
{
    unsigned char *copy;
    if (len <= 0)
        return 0;
    copy = OPENSSL_malloc((size_t)len);
    if (copy == NULL)
        return 0;
    memcpy(copy, der, (size_t)len);
    if (!SSL_set_tlsext_status_ocsp_resp(ssl, copy, len)) {
        OPENSSL_free(copy);
        return 0;
    }
    return 1;
}

/* The stapled response (libssl keeps it): its length, -1 when none. */
static long ossl_get_ocsp_response(SSL *ssl, const unsigned char **out)
{
    unsigned char *p = NULL;
    long n = SSL_get_tlsext_status_ocsp_resp(ssl, &p);
    *out = p;
    return p == NULL ? -1 : n;
}

static long long ossl_asn1_epoch(const ASN1_GENERALIZEDTIME *t)
{
    struct tm tm;
    if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
        return -1;
    return (long long)timegm(&tm);
}

/* Read der for leaf (issued by issuer; both NULL: the first single response)
 * and, with a store, verify its signature (OCSP_basic_verify with untrusted
 * as extra certificates). Returns 1 when der is an OCSPResponse at all. */
static int ossl_ocsp_inspect(const unsigned char *der, long len, X509 *leaf, X509 *issuer,
                             X509_STORE *store, STACK_OF_X509 *untrusted, long slack,
                             ossl_ocsp_info *out)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *resp;
    OCSP_BASICRESP *bs;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
    memset(out, 0, sizeof(*out));
    out->cert_status = -1;
    out->reason = -1;
    out->signature = -1;
    out->this_update = out->next_update = out->revoked_at = -1;
    resp = d2i_OCSP_RESPONSE(NULL, &p, len);
    if (resp == NULL)
        return 0;
    out->response_status = OCSP_response_status(resp);
    bs = OCSP_response_get1_basic(resp);
    OCSP_RESPONSE_free(resp);
    if (bs == NULL)
        return 1;
    out->nsingle = OCSP_resp_count(bs);
    if (leaf != NULL && issuer != NULL) {
        OCSP_CERTID *id = OCSP_cert_to_id(NULL, leaf, issuer);
        if (id != NULL) {
            out->found = OCSP_resp_find_status(bs, id, &out->cert_status, &out->reason, &rev,
                                               &thisupd, &nextupd);
            OCSP_CERTID_free(id);
        }
    } else if (out->nsingle > 0) {
        out->cert_status = OCSP_single_get0_status(OCSP_resp_get0(bs, 0), &out->reason, &rev,
                                                   &thisupd, &nextupd);
        out->found = out->cert_status >= 0;
    }
    if (out->found) {
        out->current = OCSP_check_validity(thisupd, nextupd, slack, -1);
        out->this_update = ossl_asn1_epoch(thisupd);
        out->next_update = ossl_asn1_epoch(nextupd);
        out->revoked_at = ossl_asn1_epoch(rev);
    }
    if (store != NULL)
        out->signature = OCSP_basic_verify(bs, untrusted, store, 0) == 1;
    OCSP_BASICRESP_free(bs);
    ERR_clear_error(); /* what failed is in *out; the queue belongs to the next call */
    return 1;
}
