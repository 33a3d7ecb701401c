"""cffi builder for ``ossl_handshake._ossl`` (out-of-line, API mode).

The C surface we bind is declared in ``CDEF`` below, grouped by topic; the C
glue that must run in C (one call per handshake step, the callbacks that need
no Python) lives in ``src/ossl_handshake/_glue.c`` and is compiled in through
``set_source``.

OpenSSL is found in this order:

1. ``OPENSSL_DIR``: headers from ``$OPENSSL_DIR/include``, libraries from
   ``$OPENSSL_DIR/lib`` (or ``lib64``), with an rpath so that this libssl is
   the one loaded at run time;
2. ``pkg-config openssl``;
3. the compiler's default search paths.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
GLUE = HERE / "src" / "ossl_handshake" / "_glue.c"

CDEF_TYPES = """
typedef ... SSL_CTX;
typedef ... SSL;
typedef ... SSL_METHOD;
typedef ... SSL_CIPHER;
typedef ... SSL_SESSION;
typedef ... BIO;
typedef ... BIO_METHOD;
typedef ... X509;
typedef ... X509_NAME;
typedef ... X509_STORE_CTX;
typedef ... EVP_PKEY;
typedef ... OPENSSL_STACK;
typedef ... STACK_OF_X509;
typedef ... SSL_CONF_CTX;
"""

CDEF_CONSTANTS = """
#define SSL_ERROR_NONE ...
#define SSL_ERROR_SSL ...
#define SSL_ERROR_WANT_READ ...
#define SSL_ERROR_WANT_WRITE ...
#define SSL_ERROR_WANT_X509_LOOKUP ...
#define SSL_ERROR_SYSCALL ...
#define SSL_ERROR_ZERO_RETURN ...
#define SSL_ERROR_WANT_CONNECT ...
#define SSL_ERROR_WANT_ACCEPT ...
#define SSL_ERROR_WANT_ASYNC ...
#define SSL_ERROR_WANT_ASYNC_JOB ...
#define SSL_ERROR_WANT_CLIENT_HELLO_CB ...
#define SSL_ERROR_WANT_RETRY_VERIFY ...

#define TLS1_VERSION ...
#define TLS1_1_VERSION ...
#define TLS1_2_VERSION ...
#define TLS1_3_VERSION ...

#define SSL_VERIFY_NONE ...
#define SSL_VERIFY_PEER ...
#define SSL_VERIFY_FAIL_IF_NO_PEER_CERT ...
#define SSL_VERIFY_CLIENT_ONCE ...
#define SSL_VERIFY_POST_HANDSHAKE ...

#define SSL_FILETYPE_PEM ...

#define SSL_OP_ALL ...
#define SSL_OP_NO_TICKET ...
#define SSL_OP_IGNORE_UNEXPECTED_EOF ...
#define SSL_OP_ENABLE_MIDDLEBOX_COMPAT ...
#define SSL_OP_NO_RENEGOTIATION ...
#define SSL_OP_CIPHER_SERVER_PREFERENCE ...
#define SSL_OP_NO_COMPRESSION ...
#define SSL_OP_NO_SSLv3 ...
#define SSL_OP_NO_TLSv1 ...
#define SSL_OP_NO_TLSv1_1 ...
#define SSL_OP_NO_TLSv1_2 ...
#define SSL_OP_NO_TLSv1_3 ...
#define SSL_OP_NO_QUERY_MTU ...
#define SSL_OP_COOKIE_EXCHANGE ...
#define SSL_OP_NO_ENCRYPT_THEN_MAC ...
#define SSL_OP_NO_EXTENDED_MASTER_SECRET ...
#define SSL_OP_NO_ANTI_REPLAY ...
#define SSL_OP_PRIORITIZE_CHACHA ...
#define SSL_OP_ALLOW_NO_DHE_KEX ...
#define SSL_OP_LEGACY_SERVER_CONNECT ...
#define SSL_OP_TLSEXT_PADDING ...
#define SSL_OP_SAFARI_ECDHE_ECDSA_BUG ...
#define SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS ...
#define SSL_OP_ENABLE_KTLS ...
#define SSL_OP_CLEANSE_PLAINTEXT ...
#define SSL_OP_ALLOW_CLIENT_RENEGOTIATION ...
#define SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION ...

#define SSL_MODE_ENABLE_PARTIAL_WRITE ...
#define SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER ...
#define SSL_MODE_AUTO_RETRY ...
#define SSL_MODE_RELEASE_BUFFERS ...

#define SSL_SESS_CACHE_OFF ...
#define SSL_SESS_CACHE_CLIENT ...
#define SSL_SESS_CACHE_SERVER ...
#define SSL_SESS_CACHE_BOTH ...
#define SSL_SESS_CACHE_NO_AUTO_CLEAR ...
#define SSL_SESS_CACHE_NO_INTERNAL ...

#define SSL_SENT_SHUTDOWN ...
#define SSL_RECEIVED_SHUTDOWN ...

#define SSL_CB_LOOP ...
#define SSL_CB_EXIT ...
#define SSL_CB_READ ...
#define SSL_CB_WRITE ...
#define SSL_CB_ALERT ...
#define SSL_CB_READ_ALERT ...
#define SSL_CB_WRITE_ALERT ...
#define SSL_CB_ACCEPT_LOOP ...
#define SSL_CB_ACCEPT_EXIT ...
#define SSL_CB_CONNECT_LOOP ...
#define SSL_CB_CONNECT_EXIT ...
#define SSL_CB_HANDSHAKE_START ...
#define SSL_CB_HANDSHAKE_DONE ...

#define SSL3_RT_CHANGE_CIPHER_SPEC ...
#define SSL3_RT_ALERT ...
#define SSL3_RT_HANDSHAKE ...
#define SSL3_RT_APPLICATION_DATA ...
#define SSL3_RT_HEADER ...
#define SSL3_RT_INNER_CONTENT_TYPE ...

#define SSL_TLSEXT_ERR_OK ...
#define SSL_TLSEXT_ERR_ALERT_WARNING ...
#define SSL_TLSEXT_ERR_ALERT_FATAL ...
#define SSL_TLSEXT_ERR_NOACK ...
#define OPENSSL_NPN_NEGOTIATED ...

#define SSL_KEY_UPDATE_NONE ...
#define SSL_KEY_UPDATE_NOT_REQUESTED ...
#define SSL_KEY_UPDATE_REQUESTED ...

#define X509_V_OK ...
#define X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ...
#define X509_V_ERR_CERT_HAS_EXPIRED ...
#define X509_V_ERR_CERT_NOT_YET_VALID ...
#define X509_V_ERR_HOSTNAME_MISMATCH ...
#define X509_V_ERR_IP_ADDRESS_MISMATCH ...
#define X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ...
#define X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ...
#define X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ...
#define X509_V_ERR_APPLICATION_VERIFICATION ...
#define X509_V_ERR_CERT_REJECTED ...
#define X509_V_ERR_CERT_UNTRUSTED ...
#define X509_V_ERR_INVALID_PURPOSE ...

#define XN_FLAG_RFC2253 ...
#define ERR_TXT_STRING ...
#define OPENSSL_VERSION ...
#define OPENSSL_VERSION_NUMBER ...

/* OSSL_HANDSHAKE_STATE members (SSL_get_state) the Python layer compares with. */
static const int TLS_ST_BEFORE;
static const int TLS_ST_CW_CLNT_HELLO;
static const int TLS_ST_SR_CLNT_HELLO;
"""

CDEF_LIBSSL = """
unsigned long OpenSSL_version_num(void);
const char *OpenSSL_version(int type);

const SSL_METHOD *TLS_method(void);
const SSL_METHOD *TLS_client_method(void);
const SSL_METHOD *TLS_server_method(void);

SSL_CTX *SSL_CTX_new(const SSL_METHOD *method);
void SSL_CTX_free(SSL_CTX *ctx);
int SSL_CTX_up_ref(SSL_CTX *ctx);
int SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
int SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version);
int SSL_CTX_get_min_proto_version(SSL_CTX *ctx);
int SSL_CTX_get_max_proto_version(SSL_CTX *ctx);
int SSL_CTX_use_certificate_chain_file(SSL_CTX *ctx, const char *file);
int SSL_CTX_use_PrivateKey_file(SSL_CTX *ctx, const char *file, int type);
int SSL_CTX_check_private_key(const SSL_CTX *ctx);
int SSL_CTX_load_verify_locations(SSL_CTX *ctx, const char *CAfile, const char *CApath);
int SSL_CTX_set_default_verify_paths(SSL_CTX *ctx);
void SSL_CTX_set_verify(SSL_CTX *ctx, int mode, int (*verify_callback)(int, X509_STORE_CTX *));
void SSL_CTX_set_verify_depth(SSL_CTX *ctx, int depth);
int SSL_CTX_get_verify_mode(const SSL_CTX *ctx);
uint64_t SSL_CTX_set_options(SSL_CTX *ctx, uint64_t options);
uint64_t SSL_CTX_clear_options(SSL_CTX *ctx, uint64_t options);
uint64_t SSL_CTX_get_options(const SSL_CTX *ctx);
long SSL_CTX_set_mode(SSL_CTX *ctx, long mode);
long SSL_CTX_get_mode(SSL_CTX *ctx);
int SSL_CTX_set_cipher_list(SSL_CTX *ctx, const char *str);
int SSL_CTX_set_ciphersuites(SSL_CTX *ctx, const char *str);
int SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list);
int SSL_CTX_set1_sigalgs_list(SSL_CTX *ctx, const char *str);
int SSL_CTX_set1_client_sigalgs_list(SSL_CTX *ctx, const char *str);
void SSL_CTX_set_security_level(SSL_CTX *ctx, int level);
int SSL_CTX_get_security_level(const SSL_CTX *ctx);
int SSL_CTX_set_alpn_protos(SSL_CTX *ctx, const unsigned char *protos, unsigned int protos_len);
void SSL_CTX_set_alpn_select_cb(SSL_CTX *ctx,
    int (*cb)(SSL *ssl, const unsigned char **out, unsigned char *outlen,
              const unsigned char *in, unsigned int inlen, void *arg),
    void *arg);
long SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *));
long SSL_CTX_set_tlsext_servername_arg(SSL_CTX *ctx, void *arg);
long SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode);
long SSL_CTX_get_session_cache_mode(SSL_CTX *ctx);
long SSL_CTX_sess_set_cache_size(SSL_CTX *ctx, long t);
int SSL_CTX_set_num_tickets(SSL_CTX *ctx, size_t num_tickets);
size_t SSL_CTX_get_num_tickets(const SSL_CTX *ctx);
int SSL_CTX_set_session_id_context(SSL_CTX *ctx, const unsigned char *sid_ctx,
                                   unsigned int sid_ctx_len);
void SSL_CTX_sess_set_new_cb(SSL_CTX *ctx, int (*new_session_cb)(SSL *, SSL_SESSION *));
void SSL_CTX_set_client_CA_list(SSL_CTX *ctx, void *list);
void *SSL_load_client_CA_file(const char *file);
void SSL_CTX_set_msg_callback(SSL_CTX *ctx,
    void (*cb)(int write_p, int version, int content_type, const void *buf,
               size_t len, SSL *ssl, void *arg));
void SSL_CTX_set_info_callback(SSL_CTX *ctx, void (*cb)(const SSL *ssl, int type, int val));
int SSL_CTX_set_ex_data(SSL_CTX *ctx, int idx, void *data);
void *SSL_CTX_get_ex_data(const SSL_CTX *ctx, int idx);
long SSL_CTX_set_max_send_fragment(SSL_CTX *ctx, long m);
int SSL_CTX_set_tlsext_max_fragment_length(SSL_CTX *ctx, uint8_t mode);
void SSL_CTX_set_post_handshake_auth(SSL_CTX *ctx, int val);
int SSL_CTX_set1_curves_list(SSL_CTX *ctx, const char *list);
X509 *SSL_CTX_get0_certificate(const SSL_CTX *ctx);

SSL *SSL_new(SSL_CTX *ctx);
void SSL_free(SSL *ssl);
int SSL_up_ref(SSL *s);
SSL_CTX *SSL_get_SSL_CTX(const SSL *ssl);
SSL_CTX *SSL_set_SSL_CTX(SSL *ssl, SSL_CTX *ctx);
void SSL_set_connect_state(SSL *ssl);
void SSL_set_accept_state(SSL *ssl);
int SSL_is_server(const SSL *ssl);
int SSL_do_handshake(SSL *ssl);
int SSL_connect(SSL *ssl);
int SSL_accept(SSL *ssl);
int SSL_get_error(const SSL *ssl, int ret);
int SSL_is_init_finished(const SSL *ssl);
int SSL_in_init(const SSL *ssl);
int SSL_get_state(const SSL *ssl);
const char *SSL_state_string(const SSL *ssl);
const char *SSL_state_string_long(const SSL *ssl);
const char *SSL_alert_type_string(int value);
const char *SSL_alert_type_string_long(int value);
const char *SSL_alert_desc_string(int value);
const char *SSL_alert_desc_string_long(int value);
void SSL_set_bio(SSL *ssl, BIO *rbio, BIO *wbio);
BIO *SSL_get_rbio(const SSL *ssl);
BIO *SSL_get_wbio(const SSL *ssl);
int SSL_set_fd(SSL *ssl, int fd);
int SSL_get_fd(const SSL *ssl);
int SSL_set1_host(SSL *ssl, const char *hostname);
int SSL_add1_host(SSL *ssl, const char *hostname);
void SSL_set_hostflags(SSL *ssl, unsigned int flags);
long SSL_set_tlsext_host_name(SSL *ssl, const char *name);
const char *SSL_get_servername(const SSL *ssl, const int type);
int SSL_get_servername_type(const SSL *ssl);
long SSL_get_verify_result(const SSL *ssl);
void SSL_set_verify_result(SSL *ssl, long v);
void SSL_set_verify(SSL *ssl, int mode, int (*verify_callback)(int, X509_STORE_CTX *));
int SSL_get_verify_mode(const SSL *ssl);
const char *X509_verify_cert_error_string(long n);
const char *SSL_get_version(const SSL *ssl);
int SSL_version(const SSL *ssl);
int SSL_client_version(const SSL *ssl);
const SSL_CIPHER *SSL_get_current_cipher(const SSL *ssl);
const char *SSL_CIPHER_get_name(const SSL_CIPHER *cipher);
const char *SSL_CIPHER_standard_name(const SSL_CIPHER *c);
int SSL_CIPHER_get_bits(const SSL_CIPHER *c, int *alg_bits);
const char *SSL_CIPHER_get_version(const SSL_CIPHER *cipher);
uint32_t SSL_CIPHER_get_id(const SSL_CIPHER *c);
int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes);
int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written);
int SSL_peek_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes);
int SSL_shutdown(SSL *ssl);
int SSL_get_shutdown(const SSL *ssl);
void SSL_set_shutdown(SSL *ssl, int mode);
int SSL_pending(const SSL *ssl);
int SSL_has_pending(const SSL *s);
uint64_t SSL_set_options(SSL *ssl, uint64_t options);
uint64_t SSL_clear_options(SSL *ssl, uint64_t options);
uint64_t SSL_get_options(const SSL *ssl);
long SSL_set_mode(SSL *ssl, long mode);
long SSL_get_mode(SSL *ssl);
int SSL_set_min_proto_version(SSL *ssl, int version);
int SSL_set_max_proto_version(SSL *ssl, int version);
int SSL_set_cipher_list(SSL *ssl, const char *str);
int SSL_set_ciphersuites(SSL *s, const char *str);
int SSL_set1_groups_list(SSL *ssl, const char *list);
int SSL_set_alpn_protos(SSL *ssl, const unsigned char *protos, unsigned int protos_len);
void SSL_get0_alpn_selected(const SSL *ssl, const unsigned char **data, unsigned int *len);
int SSL_select_next_proto(unsigned char **out, unsigned char *outlen,
                          const unsigned char *server, unsigned int server_len,
                          const unsigned char *client, unsigned int client_len);
X509 *SSL_get1_peer_certificate(const SSL *s);
STACK_OF_X509 *SSL_get_peer_cert_chain(const SSL *s);
STACK_OF_X509 *SSL_get0_verified_chain(const SSL *s);
X509 *SSL_get_certificate(const SSL *ssl);
int SSL_get_peer_signature_type_nid(const SSL *s, int *pnid);
int SSL_get_signature_type_nid(const SSL *s, int *pnid);
int SSL_get_peer_signature_nid(SSL *ssl, int *psig_nid);
int SSL_get_signature_nid(SSL *ssl, int *psig_nid);
int SSL_session_reused(const SSL *s);
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
int SSL_set_ex_data(SSL *ssl, int idx, void *data);
void *SSL_get_ex_data(const SSL *ssl, int idx);
int SSL_get_ex_data_X509_STORE_CTX_idx(void);
void SSL_set_msg_callback(SSL *ssl,
    void (*cb)(int write_p, int version, int content_type, const void *buf,
               size_t len, SSL *ssl, void *arg));
void SSL_set_info_callback(SSL *ssl, void (*cb)(const SSL *ssl, int type, int val));
size_t SSL_get_finished(const SSL *s, void *buf, size_t count);
size_t SSL_get_peer_finished(const SSL *s, void *buf, size_t count);
size_t SSL_get_client_random(const SSL *ssl, unsigned char *out, size_t outlen);
size_t SSL_get_server_random(const SSL *ssl, unsigned char *out, size_t outlen);
int SSL_key_update(SSL *s, int updatetype);
int SSL_get_key_update_type(const SSL *s);
int SSL_renegotiate(SSL *s);
int SSL_verify_client_post_handshake(SSL *ssl);
int SSL_use_certificate_chain_file(SSL *ssl, const char *file);
int SSL_use_PrivateKey_file(SSL *ssl, const char *file, int type);
"""

CDEF_BIO = """
int BIO_new_bio_pair(BIO **bio1, size_t writebuf1, BIO **bio2, size_t writebuf2);
int BIO_read(BIO *b, void *data, int dlen);
int BIO_write(BIO *b, const void *data, int dlen);
size_t BIO_ctrl_pending(BIO *b);
size_t BIO_ctrl_wpending(BIO *b);
size_t BIO_ctrl_get_write_guarantee(BIO *b);
size_t BIO_ctrl_get_read_request(BIO *b);
int BIO_shutdown_wr(BIO *b);
int BIO_free(BIO *a);
int BIO_up_ref(BIO *a);
BIO *BIO_new(const BIO_METHOD *type);
const BIO_METHOD *BIO_s_mem(void);
long BIO_get_mem_data(BIO *b, char **pp);
int BIO_eof(BIO *b);
"""

CDEF_ERR = """
unsigned long ERR_get_error(void);
unsigned long ERR_peek_error(void);
unsigned long ERR_peek_last_error(void);
void ERR_clear_error(void);
void ERR_error_string_n(unsigned long e, char *buf, size_t len);
const char *ERR_lib_error_string(unsigned long e);
const char *ERR_reason_error_string(unsigned long e);
int ERR_GET_LIB(unsigned long e);
int ERR_GET_REASON(unsigned long e);
"""

CDEF_X509 = """
int i2d_X509(X509 *x, unsigned char **out);
X509 *d2i_X509(X509 **px, const unsigned char **in, long len);
void X509_free(X509 *a);
X509_NAME *X509_get_subject_name(const X509 *x);
X509_NAME *X509_get_issuer_name(const X509 *x);
int X509_NAME_print_ex(BIO *out, const X509_NAME *nm, int indent, unsigned long flags);
int OPENSSL_sk_num(const OPENSSL_STACK *);
void *OPENSSL_sk_value(const OPENSSL_STACK *, int);
int X509_STORE_CTX_get_error(const X509_STORE_CTX *ctx);
void X509_STORE_CTX_set_error(X509_STORE_CTX *ctx, int s);
int X509_STORE_CTX_get_error_depth(const X509_STORE_CTX *ctx);
X509 *X509_STORE_CTX_get_current_cert(const X509_STORE_CTX *ctx);
void *X509_STORE_CTX_get_ex_data(const X509_STORE_CTX *ctx, int idx);
void CRYPTO_free(void *ptr, const char *file, int line);
const char *OBJ_nid2sn(int n);
const char *OBJ_nid2ln(int n);
"""

CDEF_GLUE = """
#define OSSL_ERRQ_MAX ...
typedef struct {
    unsigned long code;
    int line;
    int flags;
    char file[96];
    char func[64];
    char data[256];
} ossl_err_entry;

typedef struct {
    int ret;
    int err;
    int sys_errno;
    int nerr;
    int dropped;
    size_t nbytes;
    ossl_err_entry entries[];
    ...;
} ossl_result;

typedef struct {
    int alert_sent;
    int alert_received;
    int alerts_sent;
    int alerts_received;
    int hrr;
    int handshake_done;
    int want_info;
    int want_msg;
    void *handle;
    int cb_error;
} ossl_conn_state;

typedef struct {
    int side;
    int ret;
    int err;
    int nerr;
    int alert_sent;
    int alert_received;
    const char *state;
    const char *state_before;
} ossl_step_rec;

typedef struct {
    int started;
    int n;
    int idle;
    int pos;
    int progressed;
    int fin[2];
    int nrec;
    const char *prev[2];
} ossl_drive_state;

typedef struct {
    int finished;
    const char *version;
    const char *cipher;
    int cipher_bits;
    int group_nid;
    char group[64];
    unsigned int alpn_len;
    unsigned char alpn[256];
    int has_server_name;
    char server_name[256];
    int reused;
    int hrr;
    long verify_result;
    const char *peer_sig;
    const char *sig;
    int alert_sent;
    int alert_received;
    X509 *leaf;
    STACK_OF_X509 *chain;
} ossl_snapshot;

#define OSSL_DRIVE_DONE ...
#define OSSL_DRIVE_FAILED ...
#define OSSL_DRIVE_CALLBACK ...
#define OSSL_DRIVE_STUCK ...
#define OSSL_DRIVE_BUDGET ...
#define OSSL_DRIVE_FULL ...
#define OSSL_DRIVE_QUEUE ...

static const int OSSL_BUILD_VERSION_NUMBER;
static const int OSSL_HAVE_NEGOTIATED_GROUP;
static const int OSSL_HAVE_WANT_RETRY_VERIFY;
static const int OSSL_HAVE_IGNORE_UNEXPECTED_EOF;

int ossl_init(void);
int ossl_do_handshake(SSL *ssl, ossl_result *r);
int ossl_read(SSL *ssl, void *buf, size_t num, ossl_result *r);
int ossl_peek(SSL *ssl, void *buf, size_t num, ossl_result *r);
int ossl_write(SSL *ssl, const void *buf, size_t num, ossl_result *r);
int ossl_shutdown(SSL *ssl, ossl_result *r);
int ossl_key_update(SSL *ssl, int updatetype, ossl_result *r);
int ossl_take_errors(ossl_result *r);
ossl_conn_state *ossl_state(const SSL *ssl);
void *ossl_ssl_handle(const SSL *ssl);
void *ossl_ctx_handle(const SSL_CTX *ctx);
int ossl_set_ctx_handle(SSL_CTX *ctx, void *handle);
int ossl_attach(SSL *ssl, ossl_conn_state *st);
int ossl_attach_state_only(SSL *ssl, ossl_conn_state *st);
int ossl_attach_adopted(SSL *ssl, ossl_conn_state *st);
void ossl_detach(SSL *ssl);
void ossl_enable_keylog(SSL_CTX *ctx, int on);
int ossl_get_negotiated_group(SSL *ssl);
const char *ossl_group_name(SSL *ssl, int nid);
int ossl_join(SSL *a, SSL *b, size_t size);
long ossl_bio_move(BIO *from, BIO *to, char *buf, size_t bufsize, size_t max);
STACK_OF_X509 *ossl_peer_chain_ref(const SSL *ssl);
void ossl_chain_free(STACK_OF_X509 *sk);
int ossl_drive_pair(SSL *client, SSL *server, ossl_drive_state *d,
                    ossl_step_rec *out, int cap, int max_steps, ossl_result *r);
ossl_snapshot *ossl_snapshot_new(SSL *ssl);
void ossl_snapshot_free(ossl_snapshot *s);
SSL *ossl_new_ssl(SSL_CTX *ctx, ossl_conn_state *st, int server);
void ossl_close_ssl(SSL *ssl, int mark_shutdown, int free_it);

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
"""

# A typed STACK_OF(X509) is an OPENSSL_STACK underneath; the cdef calls it
# STACK_OF_X509 so that the OPENSSL_sk_* accessors can be used from Python.
SOURCE_PRELUDE = """
#define STACK_OF_X509 STACK_OF(X509)
"""

CDEF = CDEF_TYPES + CDEF_CONSTANTS + CDEF_LIBSSL + CDEF_BIO + CDEF_ERR + CDEF_X509 + CDEF_GLUE


class OpenSSLNotFound(SystemExit):
    pass


def _pkg_config(*args: str) -> list[str] | None:
    exe = shutil.which("pkg-config")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, *args, "openssl"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (subprocess.CalledProcessError, OSError, subprocess.TimeoutExpired):
        return None
    return shlex.split(out)


def find_openssl() -> dict[str, list[str]]:
    """Build keywords (include_dirs, library_dirs, ...) for the chosen OpenSSL."""
    root = os.environ.get("OPENSSL_DIR")
    kw: dict[str, list[str]] = {
        "include_dirs": [],
        "library_dirs": [],
        "libraries": ["ssl", "crypto"],
        "extra_link_args": [],
        "extra_compile_args": [],
    }
    if root:
        base = Path(root)
        kw["include_dirs"].append(str(base / "include"))
        for libdir in (base / "lib64", base / "lib"):
            if libdir.is_dir():
                kw["library_dirs"].append(str(libdir))
                kw["extra_link_args"].append(f"-Wl,-rpath,{libdir}")
        return kw
    cflags = _pkg_config("--cflags")
    libs = _pkg_config("--libs")
    if cflags is not None and libs is not None:
        kw["include_dirs"] += [f[2:] for f in cflags if f.startswith("-I")]
        kw["library_dirs"] += [f[2:] for f in libs if f.startswith("-L")]
        kw["libraries"] = [f[2:] for f in libs if f.startswith("-l")] or kw["libraries"]
    return kw


def check_headers(kw: dict[str, list[str]]) -> None:
    """Fail with one clear message, not a compiler traceback, if ssl.h is missing."""
    where = os.environ.get("OPENSSL_DIR")
    if where and not (Path(where) / "include" / "openssl" / "ssl.h").is_file():
        # Checked directly: the compiler would silently fall back to /usr/include.
        raise OpenSSLNotFound(
            f"ossl-handshake: cannot find <openssl/ssl.h>: OPENSSL_DIR={where} has no "
            "include/openssl/ssl.h (point it at an OpenSSL install prefix)"
        )
    cc = os.environ.get("CC", "cc").split()
    if shutil.which(cc[0]) is None:
        return  # let setuptools report the missing compiler itself
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.c"
        probe.write_text("#include <openssl/ssl.h>\nint main(void) { return 0; }\n")
        cmd = [*cc, "-E", str(probe), *[f"-I{d}" for d in kw["include_dirs"]]]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        where = os.environ.get("OPENSSL_DIR")
        hint = (
            f"OPENSSL_DIR={where} has no include/openssl/ssl.h"
            if where
            else "install the OpenSSL development headers (Debian/Ubuntu: apt-get install "
            "libssl-dev; Fedora/RHEL: dnf install openssl-devel; macOS: brew install openssl@3 "
            "and set OPENSSL_DIR=$(brew --prefix openssl@3)), or set OPENSSL_DIR to an "
            "OpenSSL install prefix"
        )
        raise OpenSSLNotFound(f"ossl-handshake: cannot find <openssl/ssl.h>: {hint}")


_kw = find_openssl()
if "egg_info" not in sys.argv and "sdist" not in sys.argv:
    check_headers(_kw)

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "ossl_handshake._ossl",
    SOURCE_PRELUDE + GLUE.read_text(),
    **_kw,  # type: ignore[arg-type]
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
