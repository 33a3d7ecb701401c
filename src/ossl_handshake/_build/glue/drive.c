/* ---- The direct-mode driver (pair.drive's fast path) ----------------------
 *
 * Alternates SSL_do_handshake on two SSLs joined on one BIO pair, exactly as
 * the Python loop in pair.drive does, and records each step. Resumable: all
 * loop state lives in *d, so the caller can empty a full record buffer or
 * look at a step's error queue and call again. */
#include "../glue.h"

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
            rec->sys_errno = r->sys_errno;
            rec->verify = r->verify;
            d->n++;
            d->prev[i] = rec->state;
            d->pos = i + 1;
            if (st != NULL && st->cb_error)
                return OSSL_DRIVE_CALLBACK;
            if (rv == 1)
                d->fin[i] = d->progressed = 1;
            else if (strcmp(rec->state, before) != 0 || r->err == SSL_ERROR_WANT_ASYNC)
                d->progressed = 1; /* a resumed async job moves on (async) */
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
