/* TLS 1.3 external PSKs: the SSL_SESSION a psk_use_session/find_session
 * callback hands to libssl (SSL_CTX_set_psk_use_session_callback(3)). */
#include "../glue.h"

/* A new session for `key` with the TLS 1.3 cipher `cipher_id` (two bytes).
 * NULL when the cipher is unknown, or when `md` (the digest a
 * HelloRetryRequest fixed; NULL on the first call) is not the cipher's
 * handshake digest: the callback then offers no PSK, as the man page asks. */
static SSL_SESSION *ossl_psk_session(SSL *ssl, const void *md, const unsigned char *key,
                                     size_t keylen, const unsigned char *cipher_id)
{
    const SSL_CIPHER *c = SSL_CIPHER_find(ssl, cipher_id);
    SSL_SESSION *s;
    if (c == NULL)
        return NULL;
    if (md != NULL && EVP_MD_type(SSL_CIPHER_get_handshake_digest(c)) != EVP_MD_type((const EVP_MD *)md))
        return NULL;
    s = SSL_SESSION_new();
    if (s == NULL)
        return NULL;
    if (!SSL_SESSION_set1_master_key(s, key, keylen) || !SSL_SESSION_set_cipher(s, c)
            || !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
        SSL_SESSION_free(s);
        return NULL;
    }
    return s;
}
