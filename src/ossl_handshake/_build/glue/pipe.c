/* Our BIO pair: the semantics of OpenSSL's bio pair (crypto/bio/bss_bio.c,
 * BIO_s_bio(3)) with buffers on demand.
 *
 * BIO_new_bio_pair allocates both directions' ring buffers (17 KiB each by
 * default) up front and keeps them for the pair's life. Here a direction's
 * buffer is allocated by the first write, grows (doubling, up to the
 * direction's limit) as the unread bytes need, and is freed once a reader
 * drains it: an idle pair holds no buffer memory (docs/architecture.md,
 * "Memory transports"). What libssl and our code observe is bss_bio's: the
 * same limits, retry flags, read requests, EOF after BIO_shutdown_wr, write
 * guarantee, non-copying interface and results after one half is freed
 * (tests/test_pipe_bio.py runs every scenario on both kinds).
 *
 * Both halves share one ossl_pipe (glue.h), freed with the second half. A
 * freed half marks the survivor uninitialized, as bss_bio does, so
 * BIO_read/BIO_write/BIO_nread0 on it fail in bio_lib before reaching us,
 * and its ctrls answer from the shared state, which outlives it.
 */
#include <limits.h>
#include <stdint.h>
#include "../glue.h"

/* bss_bio's default buffer size (BIO_new_bio_pair with a size of 0). */
#define OSSL_PIPE_DEFAULT_SIZE (17 * 1024)
/* The smallest buffer a first write allocates (at most the limit). */
#define OSSL_PIPE_MIN_ALLOC 4096

/* Version differences: the error-raising macro changed in 3.0. */
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#define OSSL_PIPE_ERROR(reason) ERR_raise(ERR_LIB_BIO, (reason))
#else
#define OSSL_PIPE_ERROR(reason) BIOerr(BIO_F_BIO_WRITE, (reason))
#endif

/* ---- One direction: a ring of cap bytes, len unread from off ------------- */

static void pipe_dir_free_stale(ossl_pipe_dir *d)
{
    OPENSSL_free(d->stale);
    d->stale = NULL;
    d->stale_cap = 0;
}

/* Drop buf, keeping it alive as `stale` while a reader may still point into it. */
static void pipe_dir_drop_buffer(ossl_pipe_dir *d, int pointed_into)
{
    if (pointed_into) {
        pipe_dir_free_stale(d);
        d->stale = d->buf;
        d->stale_cap = d->cap;
    } else {
        OPENSSL_free(d->buf);
    }
    d->buf = NULL;
    d->lent = NULL;
    d->cap = d->off = d->len = 0;
}

/* Every buffer of the direction, its bytes discarded (the pair is freed). */
static void pipe_dir_release(ossl_pipe_dir *d)
{
    pipe_dir_free_stale(d);
    OPENSSL_free(d->buf);
    d->buf = d->lent = NULL;
    d->cap = d->off = d->len = 0;
    d->writing = 0;
}

/* The unread bytes discarded (BIO_reset, a freed peer); memory a reader or a
 * writer may still point into stays until its next call or the free. */
static void pipe_dir_discard(ossl_pipe_dir *d)
{
    if (d->writing) {
        d->len = d->off = 0;
    } else if (d->buf != NULL) {
        pipe_dir_drop_buffer(d, d->lent == d->buf);
    }
}

/* Room for n more unread bytes; a new buffer holds the old bytes from offset 0. */
static int pipe_dir_reserve(ossl_pipe_dir *d, size_t n)
{
    size_t need = d->len + n, cap = d->cap * 2;
    char *buf;

    if (need <= d->cap)
        return 1;
    if (cap < OSSL_PIPE_MIN_ALLOC)
        cap = OSSL_PIPE_MIN_ALLOC;
    if (cap < need)
        cap = need;
    if (cap > d->size)
        cap = d->size > need ? d->size : need;
    buf = OPENSSL_malloc(cap);
    if (buf == NULL)
        return 0;
    if (d->len > 0) {
        size_t first = d->cap - d->off < d->len ? d->cap - d->off : d->len;
        memcpy(buf, d->buf + d->off, first);
        memcpy(buf + first, d->buf, d->len - first);
    }
    n = d->len;
    pipe_dir_drop_buffer(d, d->lent != NULL && d->lent == d->buf);
    d->buf = buf;
    d->cap = cap;
    d->len = n;
    return 1;
}

/* Copy n bytes in after the unread ones (room was reserved). */
static void pipe_dir_put(ossl_pipe_dir *d, const char *in, size_t n)
{
    size_t at = (d->off + d->len) % d->cap;
    size_t first = d->cap - at < n ? d->cap - at : n;

    memcpy(d->buf + at, in, first);
    memcpy(d->buf, in + first, n - first);
    d->len += n;
}

/* Copy the first n unread bytes out (n <= len). */
static void pipe_dir_get(const ossl_pipe_dir *d, char *out, size_t n)
{
    size_t first = d->cap - d->off < n ? d->cap - d->off : n;

    memcpy(out, d->buf + d->off, first);
    memcpy(out + first, d->buf, n - first);
}

/* n bytes were read. Drained: the buffer goes (kept as stale if `keep_for_reader`:
 * BIO_nread's pointer must stay valid), unless a writer holds an nwrite0 pointer
 * or the pair is in a delivery (`reuse`, ossl_pipe_reuse): then it stays, empty,
 * for the next record. */
static void pipe_dir_consume(ossl_pipe_dir *d, size_t n, int keep_for_reader, int reuse)
{
    d->len -= n;
    d->off = d->len == 0 ? 0 : (d->off + n) % d->cap;
    if (d->len == 0 && !d->writing && !(reuse && !keep_for_reader))
        pipe_dir_drop_buffer(d, keep_for_reader);
}

/* An empty direction gives up its buffer (the end of a delivery). */
static void pipe_dir_drop_empty(ossl_pipe_dir *d)
{
    if (d->buf != NULL && d->len == 0 && !d->writing)
        pipe_dir_drop_buffer(d, d->lent == d->buf);
}

/* ---- The halves: which pipe, which side --------------------------------- */

static int pipe_side(BIO *bio, ossl_pipe *p)
{
    return p->end[0] == bio ? 0 : 1;
}

/* The direction bio writes. */
static ossl_pipe_dir *pipe_out(BIO *bio)
{
    ossl_pipe *p = BIO_get_data(bio);
    return &p->dir[pipe_side(bio, p)];
}

/* The direction bio reads (its peer writes). */
static ossl_pipe_dir *pipe_in(BIO *bio)
{
    ossl_pipe *p = BIO_get_data(bio);
    return &p->dir[1 - pipe_side(bio, p)];
}

static int pipe_has_peer(BIO *bio)
{
    ossl_pipe *p = BIO_get_data(bio);
    return p != NULL && p->end[1 - pipe_side(bio, p)] != NULL;
}

/* ---- The pair's lock ----------------------------------------------------- */

/* Each half is used under its connection's guard, but the two halves of a
 * joined (direct-mode) pair belong to two connections, so two threads may
 * reach one pair at once: every entry point holds the pair's lock. It is a
 * leaf lock (nothing is called with it held), so it cannot deadlock.
 * Except in a delivery (`reuse`, set and cleared by ossl_pipe_reuse under
 * the lock): ossl_deliver runs only on two connections' own pairs (never a
 * joined one) with both guards held, so its thread is the only one that can
 * reach either pair, and the lock would be taken some 20 times per record
 * for nothing (docs/architecture.md, "Memory transports"). */
static ossl_pipe *pipe_lock(BIO *bio)
{
    ossl_pipe *p = BIO_get_data(bio);

    if (p != NULL && !p->reuse)
        CRYPTO_THREAD_write_lock(p->lock);
    return p;
}

static void pipe_unlock(ossl_pipe *p)
{
    if (p != NULL && !p->reuse)
        CRYPTO_THREAD_unlock(p->lock);
}

/* ---- Reading ------------------------------------------------------------ */

/* Nothing to read: EOF once the writer shut down, else retry (bss_bio's request rule). */
static int pipe_read_empty(BIO *bio, ossl_pipe_dir *in, size_t want)
{
    if (in->closed)
        return 0;
    BIO_set_retry_read(bio);
    in->request = want <= in->size ? want : in->size;
    return -1;
}

/* What every read starts with: flags cleared, the request and a stale buffer
 * dropped. NULL for an uninitialized half. */
static ossl_pipe_dir *pipe_reader_begin(BIO *bio)
{
    ossl_pipe_dir *in;

    BIO_clear_retry_flags(bio);
    if (!BIO_get_init(bio))
        return NULL;
    in = pipe_in(bio);
    in->request = 0;
    pipe_dir_free_stale(in);
    return in;
}

static int pipe_read_unlocked(BIO *bio, char *out, int outl)
{
    ossl_pipe_dir *in = pipe_reader_begin(bio);
    size_t n;

    if (in == NULL)
        return 0;
    in->lent = NULL;
    if (out == NULL || outl <= 0)
        return 0;
    if (in->len == 0)
        return pipe_read_empty(bio, in, (size_t)outl);
    n = in->len < (size_t)outl ? in->len : (size_t)outl;
    pipe_dir_get(in, out, n);
    pipe_dir_consume(in, n, 0, ((ossl_pipe *)BIO_get_data(bio))->reuse);
    return (int)n;
}

/* BIO_nread0: the contiguous readable part, in place (no wrap-around). */
static long pipe_nread0(BIO *bio, char **buf)
{
    ossl_pipe_dir *in = pipe_reader_begin(bio);
    size_t n;

    if (in == NULL)
        return 0;
    if (in->len == 0)
        return pipe_read_empty(bio, in, 1);
    n = in->cap - in->off < in->len ? in->cap - in->off : in->len;
    in->lent = in->buf;
    if (buf != NULL)
        *buf = in->buf + in->off;
    return (long)n;
}

/* BIO_nread: BIO_nread0, then up to num of those bytes are consumed. */
static long pipe_nread(BIO *bio, char **buf, size_t num)
{
    long avail = pipe_nread0(bio, buf);

    if (num > LONG_MAX)
        num = LONG_MAX;
    if ((long)num > avail)
        num = avail > 0 ? (size_t)avail : 0;
    if (avail <= 0 || num == 0)
        return avail <= 0 ? avail : 0;
    pipe_dir_consume(pipe_in(bio), num, 1, 0);
    return (long)num;
}

/* ---- Writing ------------------------------------------------------------ */

/* What every write checks first: shut down (an error) or full (retry). */
static int pipe_write_blocked(BIO *bio, ossl_pipe_dir *out)
{
    if (out->closed) {
        OSSL_PIPE_ERROR(BIO_R_BROKEN_PIPE);
        return 1;
    }
    if (out->len == out->size) {
        BIO_set_retry_write(bio);
        return 1;
    }
    return 0;
}

static int pipe_write_unlocked(BIO *bio, const char *data, int inl)
{
    ossl_pipe_dir *out;
    size_t n;

    BIO_clear_retry_flags(bio);
    if (!BIO_get_init(bio) || data == NULL || inl <= 0)
        return 0;
    out = pipe_out(bio);
    out->request = 0;
    out->writing = 0;
    if (pipe_write_blocked(bio, out))
        return -1;
    n = out->size - out->len < (size_t)inl ? out->size - out->len : (size_t)inl;
    if (!pipe_dir_reserve(out, n)) {
        OSSL_PIPE_ERROR(ERR_R_MALLOC_FAILURE);
        return -1;
    }
    pipe_dir_put(out, data, n);
    return (int)n;
}

/* BIO_nwrite0: contiguous room in place; the buffer gets its full size, so
 * the positions are bss_bio's (up to the end of the ring). */
static long pipe_nwrite0(BIO *bio, char **buf)
{
    ossl_pipe_dir *out;
    size_t at, n;

    BIO_clear_retry_flags(bio);
    if (!BIO_get_init(bio))
        return 0;
    out = pipe_out(bio);
    out->request = 0;
    if (pipe_write_blocked(bio, out))
        return -1;
    if (!pipe_dir_reserve(out, out->size - out->len)) {
        OSSL_PIPE_ERROR(ERR_R_MALLOC_FAILURE);
        return -1;
    }
    out->writing = 1;
    at = (out->off + out->len) % out->cap;
    n = out->size - out->len;
    if (at + n > out->cap)
        n = out->cap - at;
    if (buf != NULL)
        *buf = out->buf + at;
    return (long)n;
}

/* BIO_nwrite: BIO_nwrite0, then up to num of those bytes count as written. */
static long pipe_nwrite(BIO *bio, char **buf, size_t num)
{
    long room = pipe_nwrite0(bio, buf);

    if (room <= 0)
        return room;
    if (num > (size_t)room)
        num = (size_t)room;
    pipe_out(bio)->len += num;
    return (long)num;
}

/* ---- Controls ----------------------------------------------------------- */

static long pipe_write_guarantee(BIO *bio)
{
    ossl_pipe_dir *out = pipe_out(bio);
    return !pipe_has_peer(bio) || out->closed ? 0 : (long)(out->size - out->len);
}

static long pipe_eof(BIO *bio)
{
    ossl_pipe_dir *in = pipe_in(bio);
    return !pipe_has_peer(bio) || (in->len == 0 && in->closed);
}

/* Unknown controls return 0, as in bss_bio. */
static long pipe_ctrl_unlocked(BIO *bio, int cmd, long num, void *ptr)
{
    if (BIO_get_data(bio) == NULL)
        return 0;
    switch (cmd) {
    case BIO_C_GET_WRITE_BUF_SIZE:
        return (long)pipe_out(bio)->size;
    case BIO_C_GET_WRITE_GUARANTEE:
        return pipe_write_guarantee(bio);
    case BIO_C_GET_READ_REQUEST:
        return (long)pipe_out(bio)->request;
    case BIO_C_RESET_READ_REQUEST:
        pipe_out(bio)->request = 0;
        return 1;
    case BIO_C_SHUTDOWN_WR:
        pipe_out(bio)->closed = 1;
        return 1;
    case BIO_C_NREAD0:
        return pipe_nread0(bio, ptr);
    case BIO_C_NREAD:
        return pipe_nread(bio, ptr, (size_t)num);
    case BIO_C_NWRITE0:
        return pipe_nwrite0(bio, ptr);
    case BIO_C_NWRITE:
        return pipe_nwrite(bio, ptr, (size_t)num);
    case BIO_CTRL_RESET:
        pipe_dir_discard(pipe_out(bio));
        return 0;
    case BIO_CTRL_GET_CLOSE:
        return BIO_get_shutdown(bio);
    case BIO_CTRL_SET_CLOSE:
        BIO_set_shutdown(bio, (int)num);
        return 1;
    case BIO_CTRL_PENDING:
        return pipe_has_peer(bio) ? (long)pipe_in(bio)->len : 0;
    case BIO_CTRL_WPENDING:
        return (long)pipe_out(bio)->len;
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_EOF:
        return pipe_eof(bio);
    default:
        return 0;
    }
}

/* ---- The method's entry points: each under the pair's lock -------------- */

static int pipe_read(BIO *bio, char *out, int outl)
{
    ossl_pipe *p = pipe_lock(bio);
    int n = pipe_read_unlocked(bio, out, outl);

    pipe_unlock(p);
    return n;
}

static int pipe_write(BIO *bio, const char *data, int inl)
{
    ossl_pipe *p = pipe_lock(bio);
    int n = pipe_write_unlocked(bio, data, inl);

    pipe_unlock(p);
    return n;
}

static long pipe_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    ossl_pipe *p = pipe_lock(bio);
    long ret = pipe_ctrl_unlocked(bio, cmd, num, ptr);

    pipe_unlock(p);
    return ret;
}

/* ---- Lifetime ----------------------------------------------------------- */

/* One half goes: the survivor is uninitialized and every unread byte dropped
 * (bss_bio's bio_destroy_pair); what the freed half wrote goes with it, what
 * the survivor's own pointers may reach goes with the survivor, and the
 * shared state with the second half. */
static int pipe_destroy(BIO *bio)
{
    ossl_pipe *p = BIO_get_data(bio);
    int side, last;

    if (p == NULL)
        return 1;
    CRYPTO_THREAD_write_lock(p->lock);
    side = pipe_side(bio, p);
    p->end[side] = NULL;
    BIO_set_data(bio, NULL);
    BIO_set_init(bio, 0);
    if (p->end[1 - side] != NULL) {
        BIO_set_init(p->end[1 - side], 0);
        pipe_dir_discard(&p->dir[1 - side]);
    }
    pipe_dir_release(&p->dir[side]);
    last = --p->refs == 0;
    if (last)
        pipe_dir_release(&p->dir[1 - side]);
    CRYPTO_THREAD_unlock(p->lock);
    if (last) {
        CRYPTO_THREAD_lock_free(p->lock);
        OPENSSL_free(p);
    }
    return 1;
}

static BIO_METHOD *ossl_pipe_meth;
static int ossl_pipe_type;
static CRYPTO_ONCE ossl_pipe_once = CRYPTO_ONCE_STATIC_INIT;

static void pipe_method_init(void)
{
    int type = BIO_get_new_index();
    BIO_METHOD *m;

    if (type == -1)
        return;
    m = BIO_meth_new(type | BIO_TYPE_SOURCE_SINK, "ossl_handshake pipe");
    if (m == NULL)
        return;
    if (!BIO_meth_set_write(m, pipe_write) || !BIO_meth_set_read(m, pipe_read)
        || !BIO_meth_set_ctrl(m, pipe_ctrl) || !BIO_meth_set_destroy(m, pipe_destroy)) {
        BIO_meth_free(m);
        return;
    }
    ossl_pipe_type = type | BIO_TYPE_SOURCE_SINK;
    ossl_pipe_meth = m;
}

/* The method, made once per process (thread-safe); NULL if it could not be. */
static const BIO_METHOD *ossl_pipe_method(void)
{
    if (!CRYPTO_THREAD_run_once(&ossl_pipe_once, pipe_method_init))
        return NULL;
    return ossl_pipe_meth;
}

/* The one place a memory BIO pair is made (MemoryTransport, join, and the
 * C pair constructor): like BIO_new_bio_pair(a, size_a, b, size_b), size_a
 * bounding what a writes (0: 17 KiB). Returns 1, or 0 with both NULL. */
static int ossl_memory_pair(BIO **a, size_t size_a, BIO **b, size_t size_b)
{
    const BIO_METHOD *m = ossl_pipe_method();
    ossl_pipe *p = NULL;
    BIO *x = NULL, *y = NULL;

    *a = *b = NULL;
    if (m == NULL || (p = OPENSSL_zalloc(sizeof(*p))) == NULL
        || (p->lock = CRYPTO_THREAD_lock_new()) == NULL || (x = BIO_new(m)) == NULL
        || (y = BIO_new(m)) == NULL) {
        BIO_free(x);
        if (p != NULL)
            CRYPTO_THREAD_lock_free(p->lock);
        OPENSSL_free(p);
        return 0;
    }
    p->refs = 2;
    p->end[0] = x;
    p->end[1] = y;
    p->dir[0].size = size_a != 0 ? size_a : OSSL_PIPE_DEFAULT_SIZE;
    p->dir[1].size = size_b != 0 ? size_b : OSSL_PIPE_DEFAULT_SIZE;
    BIO_set_data(x, p);
    BIO_set_data(y, p);
    BIO_set_init(x, 1);
    BIO_set_init(y, 1);
    *a = x;
    *b = y;
    return 1;
}

/* A pipe exists only after the method was made, so its type is set then. */
static int ossl_is_pipe(BIO *bio)
{
    return bio != NULL && ossl_pipe_type != 0 && BIO_method_type(bio) == ossl_pipe_type;
}

/* Bytes of buffer memory both directions of bio's pair hold now (tests). */
static size_t ossl_pipe_allocated(BIO *bio)
{
    ossl_pipe *p;
    size_t total = 0;
    int i;

    if (!ossl_is_pipe(bio) || (p = pipe_lock(bio)) == NULL)
        return 0;
    for (i = 0; i < 2; i++)
        total += p->dir[i].cap + p->dir[i].stale_cap;
    pipe_unlock(p);
    return total;
}

/* ossl_bio_move's fast case: from's whole unread direction becomes to's, a
 * pointer swap instead of a copy, when both are our pipes, to's direction
 * holds nothing (no bytes, and no buffer unless that is an empty one kept by
 * a delivery's reuse), every byte fits to's limit and max, and no writer
 * holds an nwrite pointer into either. The move is from's reader: a
 * BIO_nread0 pointer from before points into bytes now to's (valid memory
 * until to's reader drains them). An empty buffer kept in to's direction
 * goes to from's, so that in a delivery the next record is written into it
 * (two buffers trade places, no malloc per record). Returns bytes handed
 * over, 0 if not taken. */
static size_t pipe_hand_over_unlocked(BIO *from, BIO *to, size_t max)
{
    ossl_pipe_dir *src, *dst;
    char *spare = NULL;
    size_t n, spare_cap = 0;

    if (!BIO_get_init(from) || !BIO_get_init(to))
        return 0;
    src = pipe_in(from);
    dst = pipe_out(to);
    n = src->len;
    if (n == 0 || n > max || n > dst->size || dst->closed || dst->len != 0 || dst->writing
        || (dst->buf != NULL && dst->buf == dst->lent) || dst->stale != NULL || src->writing)
        return 0;
    BIO_clear_retry_flags(from);
    BIO_clear_retry_flags(to);
    src->request = dst->request = 0;
    pipe_dir_free_stale(src);
    if (dst->buf != NULL && ((ossl_pipe *)BIO_get_data(from))->reuse) {
        spare = dst->buf;
        spare_cap = dst->cap;
    } else {
        OPENSSL_free(dst->buf);
    }
    dst->buf = src->buf;
    dst->cap = src->cap;
    dst->off = src->off;
    dst->len = n;
    src->buf = spare;
    src->lent = NULL;
    src->cap = spare_cap;
    src->off = src->len = 0;
    return n;
}

/* The hand-over with both pairs locked, the lower address first (two moves
 * in opposite directions between the same two pairs cannot deadlock). */
static size_t ossl_pipe_hand_over(BIO *from, BIO *to, size_t max)
{
    ossl_pipe *a, *b;
    size_t n;

    if (!ossl_is_pipe(from) || !ossl_is_pipe(to))
        return 0;
    a = BIO_get_data(from);
    b = BIO_get_data(to);
    if (a == NULL || b == NULL)
        return 0;
    if (a == b) {
        pipe_lock(from);
    } else {
        pipe_lock((uintptr_t)a < (uintptr_t)b ? from : to);
        pipe_lock((uintptr_t)a < (uintptr_t)b ? to : from);
    }
    n = pipe_hand_over_unlocked(from, to, max);
    if (a != b)
        pipe_unlock(b);
    pipe_unlock(a);
    return n;
}

/* A reader of from is done with its pointers: free what nread kept for it. */
static void ossl_pipe_reader_done(BIO *from)
{
    ossl_pipe *p;

    if (!ossl_is_pipe(from) || (p = pipe_lock(from)) == NULL)
        return;
    pipe_dir_free_stale(pipe_in(from));
    pipe_in(from)->lent = NULL;
    pipe_unlock(p);
}

/* A delivery (ossl_deliver) sets reuse on both pairs for its records: a drained
 * buffer stays, the hand-over trades it to the writer's side (the C loop with
 * bss_bio reuses its rings the same way), and the entry points skip the lock
 * (see pipe_lock: only for pairs no other thread can reach). Turned off, the
 * pair frees every empty buffer, so an idle pair holds none again. A no-op on
 * other BIOs. */
static void ossl_pipe_reuse(BIO *bio, int on)
{
    ossl_pipe *p;

    if (!ossl_is_pipe(bio) || (p = BIO_get_data(bio)) == NULL)
        return;
    CRYPTO_THREAD_write_lock(p->lock); /* always: pipe_lock skips it once reuse is on */
    p->reuse = on;
    if (!on) {
        pipe_dir_drop_empty(&p->dir[0]);
        pipe_dir_drop_empty(&p->dir[1]);
    }
    CRYPTO_THREAD_unlock(p->lock);
}
