/* ossl_snapshot (the struct is in glue.h): one side's negotiated values for
 * SideResult, in one call. Self-contained: names that libssl owns per
 * SSL/SSL_CTX are copied, the rest are libssl's static strings, and the
 * peer's leaf and chain are held by reference, so a result stays valid after
 * its connection is freed (ossl_snapshot_free). */
#include "../glue.h"

/* The peer's chain with a reference on each certificate (X509_chain_up_ref),
 * so a result can decode it lazily after the SSL is freed. NULL if none. */
static STACK_OF(X509) *ossl_peer_chain_ref(const SSL *ssl)
{
    STACK_OF(X509) *sk = SSL_get_peer_cert_chain(ssl);
    return sk != NULL ? X509_chain_up_ref(sk) : NULL;
}

static void ossl_chain_free(STACK_OF(X509) *sk)
{
    sk_X509_pop_free(sk, X509_free);
}

static void ossl_snapshot_free(ossl_snapshot *s)
{
    if (s == NULL)
        return;
    X509_free(s->leaf);
    if (s->chain != NULL)
        sk_X509_pop_free(s->chain, X509_free);
    if (s->verified != NULL)
        sk_X509_pop_free(s->verified, X509_free);
    OPENSSL_free(s->ocsp);
    OPENSSL_free(s);
}

static ossl_snapshot *ossl_snapshot_new(SSL *ssl)
{
    const SSL_CIPHER *c;
    const unsigned char *alpn = NULL;
    const char *p;
    ossl_conn_state *st = ossl_state(ssl);
    ossl_snapshot *s = OPENSSL_zalloc(sizeof(*s));
    int nid;

    if (s == NULL)
        return NULL;
    s->finished = SSL_is_init_finished(ssl) ? 1 : 0;
    s->version = s->finished ? SSL_get_version(ssl) : NULL;
    c = SSL_get_current_cipher(ssl);
    s->cipher = c != NULL ? SSL_CIPHER_get_name(c) : NULL;
    s->cipher_bits = c != NULL ? SSL_CIPHER_get_bits(c, NULL) : -1;
    /* OpenSSL 3.0's SSL_get_negotiated_group dereferences s->session. */
    if (SSL_get_session(ssl) != NULL) {
        s->group_nid = ossl_get_negotiated_group(ssl);
        if (s->group_nid != 0)
            ossl_copy(s->group, sizeof(s->group), ossl_group_name(ssl, s->group_nid));
    }
    SSL_get0_alpn_selected(ssl, &alpn, &s->alpn_len);
    if (alpn == NULL || s->alpn_len > sizeof(s->alpn))
        s->alpn_len = 0;
    if (s->alpn_len)
        memcpy(s->alpn, alpn, s->alpn_len);
    p = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    s->has_server_name = p != NULL;
    ossl_copy(s->server_name, sizeof(s->server_name), p);
    s->reused = SSL_session_reused(ssl) ? 1 : 0;
    s->hrr = st != NULL ? st->hrr : 0;
    s->verify_result = SSL_get_verify_result(ssl);
    s->peer_sig = SSL_get_peer_signature_type_nid(ssl, &nid) == 1 ? OBJ_nid2sn(nid) : NULL;
    s->sig = SSL_get_signature_type_nid(ssl, &nid) == 1 ? OBJ_nid2sn(nid) : NULL;
    s->alert_sent = st != NULL ? st->alert_sent : -1;
    s->alert_received = st != NULL ? st->alert_received : -1;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    s->leaf = SSL_get1_peer_certificate(ssl);
#else
    s->leaf = SSL_get_peer_certificate(ssl); /* also a new reference */
#endif
    s->chain = ossl_peer_chain_ref(ssl);
    if (SSL_get0_verified_chain(ssl) != NULL)
        s->verified = X509_chain_up_ref(SSL_get0_verified_chain(ssl));
    {
        const unsigned char *resp = NULL;
        long n = ossl_get_ocsp_response(ssl, &resp);
        if (n > 0 && resp != NULL && (s->ocsp = OPENSSL_malloc((size_t)n)) != NULL) {
            memcpy(s->ocsp, resp, (size_t)n);
            s->ocsp_len = n;
        }
    }
    return s;
}
