/* Version shims: what older OpenSSL headers lack is stubbed here instead of
 * failing the build (cdef/constants.h and cdef/compat.h name it all), and
 * what newer headers deprecate is redirected to its replacement: this file
 * comes before cffi's generated code in the one translation unit, so a macro
 * defined here is what cffi's wrapper of a cdef name calls. */
#include <dlfcn.h>
#include "../glue.h"

/* An SSL_OP_* the linked OpenSSL lacks gets one of these bits instead of 0
 * (0 would make the Options member an alias of NONE, and setting it would
 * silently do nothing): no OpenSSL up to 4.0 uses bits 48..63, and
 * ossl_options_unavailable() lists them so that the Python layer refuses
 * them with a clear error before calling SSL_CTX_set_options. */
#define OSSL_OP_MISSING(n) (((uint64_t)1) << (48 + (n)))

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
#define SSL_OP_IGNORE_UNEXPECTED_EOF OSSL_OP_MISSING(0)
#define OSSL_HAVE_IGNORE_UNEXPECTED_EOF 0
#else
#define OSSL_HAVE_IGNORE_UNEXPECTED_EOF 1
#endif
#ifndef SSL_OP_ENABLE_KTLS
#define SSL_OP_ENABLE_KTLS OSSL_OP_MISSING(1)
#endif
#ifndef SSL_OP_CLEANSE_PLAINTEXT
#define SSL_OP_CLEANSE_PLAINTEXT OSSL_OP_MISSING(2)
#endif
#ifndef SSL_OP_ALLOW_CLIENT_RENEGOTIATION
#define SSL_OP_ALLOW_CLIENT_RENEGOTIATION OSSL_OP_MISSING(3)
#endif
#ifndef SSL_OP_NO_EXTENDED_MASTER_SECRET
#define SSL_OP_NO_EXTENDED_MASTER_SECRET OSSL_OP_MISSING(4)
#endif
#ifndef SSL_OP_TLSEXT_PADDING
#define SSL_OP_TLSEXT_PADDING OSSL_OP_MISSING(5)
#endif
#ifndef SSL_OP_SAFARI_ECDHE_ECDSA_BUG
#define SSL_OP_SAFARI_ECDHE_ECDSA_BUG OSSL_OP_MISSING(6)
#endif
#ifndef SSL_OP_NO_ANTI_REPLAY
#define SSL_OP_NO_ANTI_REPLAY OSSL_OP_MISSING(7)
#endif
#ifndef SSL_OP_LEGACY_SERVER_CONNECT
#define SSL_OP_LEGACY_SERVER_CONNECT OSSL_OP_MISSING(8)
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
#ifndef ERR_REASON_MASK
#define ERR_REASON_MASK 0xFFFL
#endif

/* Renamed in 3.0 (1.1.1's SSL_get_peer_certificate already returns a new
 * reference; only the name changed). */
#if OPENSSL_VERSION_NUMBER < 0x30000000L
#define SSL_get1_peer_certificate SSL_get_peer_certificate
#endif
/* Added in 3.0: 1.1.1 has only the peer's signature type. */
#if OPENSSL_VERSION_NUMBER < 0x30000000L
static int ossl_get_signature_type_nid_111(const SSL *s, int *pnid)
{
    (void)s;
    (void)pnid;
    return 0;
}
#define SSL_get_signature_type_nid ossl_get_signature_type_nid_111
#endif
/* Deprecated in 4.0: SSL_set1_host (a name or an IP literal) and
 * SSL_SESSION_get_time (a long). The replacements exist since 3.3 (time_ex)
 * and 4.0 (set1_dnsname / set1_ipaddr); the cdef keeps the old names and
 * their semantics, and on 4.0 they call the new functions. */
#if OPENSSL_VERSION_NUMBER >= 0x40000000L
#include <arpa/inet.h>
static int ossl_is_ip_literal(const char *name)
{
    unsigned char buf[16];
    return name != NULL
        && (inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1);
}
static int ossl_set1_host_40(SSL *ssl, const char *name)
{
    return ossl_is_ip_literal(name) ? SSL_set1_ipaddr(ssl, name) : SSL_set1_dnsname(ssl, name);
}
static int ossl_add1_host_40(SSL *ssl, const char *name)
{
    return ossl_is_ip_literal(name) ? SSL_add1_ipaddr(ssl, name) : SSL_add1_dnsname(ssl, name);
}
#define SSL_set1_host ossl_set1_host_40
#define SSL_add1_host ossl_add1_host_40
#endif
#if OPENSSL_VERSION_NUMBER >= 0x30300000L
static long ossl_session_get_time_33(const SSL_SESSION *s)
{
    return (long)SSL_SESSION_get_time_ex(s);
}
#define SSL_SESSION_get_time ossl_session_get_time_33
#endif

static uint64_t ossl_options_unavailable(void)
{
    uint64_t bits = 0;
    int i;
    for (i = 0; i < 16; i++)
        bits |= OSSL_OP_MISSING(i);
    return bits;
}

/* The build's lib directory (builder.py defines it for an OPENSSL_DIR build;
 * "" when the compiler's default or pkg-config found OpenSSL). */
#ifndef OSSL_BUILD_LIBDIR
#define OSSL_BUILD_LIBDIR ""
#endif
static const char *ossl_build_libdir(void)
{
    return OSSL_BUILD_LIBDIR;
}

/* The file of the libssl (which 0) or libcrypto (1) this module's calls
 * actually reach: dladdr of the address a symbol resolved to, so a library
 * of the same soname mapped earlier by someone else (the interpreter's _ssl)
 * is seen for what it is. "" if unknown. */
static const char *ossl_loaded_path(int which)
{
    Dl_info info;
    void *sym = which == 0 ? (void *)&SSL_CTX_new : (void *)&ERR_clear_error;
    if (dladdr(sym, &info) == 0 || info.dli_fname == NULL)
        return "";
    return info.dli_fname;
}

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

/* The libssl file an SSL or SSL_CTX was made by: the first of its leading
 * pointer-sized words that points into a mapped libssl (the SSL_METHOD, static
 * data of the libssl that created the object: word 1 of an SSL on 1.1.1/3.0,
 * word 3 from 3.2, word 0 or 2 of an SSL_CTX). "" when none does. Reads only
 * what SSL_get_SSL_CTX would read of a live object; dladdr of any value is safe. */
static const char *ossl_object_libssl(const void *obj)
{
    const void *const *words = (const void *const *)obj;
    Dl_info info;
    int i;
    if (obj == NULL)
        return "";
    for (i = 0; i < 6; i++) {
        if (words[i] != NULL && dladdr(words[i], &info) != 0 && info.dli_fname != NULL
            && strstr(info.dli_fname, "libssl") != NULL)
            return info.dli_fname;
    }
    return "";
}
