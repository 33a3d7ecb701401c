/* One call per handshake step, with the error capture.
 *
 * Why C and not Python: DESIGN.md rule 1. Between SSL_do_handshake and
 * SSL_get_error nothing may touch errno or the error queue, and reading them
 * from Python costs several cffi calls per step. One call here clears the
 * queue and errno, makes the libssl call, and captures ret, SSL_get_error,
 * errno and the whole queue into a caller-owned struct. */
#include "../glue.h"

static void ossl_copy(char *dst, size_t n, const char *src)
{
    if (src == NULL) {
        dst[0] = '\0';
        return;
    }
    strncpy(dst, src, n - 1);
    dst[n - 1] = '\0';
}

static void ossl_capture(ossl_result *r)
{
    unsigned long code;
    const char *file, *func, *data;
    int line, flags;

    r->nerr = 0;
    r->dropped = 0;
    for (;;) {
        func = NULL;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
        code = ERR_get_error_all(&file, &line, &func, &data, &flags);
#else
        code = ERR_get_error_line_data(&file, &line, &data, &flags);
#endif
        if (code == 0)
            break;
        if (r->nerr >= OSSL_ERRQ_MAX) {
            r->dropped++;
            continue;
        }
        ossl_err_entry *e = &r->entries[r->nerr++];
        e->code = code;
        e->line = line;
        e->flags = flags;
        ossl_copy(e->file, sizeof(e->file), file);
        ossl_copy(e->func, sizeof(e->func), func);
        ossl_copy(e->data, sizeof(e->data), (flags & ERR_TXT_STRING) ? data : NULL);
    }
}

#define OSSL_BEGIN() do { ERR_clear_error(); errno = 0; } while (0)
#define OSSL_END(ssl, r, rv) do { \
        (r)->ret = (rv); \
        (r)->sys_errno = errno; \
        (r)->err = SSL_get_error((ssl), (rv)); \
        ossl_capture(r); \
    } while (0)

static int ossl_do_handshake(SSL *ssl, ossl_result *r)
{
    int rv;
    OSSL_BEGIN();
    rv = SSL_do_handshake(ssl);
    OSSL_END(ssl, r, rv);
    return rv;
}

static int ossl_read(SSL *ssl, void *buf, size_t num, ossl_result *r)
{
    int rv;
    size_t got = 0;
    OSSL_BEGIN();
    rv = SSL_read_ex(ssl, buf, num, &got);
    r->nbytes = got;
    OSSL_END(ssl, r, rv);
    return rv;
}

static int ossl_peek(SSL *ssl, void *buf, size_t num, ossl_result *r)
{
    int rv;
    size_t got = 0;
    OSSL_BEGIN();
    rv = SSL_peek_ex(ssl, buf, num, &got);
    r->nbytes = got;
    OSSL_END(ssl, r, rv);
    return rv;
}

static int ossl_write(SSL *ssl, const void *buf, size_t num, ossl_result *r)
{
    int rv;
    size_t put = 0;
    OSSL_BEGIN();
    rv = SSL_write_ex(ssl, buf, num, &put);
    r->nbytes = put;
    OSSL_END(ssl, r, rv);
    return rv;
}

static int ossl_shutdown(SSL *ssl, ossl_result *r)
{
    int rv;
    OSSL_BEGIN();
    rv = SSL_shutdown(ssl);
    OSSL_END(ssl, r, rv);
    return rv;
}

static int ossl_key_update(SSL *ssl, int updatetype, ossl_result *r)
{
    int rv;
    OSSL_BEGIN();
    rv = SSL_key_update(ssl, updatetype);
    OSSL_END(ssl, r, rv);
    return rv;
}

/* Drain the queue after any other call (configuration calls, loaders). */
static int ossl_take_errors(ossl_result *r)
{
    r->sys_errno = errno;
    ossl_capture(r);
    return r->nerr;
}
