/* Version shims: what older OpenSSL headers lack is stubbed here instead of
 * failing the build (cdef/constants.h and cdef/compat.h name it all). */
#include "../glue.h"

#ifndef SSL_ERROR_WANT_RETRY_VERIFY
#define SSL_ERROR_WANT_RETRY_VERIFY (-1)
#define OSSL_HAVE_WANT_RETRY_VERIFY 0
#else
#define OSSL_HAVE_WANT_RETRY_VERIFY 1
#endif
#ifndef SSL_ERROR_WANT_CLIENT_HELLO_CB
#define SSL_ERROR_WANT_CLIENT_HELLO_CB (-2)
#endif
#ifndef SSL_OP_IGNORE_UNEXPECTED_EOF
#define SSL_OP_IGNORE_UNEXPECTED_EOF 0
#define OSSL_HAVE_IGNORE_UNEXPECTED_EOF 0
#else
#define OSSL_HAVE_IGNORE_UNEXPECTED_EOF 1
#endif
#ifndef SSL_OP_ENABLE_KTLS
#define SSL_OP_ENABLE_KTLS 0
#endif
#ifndef SSL_OP_CLEANSE_PLAINTEXT
#define SSL_OP_CLEANSE_PLAINTEXT 0
#endif
#ifndef SSL_OP_ALLOW_CLIENT_RENEGOTIATION
#define SSL_OP_ALLOW_CLIENT_RENEGOTIATION 0
#endif
#ifndef SSL_OP_NO_TX_CERTIFICATE_COMPRESSION
#define SSL_OP_NO_TX_CERTIFICATE_COMPRESSION 0
#endif
#ifndef SSL_OP_NO_RX_CERTIFICATE_COMPRESSION
#define SSL_OP_NO_RX_CERTIFICATE_COMPRESSION 0
#endif
#ifndef SSL_OP_ENABLE_KTLS_TX_ZEROCOPY_SENDFILE
#define SSL_OP_ENABLE_KTLS_TX_ZEROCOPY_SENDFILE 0
#endif

static const int OSSL_BUILD_VERSION_NUMBER = (int)(OPENSSL_VERSION_NUMBER >> 4);
static const int OSSL_HAVE_NEGOTIATED_GROUP = (OPENSSL_VERSION_NUMBER >= 0x30000000L);

static int ossl_get_negotiated_group(SSL *ssl)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    return SSL_get_negotiated_group(ssl);
#else
    (void)ssl;
    return 0;
#endif
}

static const char *ossl_group_name(SSL *ssl, int nid)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    const char *name = SSL_group_to_name(ssl, nid);
    if (name != NULL)
        return name;
#else
    (void)ssl;
#endif
    return OBJ_nid2sn(nid & ~0x1000000);
}
