/* Application data between two connections on their own BIO pairs, in one
 * call (pair.deliver): the bulk path, with no Python between libssl calls. */
#include "../glue.h"

/* One SSL_write_ex of the next record's worth of data (16 KiB at most).
 * After WANT_WRITE the same call is repeated with the same arguments, as
 * SSL_write(3) requires: `sent` only moves on success. */
static int ossl_deliver_write(SSL *src, const unsigned char *data, size_t n, size_t *sent,
                              ossl_result *r)
{
    size_t chunk = n - *sent < OSSL_RECORD_DATA_MAX ? n - *sent : OSSL_RECORD_DATA_MAX;

    if (ossl_write(src, data + *sent, chunk, r) == 1) {
        *sent += r->nbytes;
        return 1;
    }
    return r->err == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/* One SSL_read_ex into the rest of `out`; 1 read, 0 nothing yet, -1 failed. */
static int ossl_deliver_read(SSL *dst, unsigned char *out, size_t n, size_t *got,
                             ossl_result *r)
{
    if (ossl_read(dst, out + *got, n - *got, r) == 1) {
        *got += r->nbytes;
        return 1;
    }
    return r->err == SSL_ERROR_WANT_READ ? 0 : -1;
}

static int ossl_deliver_records(SSL *src, SSL *dst, BIO *src_net, BIO *dst_net,
                                const unsigned char *data, size_t n, unsigned char *out,
                                size_t *got, ossl_result *r)
{
    size_t sent = 0;

    *got = 0;
    while (*got < n) {
        int wrote = 0, read;
        long moved;

        if (sent < n) {
            wrote = ossl_deliver_write(src, data, n, &sent, r);
            if (ossl_callback_parked(src))
                return OSSL_DELIVER_CALLBACK_SRC;
            if (wrote < 0)
                return OSSL_DELIVER_WRITE_FAILED;
        }
        moved = ossl_bio_move(src_net, dst_net, (size_t)-1);
        if (moved < 0)
            return OSSL_DELIVER_MOVE_FAILED;
        read = ossl_deliver_read(dst, out, n, got, r);
        if (ossl_callback_parked(dst))
            return OSSL_DELIVER_CALLBACK_DST;
        if (read < 0)
            return OSSL_DELIVER_READ_FAILED;
        if (!wrote && !moved && !read)
            return OSSL_DELIVER_STUCK;
    }
    return OSSL_DELIVER_DONE;
}

/* The records, with both pairs in reuse while they flow: a drained record's
 * buffer takes the next one (no malloc/free per 16 KiB record) and the pairs'
 * locks are skipped (the caller holds both connections' guards and the pairs
 * are their own: no other thread can reach them). Every buffer left empty is
 * freed before returning, whatever the outcome, so an idle pair still holds
 * none (tests/test_pipe_bio.py). */
static int ossl_deliver(SSL *src, SSL *dst, BIO *src_net, BIO *dst_net,
                        const unsigned char *data, size_t n, unsigned char *out, size_t *got,
                        ossl_result *r)
{
    int code;

    ossl_pipe_reuse(src_net, 1);
    ossl_pipe_reuse(dst_net, 1);
    code = ossl_deliver_records(src, dst, src_net, dst_net, data, n, out, got, r);
    ossl_pipe_reuse(dst_net, 0);
    ossl_pipe_reuse(src_net, 0);
    return code;
}
