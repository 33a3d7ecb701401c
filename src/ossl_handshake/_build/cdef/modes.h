/* SSL_MODE_* bits off again (SSL_CTX_set_mode(3)); the setters are in ctx.h/ssl.h. */

long SSL_CTX_clear_mode(SSL_CTX *ctx, long mode);
long SSL_clear_mode(SSL *ssl, long mode);
