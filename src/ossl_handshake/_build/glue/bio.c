/* BIO plumbing for the direct mode and the wire mode. */
#include "../glue.h"

/* Two SSLs on one BIO pair (the direct mode): bytes never enter Python. */
static int ossl_join(SSL *a, SSL *b, size_t size)
{
    BIO *ba = NULL, *bb = NULL;
    if (!ossl_memory_pair(&ba, size, &bb, size))
        return 0;
    SSL_set_bio(a, ba, ba);
    SSL_set_bio(b, bb, bb);
    return 1;
}

/* Move up to max bytes from one BIO pair to another without a round trip
 * through Python objects. Between two of our pipes (glue/pipe.c) whose
 * destination direction is empty, the source's buffer is handed over whole
 * when every pending byte fits: no byte is copied. Otherwise the copy is
 * zero-copy on the source side: BIO_nread0 points into the source pair's own
 * buffer (its contiguous readable part), which BIO_write copies into the
 * destination; BIO_nread then consumes it. The loop ends on the source's
 * empty BIO_nread0, which sets its retry flag and read request as before.
 * Returns bytes moved, -1 if the destination refused. */
static long ossl_bio_move(BIO *from, BIO *to, size_t max)
{
    long moved = (long)ossl_pipe_hand_over(from, to, max);
    while ((size_t)moved < max) {
        char *p = NULL;
        int avail = BIO_nread0(from, &p);
        size_t room = BIO_ctrl_get_write_guarantee(to);
        size_t want;
        int w;
        if (avail <= 0 || room == 0)
            break;
        want = (size_t)avail;
        if (want > room) want = room;
        if (want > max - (size_t)moved) want = max - (size_t)moved;
        w = BIO_write(to, p, (int)want);
        if (w <= 0 || (size_t)w != want)
            return -1;
        BIO_nread(from, &p, w);
        moved += w;
    }
    ossl_pipe_reader_done(from);
    return moved;
}
