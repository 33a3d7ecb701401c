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
/* Error codes (cdef/errors.h). Before 3.0 there is no unexpected-EOF reason
 * (EOF is SSL_ERROR_SYSCALL with an empty queue), no system-error flag bit
 * (system errors are ERR_LIB_SYS) and no reason flags (reasons are 12 bits,
 * the library starts at bit 24). -1 is a reason no entry carries. */
#ifndef SSL_R_UNEXPECTED_EOF_WHILE_READING
#define SSL_R_UNEXPECTED_EOF_WHILE_READING (-1)
#endif
#ifndef ERR_SYSTEM_FLAG
#define ERR_SYSTEM_FLAG 0
#endif
#ifndef ERR_RFLAGS_OFFSET
#define ERR_RFLAGS_OFFSET 24L
#endif
#ifndef ERR_LIB_OFFSET
#define ERR_LIB_OFFSET 24L
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
