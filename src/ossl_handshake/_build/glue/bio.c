/* BIO plumbing for the direct mode and the wire mode. */
#include "../glue.h"

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

/* Move up to max bytes from one BIO pair to another without a round trip
 * through Python objects. Zero-copy on the source side: BIO_nread0 points
 * into the source pair's own buffer (its contiguous readable part), which
 * BIO_write copies into the destination; BIO_nread then consumes it.
 * Returns bytes moved, -1 if the destination refused. */
static long ossl_bio_move(BIO *from, BIO *to, size_t max)
{
    long moved = 0;
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
    return moved;
}
