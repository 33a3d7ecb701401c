/* Asynchronous jobs: the async fds and status of an SSL, and the library
 * contexts and providers an async-capable context is made in (OpenSSL 3.0+;
 * 1.1.1 has the ASYNC_* and SSL_*async* calls but no providers: the
 * functions below return NULL/0 there, and OSSL_HAVE_PROVIDERS is 0). */
#include "../glue.h"
#include <openssl/async.h>
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#include <openssl/provider.h>
#endif

#ifndef ASYNC_STATUS_UNSUPPORTED
#define ASYNC_STATUS_UNSUPPORTED 0
#define ASYNC_STATUS_ERR 1
#define ASYNC_STATUS_OK 2
#define ASYNC_STATUS_EAGAIN 3
#endif

static const int OSSL_HAVE_PROVIDERS = (OPENSSL_VERSION_NUMBER >= 0x30000000L);

static int ossl_async_fds(SSL *ssl, int *fds, size_t cap)
{
    size_t n = 0;

    /* The first call fails only when the SSL never ran a job (no wait
     * context yet): no fds. */
    if (!SSL_get_all_async_fds(ssl, NULL, &n))
        return 0;
    if (n > cap)
        return (int)n;
    if (n > 0 && !SSL_get_all_async_fds(ssl, fds, &n))
        return -1;
    return (int)n;
}

static int ossl_async_changed_fds(SSL *ssl, int *add, size_t *nadd, int *del, size_t *ndel,
                                  size_t cap)
{
    *nadd = *ndel = 0;
    if (!SSL_get_changed_async_fds(ssl, NULL, nadd, NULL, ndel))
        return 1; /* no wait context yet: nothing changed */
    if (*nadd > cap || *ndel > cap)
        return -1;
    if ((*nadd > 0 || *ndel > 0) && !SSL_get_changed_async_fds(ssl, add, nadd, del, ndel))
        return 0;
    return 1;
}

static int ossl_async_status(SSL *ssl)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    int status = ASYNC_STATUS_UNSUPPORTED;

    /* It fails only when the SSL never ran a job (no wait context yet). */
    if (!SSL_get_async_status(ssl, &status))
        return ASYNC_STATUS_UNSUPPORTED;
    return status;
#else
    (void)ssl;
    return -1;
#endif
}

static void *ossl_libctx_new(void)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    return OSSL_LIB_CTX_new();
#else
    return NULL;
#endif
}

static int ossl_libctx_search_path(void *libctx, const char *path)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    return OSSL_PROVIDER_set_default_search_path((OSSL_LIB_CTX *)libctx, path);
#else
    (void)libctx;
    (void)path;
    return 0;
#endif
}

static void *ossl_provider_load(void *libctx, const char *name)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    return OSSL_PROVIDER_load((OSSL_LIB_CTX *)libctx, name);
#else
    (void)libctx;
    (void)name;
    return NULL;
#endif
}

static SSL_CTX *ossl_ssl_ctx_new_ex(void *libctx, const char *propq, int server)
{
    const SSL_METHOD *method = server ? TLS_server_method() : TLS_client_method();
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    return SSL_CTX_new_ex((OSSL_LIB_CTX *)libctx, propq, method);
#else
    (void)libctx;
    (void)propq;
    (void)method;
    return NULL;
#endif
}
