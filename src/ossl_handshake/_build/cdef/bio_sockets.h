/* Connect and accept BIOs (BIO_s_connect, BIO_s_accept) on non-blocking sockets;
 * the glue that sets them up is glue/bio_sockets.c. */

#define BIO_RR_CONNECT ...
#define BIO_RR_ACCEPT ...

int BIO_get_retry_reason(BIO *bio);
