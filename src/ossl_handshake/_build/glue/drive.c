/* ---- The C driver (pair.drive's fast path) --------------------------------
 *
 * Alternates SSL_do_handshake on two SSLs, exactly as the Python loop in
 * pair.drive does, and records each step: on one shared BIO pair (direct
 * mode) or each on its own pair with the bytes moved between them after
 * every step (the default path). Resumable: all loop state lives in *d, so
 * the caller can empty a full record buffer or look at a step's error queue
 * and call again. */
#include "../glue.h"
#include <limits.h>
#include <stdlib.h>

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

/* One SSL_do_handshake of side i, captured into *r and recorded into *rec. */
static void ossl_record_step(SSL *ssl, int i, const char *before, ossl_step_rec *rec,
                             ossl_result *r)
{
    ossl_conn_state *st;

    rec->ret = ossl_do_handshake(ssl, r);
    st = ossl_state(ssl);
    rec->side = i;
    rec->err = r->err;
    rec->nerr = r->nerr;
    rec->alert_sent = st != NULL ? st->alert_sent : -1;
    rec->alert_received = st != NULL ? st->alert_received : -1;
    rec->state = SSL_state_string_long(ssl);
    rec->state_before = before;
    rec->sys_errno = r->sys_errno;
    rec->verify = r->verify;
    rec->sent = 0;
}

static int ossl_callback_parked(SSL *ssl)
{
    ossl_conn_state *st = ossl_state(ssl);
    return st != NULL && st->cb_error;
}

/* Make room for need elements of size bytes in *p (capacity *cap); 0: no memory. */
static int ossl_wire_grow(void **p, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap ? *cap : 16;
    void *q;

    if (need <= *cap)
        return 1;
    while (n < need)
        n *= 2;
    q = realloc(*p, n * size);
    if (q == NULL)
        return 0;
    *p = q;
    *cap = n;
    return 1;
}

/* Bytes side i's direction still holds: the partial record and the queue
 * (Wire.in_flight of a plain wire). */
static size_t ossl_wire_in_flight(const ossl_wire_log *w, int i)
{
    return w->d[i].len - w->d[i].delivered;
}

/* Wire.transfer of a plain wire (wire/wire.py), side i sending: take all
 * the sender wrote (BIO_read), log it as a flight, cut it at the end of its
 * whole records (the 2-byte length of each 5-byte header, as
 * tls.records.whole_records; the partial tail waits), and deliver the queue
 * one flight's whole records at a time while the receiver has room (as
 * Wire._deliver: a short BIO_write leaves the rest queued). Returns the
 * bytes delivered, -1 when the log could not grow. */
static long ossl_wire_move(ossl_wire_log *w, int i, BIO *from, BIO *to)
{
    ossl_wire_dir *d = &w->d[i];
    size_t avail = BIO_ctrl_pending(from), j;
    long total = 0;

    if (avail > 0 && avail <= INT_MAX) {
        int got;

        if (!ossl_wire_grow((void **)&d->buf, &d->cap, d->len + avail, 1)
            || !ossl_wire_grow((void **)&w->flights, &w->capflights, w->nflights + 1,
                               sizeof(*w->flights)))
            return -1;
        got = BIO_read(from, d->buf + d->len, (int)avail);
        if (got > 0) {
            size_t pos = d->whole, n;
            ossl_wire_flight *f;

            d->len += (size_t)got;
            n = d->len;
            while (n - pos >= 5) {
                size_t end = pos + 5 + (((size_t)d->buf[pos + 3] << 8) | d->buf[pos + 4]);
                if (end > n)
                    break;
                pos = end;
            }
            d->whole = pos;
            f = &w->flights[w->nflights++];
            f->dir = i;
            f->len = (size_t)got;
            f->whole_end = pos;
        }
    }
    for (j = d->queue; j < w->nflights; j++) {
        const ossl_wire_flight *f = &w->flights[j];
        size_t want, room;
        int put;

        if (f->dir != i || d->delivered >= f->whole_end) {
            if (j == d->queue)
                d->queue = j + 1;
            continue;
        }
        room = (size_t)BIO_ctrl_get_write_guarantee(to);
        want = f->whole_end - d->delivered;
        if (want > room)
            want = room;
        if (want > INT_MAX)
            want = INT_MAX;
        if (want == 0)
            break;
        if (!ossl_wire_grow((void **)&w->dels, &w->capdels, w->ndels + 1, sizeof(*w->dels)))
            return -1;
        put = BIO_write(to, d->buf + d->delivered, (int)want);
        if (put <= 0)
            break;
        w->dels[w->ndels].dir = i;
        w->dels[w->ndels].n = (size_t)put;
        w->ndels++;
        d->delivered += (size_t)put;
        total += put;
        if (d->delivered < f->whole_end)
            break;
        if (j == d->queue)
            d->queue = j + 1;
    }
    return total;
}

static void ossl_wire_log_free(ossl_wire_log *w)
{
    free(w->d[0].buf);
    free(w->d[1].buf);
    free(w->flights);
    free(w->dels);
    memset(w, 0, sizeof(*w));
}

/* The loop of pair.drive over two SSLs. net == NULL: the SSLs share one BIO
 * pair (direct mode). Otherwise net[i] is side i's network BIO and what a
 * step wrote goes to the peer's pair right after it, as the Python loop's
 * transfer_to does. */
static int ossl_drive_loop(SSL *const *ssl, BIO *const *net, ossl_wire_log *w,
                           ossl_drive_state *d, ossl_step_rec *out, int cap, int max_steps,
                           ossl_result *r)
{
    int i;

    d->nrec = 0;
    if (!d->started) {
        memset(d, 0, sizeof(*d));
        d->started = 1;
        d->fin[0] = SSL_is_init_finished(ssl[0]) ? 1 : 0;
        d->fin[1] = SSL_is_init_finished(ssl[1]) ? 1 : 0;
    }
    for (;;) {
        if (d->pos == 0 && d->n >= max_steps)
            return OSSL_DRIVE_BUDGET;
        for (i = d->pos; i < 2; i++) {
            const char *before;
            ossl_step_rec *rec;

            if (d->fin[i]) {
                /* A finished side may still have bytes the wire holds (the
                 * Python loop moves them without a step, counting one). */
                if (w != NULL && ossl_wire_in_flight(w, i) > 0) {
                    long m;

                    d->n++;
                    m = ossl_wire_move(w, i, net[i], net[1 - i]);
                    if (m < 0)
                        return OSSL_DRIVE_NOMEM;
                    if (m > 0)
                        d->progressed = 1;
                }
                continue;
            }
            if (d->nrec >= cap) {
                d->pos = i;
                return OSSL_DRIVE_FULL;
            }
            before = d->prev[i] != NULL ? d->prev[i] : SSL_state_string_long(ssl[i]);
            rec = &out[d->nrec++];
            ossl_record_step(ssl[i], i, before, rec, r);
            d->n++;
            d->prev[i] = rec->state;
            d->pos = i + 1;
            if (ossl_callback_parked(ssl[i]))
                return OSSL_DRIVE_CALLBACK; /* the Python loop's step() raised: nothing moved */
            if (w != NULL) {
                rec->sent = ossl_wire_move(w, i, net[i], net[1 - i]);
                if (rec->sent < 0)
                    return OSSL_DRIVE_NOMEM;
            } else if (net != NULL) {
                rec->sent = ossl_bio_move(net[i], net[1 - i], (size_t)-1);
                if (rec->sent < 0)
                    return OSSL_DRIVE_MOVE;
            }
            if (rec->ret == 1)
                d->fin[i] = d->progressed = 1;
            else if (rec->sent > 0 || strcmp(rec->state, before) != 0
                     || r->err == SSL_ERROR_WANT_ASYNC)
                d->progressed = 1; /* a resumed async job moves on (async) */
            if (rec->ret != 1 && !ossl_retryable(r->err))
                return OSSL_DRIVE_FAILED;
            if (r->err != SSL_ERROR_NONE && r->nerr > 0)
                return OSSL_DRIVE_QUEUE;
        }
        d->pos = 0;
        if (d->fin[0] && d->fin[1])
            return OSSL_DRIVE_DONE;
        if (!d->progressed
            && (w == NULL || ossl_wire_in_flight(w, 0) + ossl_wire_in_flight(w, 1) == 0)) {
            d->idle++;
            if (d->idle >= 2 || SSL_is_init_finished(ssl[0]) || SSL_is_init_finished(ssl[1]))
                return OSSL_DRIVE_STUCK;
        } else {
            d->idle = 0;
        }
        d->progressed = 0;
    }
}

/* Direct mode: both SSLs on one shared BIO pair (join()). */
static int ossl_drive_pair(SSL *client, SSL *server, ossl_drive_state *d,
                           ossl_step_rec *out, int cap, int max_steps, ossl_result *r)
{
    SSL *ssl[2];

    ssl[0] = client;
    ssl[1] = server;
    return ossl_drive_loop(ssl, NULL, NULL, d, out, cap, max_steps, r);
}

/* The default path: each SSL on its own BIO pair (memory_pair()); the bytes
 * move between the pairs in C. */
static int ossl_drive_own_pairs(SSL *client, SSL *server, BIO *client_net, BIO *server_net,
                                ossl_drive_state *d, ossl_step_rec *out, int cap,
                                int max_steps, ossl_result *r)
{
    return ossl_drive_wire(client, server, client_net, server_net, NULL, d, out, cap, max_steps,
                           r);
}

/* The default path with a plain wire (Wire.c_carriable()): as
 * ossl_drive_own_pairs, every move through ossl_wire_move, logged in *w
 * for the wire's backlog (w == NULL: plain moves, ossl_drive_own_pairs).
 * The log lives across calls (FULL, QUEUE). */
static int ossl_drive_wire(SSL *client, SSL *server, BIO *client_net, BIO *server_net,
                           ossl_wire_log *w, ossl_drive_state *d, ossl_step_rec *out, int cap,
                           int max_steps, ossl_result *r)
{
    SSL *ssl[2];
    BIO *net[2];

    ssl[0] = client;
    ssl[1] = server;
    net[0] = client_net;
    net[1] = server_net;
    return ossl_drive_loop(ssl, net, w, d, out, cap, max_steps, r);
}

/* The client's settling peek (see ossl_drive_settle). */
static int ossl_settle_peek(SSL *client, void *one, ossl_result *r)
{
    if (ossl_peek(client, one, 1, r) == 1
        || (r->err == SSL_ERROR_WANT_READ && r->nerr == 0 && !ossl_callback_parked(client)))
        return OSSL_DRIVE_DONE;
    return OSSL_DRIVE_SETTLE;
}

/* ossl_drive_settle with a plain wire: the server's last flight crosses the
 * wire until nothing more moves (drive()'s flush), then the client peeks. */
static int ossl_drive_wire_settle(SSL *client, BIO *server_net, BIO *client_net,
                                  ossl_wire_log *w, void *one, ossl_result *r)
{
    long m;

    do {
        m = ossl_wire_move(w, 1, server_net, client_net);
        if (m < 0)
            return OSSL_DRIVE_NOMEM;
    } while (m > 0);
    return ossl_settle_peek(client, one, r);
}

/* After a drive that ended well: the client takes in what came after its
 * handshake (TLS 1.3 tickets) with one SSL_peek_ex, as process_pending()
 * does; on own pairs the server's last flight is moved to it first. Returns
 * OSSL_DRIVE_DONE when there is nothing to map (data, or WANT_READ with no
 * queue and no parked callback exception), OSSL_DRIVE_SETTLE when Python
 * must map the capture in *r, OSSL_DRIVE_MOVE when the move failed. */
static int ossl_drive_settle(SSL *client, BIO *server_net, BIO *client_net, void *one,
                             ossl_result *r)
{
    if (server_net != NULL && ossl_bio_move(server_net, client_net, (size_t)-1) < 0)
        return OSSL_DRIVE_MOVE;
    return ossl_settle_peek(client, one, r);
}
