/* Python functions the C side calls (cffi extern "Python"). Their C
 * forward declarations are in glue/callbacks.c: this syntax is cffi's, not C. */

extern "Python" void py_info_cb(const SSL *ssl, int where, int ret);
extern "Python" void py_msg_cb(int write_p, int version, int content_type, const void *buf,
                               size_t len, SSL *ssl, void *arg);
extern "Python" void py_keylog_cb(const SSL *ssl, const char *line);
extern "Python" int py_verify_cb(int preverify_ok, X509_STORE_CTX *store);
extern "Python" int py_servername_cb(SSL *ssl, int *alert, void *arg);
extern "Python" int py_alpn_select_cb(SSL *ssl, const unsigned char **out,
                                      unsigned char *outlen, const unsigned char *in,
                                      unsigned int inlen, void *arg);
extern "Python" int py_new_session_cb(SSL *ssl, SSL_SESSION *session);
