/* C glue compiled into ossl_handshake._ossl (see ossl_build.py).
 *
 * Why C and not Python: DESIGN.md rule 1. Between SSL_do_handshake and
 * SSL_get_error nothing may touch errno or the error queue, and reading them
 * from Python costs several cffi calls per step. One call here clears the
 * queue and errno, makes the libssl call, and captures ret, SSL_get_error,
 * errno and the whole queue into a caller-owned struct.
 */
#include <errno.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define OSSL_ERRQ_MAX 16

typedef struct {
    unsigned long code;
    int line;
    int flags;
    char file[96];
    char func[64];
    char data[256];
} ossl_err_entry;

typedef struct {
    int ret;
    int err;
    int sys_errno;
    int nerr;
    int dropped;
    size_t nbytes;
    ossl_err_entry entries[OSSL_ERRQ_MAX];
} ossl_result;

/* Per-SSL state the C callbacks fill in without calling Python. */
typedef struct {
    int alert_sent;     /* (level << 8) | description of the last alert we sent, -1 none */
    int alert_received; /* same for the last alert the peer sent us, -1 none */
    int alerts_sent;
    int alerts_received;
    int hrr;            /* a HelloRetryRequest crossed the wire */
    int handshake_done;
    int want_info;      /* forward info callbacks to Python */
    int want_msg;       /* forward message callbacks to Python */
    void *handle;       /* ffi.new_handle of a weakref to the Python Connection */
    int cb_error;       /* a Python callback parked an exception (callbacks.park) */
} ossl_conn_state;

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

static int ossl_ssl_idx = -1;
static int ossl_ctx_idx = -1;

static int ossl_init(void)
{
    if (ossl_ssl_idx < 0)
        ossl_ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (ossl_ctx_idx < 0)
        ossl_ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return ossl_ssl_idx >= 0 && ossl_ctx_idx >= 0;
}

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

static ossl_conn_state *ossl_state(const SSL *ssl)
{
    if (ossl_ssl_idx < 0)
        return NULL;
    return (ossl_conn_state *)SSL_get_ex_data(ssl, ossl_ssl_idx);
}

static void *ossl_ssl_handle(const SSL *ssl)
{
    ossl_conn_state *st = ossl_state(ssl);
    return st ? st->handle : NULL;
}

static void *ossl_ctx_handle(const SSL_CTX *ctx)
{
    if (ossl_ctx_idx < 0)
        return NULL;
    return SSL_CTX_get_ex_data(ctx, ossl_ctx_idx);
}

static int ossl_set_ctx_handle(SSL_CTX *ctx, void *handle)
{
    return SSL_CTX_set_ex_data(ctx, ossl_ctx_idx, handle);
}

/* Python side of the observers, declared extern "Python" in the cdef. */
static void py_info_cb(const SSL *ssl, int where, int ret);
static void py_msg_cb(int write_p, int version, int content_type, const void *buf,
                      size_t len, SSL *ssl, void *arg);
static void py_keylog_cb(const SSL *ssl, const char *line);

static void ossl_info_cb(const SSL *ssl, int where, int ret)
{
    ossl_conn_state *st = ossl_state(ssl);
    if (st == NULL)
        return;
    if (where & SSL_CB_ALERT) {
        if (where & SSL_CB_WRITE) {
            st->alert_sent = ret;
            st->alerts_sent++;
        } else {
            st->alert_received = ret;
            st->alerts_received++;
        }
    }
    if (where & SSL_CB_HANDSHAKE_DONE)
        st->handshake_done = 1;
    if (st->want_info)
        py_info_cb(ssl, where, ret);
}

static const unsigned char ossl_hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

static void ossl_msg_cb(int write_p, int version, int content_type, const void *buf,
                        size_t len, SSL *ssl, void *arg)
{
    ossl_conn_state *st = ossl_state(ssl);
    const unsigned char *p = (const unsigned char *)buf;
    if (st == NULL)
        return;
    /* ServerHello (type 2): 4-byte header, 2-byte legacy_version, 32-byte random. */
    if (content_type == SSL3_RT_HANDSHAKE && len >= 38 && p[0] == 2
            && memcmp(p + 6, ossl_hrr_random, 32) == 0)
        st->hrr = 1;
    if (st->want_msg)
        py_msg_cb(write_p, version, content_type, buf, len, ssl, arg);
}

static void ossl_keylog_cb(const SSL *ssl, const char *line)
{
    py_keylog_cb(ssl, line);
}

/* Attach our state to an SSL and install the C observers. */
static int ossl_attach(SSL *ssl, ossl_conn_state *st)
{
    st->alert_sent = -1;
    st->alert_received = -1;
    if (!SSL_set_ex_data(ssl, ossl_ssl_idx, st))
        return 0;
    SSL_set_info_callback(ssl, ossl_info_cb);
    SSL_set_msg_callback(ssl, ossl_msg_cb);
    return 1;
}

static int ossl_attach_state_only(SSL *ssl, ossl_conn_state *st)
{
    st->alert_sent = -1;
    st->alert_received = -1;
    return SSL_set_ex_data(ssl, ossl_ssl_idx, st);
}

static void ossl_detach(SSL *ssl)
{
    SSL_set_ex_data(ssl, ossl_ssl_idx, NULL);
}

static void ossl_enable_keylog(SSL_CTX *ctx, int on)
{
    SSL_CTX_set_keylog_callback(ctx, on ? ossl_keylog_cb : NULL);
}

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

/* Two SSLs on one BIO pair (the direct mode): bytes never enter Python. */
static int ossl_join(SSL *a, SSL *b, size_t size)
{
    BIO *ba = NULL, *bb = NULL;
    if (!BIO_new_bio_pair(&ba, size, &bb, size))
        return 0;
    SSL_set_bio(a, ba, ba);
    SSL_set_bio(b, bb, bb);
    return 1;
}

/* Move up to max bytes from one BIO to another without a round trip through
 * Python objects. Returns bytes moved, -1 if the destination refused. */
static long ossl_bio_move(BIO *from, BIO *to, char *buf, size_t bufsize, size_t max)
{
    long moved = 0;
    while ((size_t)moved < max) {
        size_t want = BIO_ctrl_pending(from);
        size_t room = BIO_ctrl_get_write_guarantee(to);
        if (want == 0 || room == 0)
            break;
        if (want > room) want = room;
        if (want > bufsize) want = bufsize;
        if (want > max - (size_t)moved) want = max - (size_t)moved;
        int n = BIO_read(from, buf, (int)want);
        if (n <= 0)
            break;
        int w = BIO_write(to, buf, n);
        if (w != n)
            return -1;
        moved += n;
    }
    return moved;
}

/* Attach our state to an SSL made by other code (Connection.adopt). Our info
 * callback (alert bookkeeping) goes in only when neither the SSL nor its
 * SSL_CTX has one, so the creator's callback is never replaced. Returns 0 on
 * failure, 1 attached without our info callback, 2 with it. */
static int ossl_attach_adopted(SSL *ssl, ossl_conn_state *st)
{
    st->alert_sent = -1;
    st->alert_received = -1;
    if (!SSL_set_ex_data(ssl, ossl_ssl_idx, st))
        return 0;
    if (SSL_get_info_callback(ssl) == NULL
        && SSL_CTX_get_info_callback(SSL_get_SSL_CTX(ssl)) == NULL) {
        SSL_set_info_callback(ssl, ossl_info_cb);
        return 2;
    }
    return 1;
}

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

/* ---- The direct-mode driver (pair.drive's fast path) ----------------------
 *
 * Alternates SSL_do_handshake on two SSLs joined on one BIO pair, exactly as
 * the Python loop in pair.drive does, and records each step. Resumable: all
 * loop state lives in *d, so the caller can empty a full record buffer or
 * look at a step's error queue and call again. */

typedef struct {
    int side;           /* 0 client, 1 server */
    int ret;
    int err;            /* SSL_get_error */
    int nerr;           /* error-queue entries captured (only the last record's are kept) */
    int alert_sent;     /* ossl_conn_state values right after the step */
    int alert_received;
    const char *state;  /* SSL_state_string_long after the step (static strings) */
    const char *state_before;
} ossl_step_rec;

typedef struct {
    int started;
    int n;              /* steps made (the step budget counter) */
    int idle;           /* rounds in a row without progress */
    int pos;            /* side to step next within the current round */
    int progressed;     /* the current round moved something */
    int fin[2];         /* side finished (a step returned 1, or finished before) */
    int nrec;           /* records written by the last call */
    const char *prev[2]; /* each side's state after its last step; NULL before */
} ossl_drive_state;

#define OSSL_DRIVE_DONE 0      /* both finished */
#define OSSL_DRIVE_FAILED 1    /* the last record failed for good */
#define OSSL_DRIVE_CALLBACK 2  /* a Python callback parked an exception in the last record */
#define OSSL_DRIVE_STUCK 3     /* no progress (the rules of pair.drive) */
#define OSSL_DRIVE_BUDGET 4    /* max_steps reached */
#define OSSL_DRIVE_FULL 5      /* the record buffer is full; call again */
#define OSSL_DRIVE_QUEUE 6     /* a retryable step left an error queue (in *r); call again */

static int ossl_retryable(int err)
{
    switch (err) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
    case SSL_ERROR_WANT_X509_LOOKUP:
    case SSL_ERROR_WANT_CONNECT:
    case SSL_ERROR_WANT_ACCEPT:
    case SSL_ERROR_WANT_ASYNC:
    case SSL_ERROR_WANT_ASYNC_JOB:
    case SSL_ERROR_WANT_CLIENT_HELLO_CB:
        return 1;
    default:
        return 0; /* WANT_RETRY_VERIFY too: unrequested, it is fatal (CVE-2021-4044) */
    }
}

static int ossl_drive_pair(SSL *client, SSL *server, ossl_drive_state *d,
                           ossl_step_rec *out, int cap, int max_steps, ossl_result *r)
{
    SSL *ssl[2];
    int i;

    ssl[0] = client;
    ssl[1] = server;
    d->nrec = 0;
    if (!d->started) {
        memset(d, 0, sizeof(*d));
        d->started = 1;
        d->fin[0] = SSL_is_init_finished(client) ? 1 : 0;
        d->fin[1] = SSL_is_init_finished(server) ? 1 : 0;
    }
    for (;;) {
        if (d->pos == 0 && d->n >= max_steps)
            return OSSL_DRIVE_BUDGET;
        for (i = d->pos; i < 2; i++) {
            const char *before;
            ossl_conn_state *st;
            ossl_step_rec *rec;
            int rv;

            if (d->fin[i])
                continue;
            if (d->nrec >= cap) {
                d->pos = i;
                return OSSL_DRIVE_FULL;
            }
            before = d->prev[i] != NULL ? d->prev[i] : SSL_state_string_long(ssl[i]);
            rv = ossl_do_handshake(ssl[i], r);
            st = ossl_state(ssl[i]);
            rec = &out[d->nrec++];
            rec->side = i;
            rec->ret = rv;
            rec->err = r->err;
            rec->nerr = r->nerr;
            rec->alert_sent = st != NULL ? st->alert_sent : -1;
            rec->alert_received = st != NULL ? st->alert_received : -1;
            rec->state = SSL_state_string_long(ssl[i]);
            rec->state_before = before;
            d->n++;
            d->prev[i] = rec->state;
            d->pos = i + 1;
            if (st != NULL && st->cb_error)
                return OSSL_DRIVE_CALLBACK;
            if (rv == 1)
                d->fin[i] = d->progressed = 1;
            else if (strcmp(rec->state, before) != 0)
                d->progressed = 1;
            if (rv != 1 && !ossl_retryable(r->err))
                return OSSL_DRIVE_FAILED;
            if (r->err != SSL_ERROR_NONE && r->nerr > 0)
                return OSSL_DRIVE_QUEUE;
        }
        d->pos = 0;
        if (d->fin[0] && d->fin[1])
            return OSSL_DRIVE_DONE;
        if (!d->progressed) {
            d->idle++;
            if (d->idle >= 2 || SSL_is_init_finished(client) || SSL_is_init_finished(server))
                return OSSL_DRIVE_STUCK;
        } else {
            d->idle = 0;
        }
        d->progressed = 0;
    }
}

/* One side's negotiated values for SideResult, in one call. Self-contained:
 * names that libssl owns per SSL/SSL_CTX are copied, the rest are libssl's
 * static strings, and the peer's leaf and chain are held by reference, so a
 * result stays valid after its connection is freed (ossl_snapshot_free). */
typedef struct {
    int finished;
    const char *version;      /* static; NULL unless finished */
    const char *cipher;       /* static; NULL without a cipher */
    int cipher_bits;          /* -1 without a cipher */
    int group_nid;            /* 0: none (or no session yet) */
    char group[64];
    unsigned int alpn_len;
    unsigned char alpn[256];
    int has_server_name;
    char server_name[256];
    int reused;
    int hrr;
    long verify_result;
    const char *peer_sig;     /* OBJ_nid2sn of SSL_get_peer_signature_type_nid, NULL if none */
    const char *sig;          /* same for SSL_get_signature_type_nid */
    int alert_sent;
    int alert_received;
    X509 *leaf;               /* SSL_get1_peer_certificate */
    STACK_OF(X509) *chain;    /* X509_chain_up_ref of SSL_get_peer_cert_chain */
} ossl_snapshot;

static void ossl_snapshot_free(ossl_snapshot *s)
{
    if (s == NULL)
        return;
    X509_free(s->leaf);
    if (s->chain != NULL)
        sk_X509_pop_free(s->chain, X509_free);
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
    return s;
}

/* Connection construction in one call: SSL_new, our state and C observers
 * (ossl_attach), SSL_set_connect_state/SSL_set_accept_state. NULL on failure
 * (the error queue says why). */
static SSL *ossl_new_ssl(SSL_CTX *ctx, ossl_conn_state *st, int server)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL)
        return NULL;
    if (!ossl_attach(ssl, st)) {
        SSL_free(ssl);
        return NULL;
    }
    if (server)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    return ssl;
}

/* Connection.close in one call: a finished connection is marked as having
 * sent close_notify (SSL_free would otherwise make its session
 * non-resumable), our state is detached, and the SSL freed if ours. */
static void ossl_close_ssl(SSL *ssl, int mark_shutdown, int free_it)
{
    if (mark_shutdown && SSL_is_init_finished(ssl))
        SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_SENT_SHUTDOWN);
    ossl_detach(ssl);
    if (free_it)
        SSL_free(ssl);
}
