/* SSL_SESSION: getting, setting, inspecting and (de)serialising sessions. */

SSL_SESSION *SSL_get1_session(SSL *ssl);
SSL_SESSION *SSL_get_session(const SSL *ssl);
int SSL_set_session(SSL *ssl, SSL_SESSION *session);
void SSL_SESSION_free(SSL_SESSION *session);
int SSL_SESSION_up_ref(SSL_SESSION *ses);
int SSL_SESSION_is_resumable(const SSL_SESSION *s);
long SSL_SESSION_get_time(const SSL_SESSION *s);
long SSL_SESSION_get_timeout(const SSL_SESSION *s);
int SSL_SESSION_get_protocol_version(const SSL_SESSION *s);
const unsigned char *SSL_SESSION_get_id(const SSL_SESSION *s, unsigned int *len);
int SSL_SESSION_has_ticket(const SSL_SESSION *s);
unsigned long SSL_SESSION_get_ticket_lifetime_hint(const SSL_SESSION *s);
int i2d_SSL_SESSION(SSL_SESSION *in, unsigned char **pp);
SSL_SESSION *d2i_SSL_SESSION(SSL_SESSION **a, const unsigned char **pp, long length);
