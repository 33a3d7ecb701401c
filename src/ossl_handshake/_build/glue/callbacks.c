/* Our ex_data slots, the C info/msg/keylog callbacks (they fill
 * ossl_conn_state without calling Python, and forward to Python on request),
 * and attaching/detaching that state. */
#include "../glue.h"

static int ossl_ssl_idx = -1;
static int ossl_ctx_idx = -1;

static int ossl_init(void)
{
    if (ossl_ssl_idx < 0)
        ossl_ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (ossl_ctx_idx < 0)
        ossl_ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return ossl_ssl_idx >= 0 && ossl_ctx_idx >= 0;
}

static ossl_conn_state *ossl_state(const SSL *ssl)
{
    if (ossl_ssl_idx < 0)
        return NULL;
    return (ossl_conn_state *)SSL_get_ex_data(ssl, ossl_ssl_idx);
}

static void *ossl_ssl_handle(const SSL *ssl)
{
    ossl_conn_state *st = ossl_state(ssl);
    return st ? st->handle : NULL;
}

static void *ossl_ctx_handle(const SSL_CTX *ctx)
{
    if (ossl_ctx_idx < 0)
        return NULL;
    return SSL_CTX_get_ex_data(ctx, ossl_ctx_idx);
}

static int ossl_set_ctx_handle(SSL_CTX *ctx, void *handle)
{
    return SSL_CTX_set_ex_data(ctx, ossl_ctx_idx, handle);
}

/* Python side of the observers, declared extern "Python" in the cdef. */
static void py_info_cb(const SSL *ssl, int where, int ret);
static void py_msg_cb(int write_p, int version, int content_type, const void *buf,
                      size_t len, SSL *ssl, void *arg);
static void py_keylog_cb(const SSL *ssl, const char *line);

static void ossl_info_cb(const SSL *ssl, int where, int ret)
{
    ossl_conn_state *st = ossl_state(ssl);
    if (st == NULL)
        return;
    if (where & SSL_CB_ALERT) {
        if (where & SSL_CB_WRITE) {
            st->alert_sent = ret;
            st->alerts_sent++;
        } else {
            st->alert_received = ret;
            st->alerts_received++;
        }
    }
    if (where & SSL_CB_HANDSHAKE_DONE)
        st->handshake_done = 1;
    if (st->want_info)
        py_info_cb(ssl, where, ret);
}

static const unsigned char ossl_hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

static void ossl_msg_cb(int write_p, int version, int content_type, const void *buf,
                        size_t len, SSL *ssl, void *arg)
{
    ossl_conn_state *st = ossl_state(ssl);
    const unsigned char *p = (const unsigned char *)buf;
    if (st == NULL)
        return;
    /* ServerHello (type 2): 4-byte header, 2-byte legacy_version, 32-byte random. */
    if (content_type == SSL3_RT_HANDSHAKE && len >= 38 && p[0] == 2
            && memcmp(p + 6, ossl_hrr_random, 32) == 0)
        st->hrr = 1;
    /* KeyUpdate (type 24), TLS 1.3 only: counted per direction. */
    if (content_type == SSL3_RT_HANDSHAKE && len >= 4 && p[0] == 24) {
        if (write_p)
            st->key_updates_sent++;
        else
            st->key_updates_received++;
    }
    if (st->want_msg)
        py_msg_cb(write_p, version, content_type, buf, len, ssl, arg);
}

/* Installed on an SSL_CTX the first time a key log is asked of it
 * (set_keylog, or an SNI switch of a connection that logs keys) and never
 * removed, so libssl never reads a callback pointer that another thread is
 * changing to NULL. Not installed before: with a keylog callback, libssl
 * formats every secret as hex text (~100 k instructions per handshake). It
 * calls Python only for a connection whose hooks have a writer (want_keylog,
 * set when the Connection is made), and for an SSL without our state (made
 * by C code: Python falls back to the context's current writer). After an
 * SNI switch libssl calls the new SSL_CTX's callback: this same function. */
static void ossl_keylog_cb(const SSL *ssl, const char *line)
{
    ossl_conn_state *st = ossl_state(ssl);
    if (st != NULL && !st->want_keylog)
        return;
    py_keylog_cb(ssl, line);
}

/* The SSL_CTX's pem_password_cb: hands OpenSSL the password given for this
 * one load (userdata, set only for the duration of ossl_ctx_use_key_file)
 * and, without one, fails at once: OpenSSL's default would prompt on the
 * terminal (PEM_def_callback). */
static int ossl_pem_password_cb(char *buf, int size, int rwflag, void *u)
{
    ossl_password *pw = (ossl_password *)u;
    (void)rwflag;
    if (pw == NULL)
        return -1;
    pw->asked++;
    if (pw->pw == NULL || pw->len < 0)
        return -1;
    if (pw->len > size) {
        pw->too_long = 1;
        return -1;
    }
    memcpy(buf, pw->pw, (size_t)pw->len);
    return pw->len;
}

/* Every SSL_CTX a Context creates: the key log trampoline and the password
 * callback, installed before any connection exists. */
static void ossl_ctx_init(SSL_CTX *ctx)
{
    SSL_CTX_set_default_passwd_cb(ctx, ossl_pem_password_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
}

/* SSL_CTX_use_PrivateKey_file (PEM) with `pw` as the password of this load
 * only; the userdata is NULL again before returning. */
static int ossl_ctx_use_key_file(SSL_CTX *ctx, const char *file, ossl_password *pw)
{
    int ret;
    SSL_CTX_set_default_passwd_cb(ctx, ossl_pem_password_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, pw);
    ret = SSL_CTX_use_PrivateKey_file(ctx, file, SSL_FILETYPE_PEM);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    return ret;
}

/* Attach our state to an SSL and install the C observers. */
static int ossl_attach(SSL *ssl, ossl_conn_state *st)
{
    st->alert_sent = -1;
    st->alert_received = -1;
    if (!SSL_set_ex_data(ssl, ossl_ssl_idx, st))
        return 0;
    SSL_set_info_callback(ssl, ossl_info_cb);
    SSL_set_msg_callback(ssl, ossl_msg_cb);
    return 1;
}

static int ossl_attach_state_only(SSL *ssl, ossl_conn_state *st)
{
    st->alert_sent = -1;
    st->alert_received = -1;
    return SSL_set_ex_data(ssl, ossl_ssl_idx, st);
}

static void ossl_detach(SSL *ssl)
{
    SSL_set_ex_data(ssl, ossl_ssl_idx, NULL);
}

/* Our key log callback on ctx (see ossl_keylog_cb); on an adopted SSL_CTX it
 * replaces the creator's. Nothing removes it once installed (on=0 is a no-op). */
static void ossl_enable_keylog(SSL_CTX *ctx, int on)
{
    if (on && SSL_CTX_get_keylog_callback(ctx) != ossl_keylog_cb)
        SSL_CTX_set_keylog_callback(ctx, ossl_keylog_cb);
}

/* Attach our state to an SSL made by other code (Connection.adopt). Our info
 * callback (alert bookkeeping) goes in only when neither the SSL nor its
 * SSL_CTX has one, so the creator's callback is never replaced. Returns 0 on
 * failure, 1 attached without our info callback, 2 with it. */
static int ossl_attach_adopted(SSL *ssl, ossl_conn_state *st)
{
    st->alert_sent = -1;
    st->alert_received = -1;
    if (!SSL_set_ex_data(ssl, ossl_ssl_idx, st))
        return 0;
    if (SSL_get_info_callback(ssl) == NULL
        && SSL_CTX_get_info_callback(SSL_get_SSL_CTX(ssl)) == NULL) {
        SSL_set_info_callback(ssl, ossl_info_cb);
        return 2;
    }
    return 1;
}
