/* Beyond the first handshake: renegotiation (TLS <= 1.2), post-handshake
 * authentication, exporters and channel binding, early data (0-RTT).
 * SSL_total_renegotiations and SSL_get_secure_renegotiation_support are
 * SSL_ctrl macros in C; cffi's API mode compiles the calls. */

int SSL_renegotiate_abbreviated(SSL *s);
int SSL_renegotiate_pending(const SSL *s);
long SSL_total_renegotiations(SSL *s);
long SSL_get_secure_renegotiation_support(SSL *s);
void SSL_set_post_handshake_auth(SSL *s, int val);

int SSL_export_keying_material(SSL *s, unsigned char *out, size_t olen, const char *label,
                               size_t llen, const unsigned char *context, size_t contextlen,
                               int use_context);
size_t SSL_SESSION_get_master_key(const SSL_SESSION *session, unsigned char *out,
                                  size_t outlen);

int SSL_CTX_set_max_early_data(SSL_CTX *ctx, uint32_t max_early_data);
uint32_t SSL_CTX_get_max_early_data(const SSL_CTX *ctx);
int SSL_CTX_set_recv_max_early_data(SSL_CTX *ctx, uint32_t recv_max_early_data);
uint32_t SSL_CTX_get_recv_max_early_data(const SSL_CTX *ctx);
uint32_t SSL_SESSION_get_max_early_data(const SSL_SESSION *s);
int SSL_get_early_data_status(const SSL *s);

#define SSL_EARLY_DATA_NOT_SENT ...
#define SSL_EARLY_DATA_REJECTED ...
#define SSL_EARLY_DATA_ACCEPTED ...
#define SSL_READ_EARLY_DATA_ERROR ...
#define SSL_READ_EARLY_DATA_SUCCESS ...
#define SSL_READ_EARLY_DATA_FINISH ...
