/* One call per handshake step, with the error capture.
 *
 * Why C and not Python: docs/architecture.md, rule 5. Between SSL_do_handshake and
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

/* Nested calls. A Python callback that runs inside a libssl call on this
 * thread (on_info reading another connection, a configuration call from a
 * servername callback) makes glue calls of its own. Those must not clear the
 * entries the outer call has queued so far, nor leave theirs behind for it:
 * each sets the outer entries aside, runs on an empty queue, and puts them
 * back. OpenSSL 3 keeps its own copies of the file and function names
 * (ERR_set_debug strdups them and frees them with the entry), so the stash
 * copies them too; 1.1.1 keeps the caller's pointers, which are libssl's
 * literals (OPENSSL_FILE), so there the original pointers go back. */
#define OSSL_STASH_LEVELS 4

typedef struct {
    unsigned long code;
    const char *file_ptr; /* 1.1.1: libssl's literal */
    char file[96];
    char func[64];
    int line;
    int has_data;
    char data[256];
} ossl_stashed;

typedef struct {
    int n;
    ossl_stashed e[OSSL_ERRQ_MAX];
} ossl_stash;

static __thread int ossl_depth;
static __thread ossl_stash ossl_stashes[OSSL_STASH_LEVELS];

static void ossl_stash_save(ossl_stash *s)
{
    unsigned long code;
    const char *file, *func, *data;
    int line, flags;

    s->n = 0;
    for (;;) {
        func = NULL;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
        code = ERR_get_error_all(&file, &line, &func, &data, &flags);
#else
        code = ERR_get_error_line_data(&file, &line, &data, &flags);
#endif
        if (code == 0)
            break;
        if (s->n >= OSSL_ERRQ_MAX)
            continue;
        ossl_stashed *e = &s->e[s->n++];
        e->code = code;
        e->file_ptr = file;
        ossl_copy(e->file, sizeof(e->file), file);
        ossl_copy(e->func, sizeof(e->func), func);
        e->line = line;
        e->has_data = (flags & ERR_TXT_STRING) && data != NULL;
        ossl_copy(e->data, sizeof(e->data), e->has_data ? data : NULL);
    }
}

static void ossl_stash_restore(ossl_stash *s)
{
    int i;

    ERR_clear_error();
    for (i = 0; i < s->n; i++) {
        ossl_stashed *e = &s->e[i];
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
        ERR_new();
        ERR_set_debug(e->file, e->line, e->func[0] ? e->func : NULL);
        if (e->has_data)
            ERR_set_error(ERR_GET_LIB(e->code), ERR_GET_REASON(e->code), "%s", e->data);
        else
            ERR_set_error(ERR_GET_LIB(e->code), ERR_GET_REASON(e->code), NULL);
#else
        ERR_put_error(ERR_GET_LIB(e->code), ERR_GET_FUNC(e->code), ERR_GET_REASON(e->code),
                      e->file_ptr, e->line);
        if (e->has_data)
            ERR_add_error_data(1, e->data);
#endif
    }
    s->n = 0;
}

/* Before a libssl call: an empty queue (the outer one set aside when nested)
 * and errno 0. */
static void ossl_begin(void)
{
    if (ossl_depth > 0 && ossl_depth <= OSSL_STASH_LEVELS)
        ossl_stash_save(&ossl_stashes[ossl_depth - 1]);
    else
        ERR_clear_error();
    ossl_depth++;
    errno = 0;
}

/* After it: ret, SSL_get_error, errno, state, verify result and the queue,
 * before anything else runs; then the outer entries go back. */
static void ossl_end(const SSL *ssl, ossl_result *r, int rv)
{
    r->ret = rv;
    r->sys_errno = errno;
    r->err = SSL_get_error(ssl, rv);
    r->state = SSL_state_string_long(ssl);
    r->verify = SSL_get_verify_result(ssl);
    ossl_capture(r);
    ossl_depth--;
    if (ossl_depth > 0 && ossl_depth <= OSSL_STASH_LEVELS)
        ossl_stash_restore(&ossl_stashes[ossl_depth - 1]);
}

#define OSSL_BEGIN() ossl_begin()
#define OSSL_END(ssl, r, rv) ossl_end((ssl), (r), (rv))

static int ossl_do_handshake(SSL *ssl, ossl_result *r)
{
    int rv;
    OSSL_BEGIN();
    rv = SSL_do_handshake(ssl);
    OSSL_END(ssl, r, rv);
    return rv;
}

/* The _ex-shaped transfers (SSL_read_ex, SSL_peek_ex, SSL_write_ex, and
 * glue/post_handshake.c's SSL_read_early_data, SSL_write_early_data): one
 * capture each way, the byte count into r->nbytes. They return the call's own
 * value; r->ret is what SSL_get_error is asked about: the _ex calls return 1
 * or 0, and SSL_read_early_data's SUCCESS/FINISH (1/2) count as 1 and its
 * ERROR (0) as 0 (SSL_read_early_data(3)). */
typedef int (*ossl_read_fn)(SSL *, void *, size_t, size_t *);
typedef int (*ossl_write_fn)(SSL *, const void *, size_t, size_t *);

static int ossl_read_with(ossl_read_fn fn, SSL *ssl, void *buf, size_t num, ossl_result *r)
{
    int rv;
    size_t got = 0;
    OSSL_BEGIN();
    rv = fn(ssl, buf, num, &got);
    r->nbytes = got;
    OSSL_END(ssl, r, rv != 0);
    return rv;
}

static int ossl_write_with(ossl_write_fn fn, SSL *ssl, const void *buf, size_t num,
                           ossl_result *r)
{
    int rv;
    size_t put = 0;
    OSSL_BEGIN();
    rv = fn(ssl, buf, num, &put);
    r->nbytes = put;
    OSSL_END(ssl, r, rv);
    return rv;
}

static int ossl_read(SSL *ssl, void *buf, size_t num, ossl_result *r)
{
    return ossl_read_with(SSL_read_ex, ssl, buf, num, r);
}

static int ossl_peek(SSL *ssl, void *buf, size_t num, ossl_result *r)
{
    return ossl_read_with(SSL_peek_ex, ssl, buf, num, r);
}

static int ossl_write(SSL *ssl, const void *buf, size_t num, ossl_result *r)
{
    return ossl_write_with(SSL_write_ex, ssl, buf, num, r);
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

/* Around any other call (configuration calls, loaders): clear before, drain
 * after. Called from a callback inside a libssl call, the outer call's
 * entries are set aside by the first and put back by the second. */
static void ossl_clear_errors(void)
{
    if (ossl_depth > 0 && ossl_depth <= OSSL_STASH_LEVELS)
        ossl_stash_save(&ossl_stashes[ossl_depth - 1]);
    else
        ERR_clear_error();
    errno = 0;
}

static int ossl_take_errors(ossl_result *r)
{
    r->sys_errno = errno;
    r->state = NULL;
    r->verify = 0;
    ossl_capture(r);
    if (ossl_depth > 0 && ossl_depth <= OSSL_STASH_LEVELS)
        ossl_stash_restore(&ossl_stashes[ossl_depth - 1]);
    return r->nerr;
}
