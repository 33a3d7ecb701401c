/* The C glue's interface: the one definition of its structs, constants and
 * functions.
 *
 * Read twice: every C file in glue/ #includes it, and builder.py feeds it to
 * ffi.cdef after dropping the lines cffi cannot parse (the #include lines
 * and this include guard). So nothing else here may be outside cffi's cdef
 * subset: no #if, no function-like macros, only integer #defines. Anything
 * that depends on the OpenSSL version belongs in glue/compat.c.
 *
 * The functions are static: the files in glue/ form one translation unit
 * with the code cffi generates (see builder.py), which calls them directly.
 */
#ifndef OSSL_HANDSHAKE_GLUE_H
#define OSSL_HANDSHAKE_GLUE_H

#include "glue/openssl.h"

/* ---- Results: one libssl call's outcome (glue/step.c) ------------------- */

#define OSSL_ERRQ_MAX 16

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
    /* Read in the same C call as the libssl call, so nothing touches the SSL
     * after its guard is released: SSL_state_string_long (a string literal of
     * libssl's, valid after SSL_free) and SSL_get_verify_result. */
    const char *state;
    long verify;
    ossl_err_entry entries[OSSL_ERRQ_MAX];
} ossl_result;

/* ---- Per-SSL state the C callbacks fill in without calling Python ------- */

typedef struct {
    int alert_sent;     /* (level << 8) | description of the last alert we sent, -1 none */
    int alert_received; /* same for the last alert the peer sent us, -1 none */
    int alerts_sent;
    int alerts_received;
    int hrr;            /* a HelloRetryRequest crossed the wire */
    int handshake_done;
    int want_info;      /* forward info callbacks to Python */
    int want_msg;       /* forward message callbacks to Python */
    void *handle;       /* ffi.new_handle of a weakref to the Python Connection */
    int cb_error;       /* a Python callback parked an exception (callbacks.park) */
    int want_keylog;    /* the connection's hooks have a key log writer: call Python */
    int key_updates_sent;     /* TLS 1.3 KeyUpdate messages seen by the msg callback */
    int key_updates_received;
} ossl_conn_state;

/* ---- A password for one key load (glue/callbacks.c, ossl_pem_password_cb) */

typedef struct {
    const char *pw;     /* NULL: none was given (the callback fails at once) */
    int len;
    int asked;          /* times OpenSSL asked: the key is encrypted */
    int too_long;       /* the password did not fit OpenSSL's buffer */
} ossl_password;

/* ---- One OCSP response read for one certificate (glue/ocsp.c) ---------- */

typedef struct {
    int response_status;  /* OCSPResponseStatus: 0 successful */
    int nsingle;          /* SingleResponses in it */
    int found;            /* one of them is for the certificate asked about */
    int cert_status;      /* V_OCSP_CERTSTATUS_*, -1 none */
    int reason;           /* CRL reason of a revocation, -1 none */
    int current;          /* OCSP_check_validity: thisUpdate/nextUpdate hold now */
    int signature;        /* OCSP_basic_verify succeeded: 1, failed: 0, not checked: -1 */
    long long this_update; /* seconds since the epoch, -1 none */
    long long next_update;
    long long revoked_at;
} ossl_ocsp_info;

/* ---- The direct-mode driver (glue/drive.c) ------------------------------ */

typedef struct {
    int side;           /* 0 client, 1 server */
    int ret;
    int err;            /* SSL_get_error */
    int nerr;           /* error-queue entries captured (only the last record's are kept) */
    int alert_sent;     /* ossl_conn_state values right after the step */
    int alert_received;
    const char *state;  /* SSL_state_string_long after the step (static strings) */
    const char *state_before;
    int sys_errno;      /* errno right after the step (ossl_result.sys_errno) */
    long verify;        /* SSL_get_verify_result right after the step (ossl_result.verify) */
    long sent;          /* bytes moved to the peer's BIO pair after the step (0 in direct mode) */
} ossl_step_rec;

typedef struct {
    int started;
    int n;              /* steps made (the step budget counter) */
    int idle;           /* rounds in a row without progress */
    int pos;            /* side to step next within the current round */
    int progressed;     /* the current round moved something */
    int fin[2];         /* side finished (a step returned 1, or finished before) */
    int nrec;           /* records written by the last call */
    const char *prev[2]; /* each side's state after its last step; NULL before */
} ossl_drive_state;

#define OSSL_DRIVE_DONE 0      /* both finished */
#define OSSL_DRIVE_FAILED 1    /* the last record failed for good */
#define OSSL_DRIVE_CALLBACK 2  /* a Python callback parked an exception in the last record */
#define OSSL_DRIVE_STUCK 3     /* no progress (the rules of pair.drive) */
#define OSSL_DRIVE_BUDGET 4    /* max_steps reached */
#define OSSL_DRIVE_FULL 5      /* the record buffer is full; call again */
#define OSSL_DRIVE_QUEUE 6     /* a retryable step left an error queue (in *r); call again */
#define OSSL_DRIVE_MOVE 7      /* a peer's BIO pair refused bytes (ossl_bio_move returned -1) */
#define OSSL_DRIVE_SETTLE 8    /* the client's settling peek left a result to map (in *r) */

/* ---- A plain wire carried by the C driver (glue/drive.c, wire/wire.py) ---
 * What the Python Wire.transfer of a FLIGHTS-like wire does, logged so that
 * Python rebuilds the wire's backlog afterwards: every byte each side wrote
 * (its stream), where the whole records end, what was delivered. */
typedef struct {
    unsigned char *buf; /* every byte the sender wrote since the drive began */
    size_t len;
    size_t cap;
    size_t whole;       /* stream offset where the whole records end (the rest: partial) */
    size_t delivered;   /* bytes the receiver took */
    size_t queue;       /* first flight (index in ossl_wire_log.flights) not delivered whole */
} ossl_wire_dir;

typedef struct {
    int dir;            /* 0 client, 1 server */
    size_t len;         /* bytes read in that transfer */
    size_t whole_end;   /* stream offset where whole records end after it */
} ossl_wire_flight;

typedef struct {
    int dir;
    size_t n;           /* bytes one BIO_write gave the receiver */
} ossl_wire_delivery;

typedef struct {
    ossl_wire_dir d[2];
    ossl_wire_flight *flights;
    size_t nflights;
    size_t capflights;
    ossl_wire_delivery *dels;
    size_t ndels;
    size_t capdels;
} ossl_wire_log;

#define OSSL_DRIVE_NOMEM 9     /* the wire log could not grow (malloc failed) */

/* ---- Connection construction in one call (glue/lifecycle.c) ------------- */

/* Which call of ossl_open failed (the error queue says why). */
#define OSSL_OPEN_OK 0
#define OSSL_OPEN_SSL_NEW 1     /* SSL_new or our state (ossl_new_ssl) */
#define OSSL_OPEN_SNI 2         /* SSL_set_tlsext_host_name */
#define OSSL_OPEN_HOST 3        /* SSL_set1_host */
#define OSSL_OPEN_IP 4          /* X509_VERIFY_PARAM_set1_ip_asc */
#define OSSL_OPEN_SESSION 5     /* SSL_set_session */
#define OSSL_OPEN_BIO_PAIR 6    /* the memory BIO pair */

/* What ossl_open made: the SSL and, with a memory transport, our half of its
 * BIO pair (the SSL holds the other). */
typedef struct {
    SSL *ssl;
    BIO *net;
} ossl_opened;

/* ---- Application data between two own BIO pairs (glue/pair.c) ---------- */

#define OSSL_RECORD_DATA_MAX 16384    /* plaintext bytes per TLS record */
#define OSSL_DELIVER_DONE 0
#define OSSL_DELIVER_WRITE_FAILED 1   /* SSL_write_ex on the source failed (in *r) */
#define OSSL_DELIVER_READ_FAILED 2    /* SSL_read_ex on the destination failed (in *r) */
#define OSSL_DELIVER_MOVE_FAILED 3    /* the destination's BIO pair refused bytes */
#define OSSL_DELIVER_STUCK 4          /* nothing written, moved or read in a round */
#define OSSL_DELIVER_CALLBACK_SRC 5   /* a Python callback of the source parked an exception */
#define OSSL_DELIVER_CALLBACK_DST 6   /* same for the destination */

/* ---- One side's negotiated values for SideResult (glue/snapshot.c) ------ */

typedef struct {
    int finished;
    const char *version;      /* static; NULL unless finished */
    const char *cipher;       /* static; NULL without a cipher */
    int cipher_bits;          /* -1 without a cipher */
    int group_nid;            /* 0: none (or no session yet) */
    char group[64];
    unsigned int alpn_len;
    unsigned char alpn[256];
    int has_server_name;
    char server_name[256];
    int reused;
    int hrr;
    long verify_result;
    const char *peer_sig;     /* OBJ_nid2sn of SSL_get_peer_signature_type_nid, NULL if none */
    const char *sig;          /* same for SSL_get_signature_type_nid */
    int alert_sent;
    int alert_received;
    X509 *leaf;               /* SSL_get1_peer_certificate */
    STACK_OF_X509 *chain;     /* X509_chain_up_ref of SSL_get_peer_cert_chain */
    STACK_OF_X509 *verified;  /* X509_chain_up_ref of SSL_get0_verified_chain */
    unsigned char *ocsp;      /* a copy of the stapled OCSP response, NULL if none */
    long ocsp_len;
} ossl_snapshot;

/* ---- Functions ---------------------------------------------------------- */

/* glue/callbacks.c: ex_data indices, handles, attach/detach, keylog */
static int ossl_init(void);
static ossl_conn_state *ossl_state(const SSL *ssl);
static void *ossl_ssl_handle(const SSL *ssl);
static void *ossl_ctx_handle(const SSL_CTX *ctx);
static int ossl_set_ctx_handle(SSL_CTX *ctx, void *handle);
static int ossl_attach(SSL *ssl, ossl_conn_state *st);
static int ossl_attach_state_only(SSL *ssl, ossl_conn_state *st);
static int ossl_attach_adopted(SSL *ssl, ossl_conn_state *st);
static void ossl_detach(SSL *ssl);
static void ossl_enable_keylog(SSL_CTX *ctx, int on);
static void ossl_ctx_init(SSL_CTX *ctx);
static int ossl_ctx_use_key_file(SSL_CTX *ctx, const char *file, ossl_password *pw);

/* glue/step.c: one call per step, the error queue captured into *r */
static int ossl_do_handshake(SSL *ssl, ossl_result *r);
static int ossl_read(SSL *ssl, void *buf, size_t num, ossl_result *r);
static int ossl_peek(SSL *ssl, void *buf, size_t num, ossl_result *r);
static int ossl_write(SSL *ssl, const void *buf, size_t num, ossl_result *r);
static int ossl_shutdown(SSL *ssl, ossl_result *r);
static int ossl_key_update(SSL *ssl, int updatetype, ossl_result *r);
static int ossl_take_errors(ossl_result *r);
static void ossl_clear_errors(void);

/* glue/compat.c: calls whose spelling depends on the OpenSSL version */
static uint64_t ossl_options_unavailable(void);
static const char *ossl_build_libdir(void);
static const char *ossl_loaded_path(int which);
static const char *ossl_object_libssl(const void *obj);
static int ossl_get_negotiated_group(SSL *ssl);
static const char *ossl_group_name(SSL *ssl, int nid);

/* glue/certdata.c: certificates, keys and CRLs from PEM or DER bytes */
static STACK_OF_X509 *ossl_certs_from_data(const unsigned char *data, int len);
static EVP_PKEY *ossl_key_from_data(const unsigned char *data, int len, ossl_password *pw);
static int ossl_store_add_crls(X509_STORE *store, const unsigned char *data, int len);

/* glue/ocsp.c: the stapled response and reading one */
static int ossl_set_ocsp_response(SSL *ssl, const unsigned char *der, int len);
static long ossl_get_ocsp_response(SSL *ssl, const unsigned char **out);
static int ossl_ocsp_inspect(const unsigned char *der, long len, X509 *leaf, X509 *issuer,
                             X509_STORE *store, STACK_OF_X509 *untrusted, long slack,
                             ossl_ocsp_info *out);

/* ---- Our BIO pair with buffers on demand (glue/pipe.c) ------------------ */

/* One direction of a pipe: bytes one half wrote and the other has not read,
 * in a ring of cap bytes (buf NULL while nothing is unread). */
typedef struct {
    char *buf;
    size_t cap;
    size_t off;         /* first unread byte */
    size_t len;         /* unread bytes */
    size_t size;        /* the limit (BIO_get_write_buf_size) */
    size_t request;     /* bytes the reader asked for in vain (BIO_ctrl_get_read_request) */
    int closed;         /* the writer called BIO_shutdown_wr */
    int writing;        /* a writer holds a BIO_nwrite0/BIO_nwrite pointer into buf */
    char *lent;         /* the buffer the last BIO_nread0/BIO_nread pointed into */
    char *stale;        /* a replaced or drained buffer a reader may still point into */
    size_t stale_cap;
} ossl_pipe_dir;

/* The state both halves share, freed with the second: dir[i] is what end[i]
 * writes and end[1 - i] reads; end[i] is NULL once that half was freed. */
typedef struct {
    int refs;
    BIO *end[2];
    ossl_pipe_dir dir[2];
    void *lock; /* CRYPTO_RWLOCK: the halves of a joined pair belong to two connections */
    int reuse;  /* ossl_pipe_reuse: in a delivery (buffers kept, no locking) */
} ossl_pipe;

/* The one place a memory BIO pair is made (BIO_new_bio_pair's arguments). */
static int ossl_memory_pair(BIO **a, size_t size_a, BIO **b, size_t size_b);
static int ossl_is_pipe(BIO *bio);
/* Buffer bytes both directions of bio's pipe hold now (0 when idle). */
static size_t ossl_pipe_allocated(BIO *bio);
/* ossl_bio_move's parts: the buffer handed over whole, a reader's pointers dropped. */
static size_t ossl_pipe_hand_over(BIO *from, BIO *to, size_t max);
static void ossl_pipe_reader_done(BIO *from);
/* A delivery's mode (glue/pair.c): on, drained buffers stay, a hand-over
 * trades them and the pair's lock is skipped; off, every empty buffer of the
 * pair is freed. Only for pairs no other thread can reach. */
static void ossl_pipe_reuse(BIO *bio, int on);

/* glue/bio.c: BIO pairs and moving bytes between BIOs */
static int ossl_join(SSL *a, SSL *b, size_t size);
static long ossl_bio_move(BIO *from, BIO *to, size_t max);

/* glue/drive.c */
/* The one definition of "retry the same call": ErrorCode.retryable is read
 * from it at import. WANT_RETRY_VERIFY is not (CVE-2021-4044). */
static int ossl_retryable(int err);
static int ossl_callback_parked(SSL *ssl);
static int ossl_drive_pair(SSL *client, SSL *server, ossl_drive_state *d,
                           ossl_step_rec *out, int cap, int max_steps, ossl_result *r);
static int ossl_drive_own_pairs(SSL *client, SSL *server, BIO *client_net, BIO *server_net,
                                ossl_drive_state *d, ossl_step_rec *out, int cap,
                                int max_steps, ossl_result *r);
static int ossl_drive_settle(SSL *client, BIO *server_net, BIO *client_net, void *one,
                             ossl_result *r);
/* The default path with a plain wire: each move is logged in *w (see above). */
static int ossl_drive_wire(SSL *client, SSL *server, BIO *client_net, BIO *server_net,
                           ossl_wire_log *w, ossl_drive_state *d, ossl_step_rec *out, int cap,
                           int max_steps, ossl_result *r);
static int ossl_drive_wire_settle(SSL *client, BIO *server_net, BIO *client_net,
                                  ossl_wire_log *w, void *one, ossl_result *r);
static void ossl_wire_log_free(ossl_wire_log *w);

/* glue/pair.c: application data, written by one and read by the other, in one call */
static int ossl_deliver(SSL *src, SSL *dst, BIO *src_net, BIO *dst_net,
                        const unsigned char *data, size_t n, unsigned char *out, size_t *got,
                        ossl_result *r);

/* glue/snapshot.c: snapshots and the peer chains they hold */
static STACK_OF_X509 *ossl_peer_chain_ref(const SSL *ssl);
static void ossl_chain_free(STACK_OF_X509 *sk);
static ossl_snapshot *ossl_snapshot_new(SSL *ssl);
static void ossl_snapshot_free(ossl_snapshot *s);

/* glue/lifecycle.c: Connection construction and close in one call each */
static SSL *ossl_new_ssl(SSL_CTX *ctx, ossl_conn_state *st, int server);
static int ossl_open(SSL_CTX *ctx, ossl_conn_state *st, int server, const char *sni,
                     const char *host, const char *ip, SSL_SESSION *session, long bio_size,
                     ossl_opened *out);
static void ossl_close_ssl(SSL *ssl, int mark_shutdown, int free_it);
static void ossl_observe(SSL *ssl);

/* glue/hello.c: pauses (ClientHello and certificate callbacks, retry verify) */
static int ossl_client_hello_extensions(SSL *s, int *out, size_t cap);
static int ossl_no_password_cb(char *buf, int size, int rwflag, void *u);
static int ossl_load_cert_key(const char *cert, const char *key, X509 **x, EVP_PKEY **k);
static int ossl_set_retry_verify(SSL *ssl);
/* ---- Record protection: TLS 1.3 AEAD and HKDF-Expand (glue/crypto.c) ---- */

/* One AEAD operation: enc 1 seals in[inlen] into out[inlen] and writes the
 * 16-byte tag; enc 0 opens in[inlen] against tag. Returns 1, or 0 on
 * failure (a tag that does not verify). */
static int ossl_aead(const EVP_CIPHER *cipher, int enc, const unsigned char *key,
                     const unsigned char *nonce, size_t noncelen,
                     const unsigned char *aad, size_t aadlen,
                     const unsigned char *in, size_t inlen,
                     unsigned char *out, unsigned char *tag);
/* HKDF-Expand (RFC 5869) through EVP_PKEY_HKDF in expand-only mode. */
static int ossl_hkdf_expand(const EVP_MD *md, const unsigned char *secret, size_t secretlen,
                            const unsigned char *info, size_t infolen,
                            unsigned char *out, size_t outlen);
/* glue/dh.c: DHE parameters of a server context from PEM text */
static int ossl_ctx_set_dh_pem(SSL_CTX *ctx, const char *pem, int len);
/* glue/post_handshake.c: early data, captured like glue/step.c */
static int ossl_write_early_data(SSL *ssl, const void *buf, size_t num, ossl_result *r);
static int ossl_read_early_data(SSL *ssl, void *buf, size_t num, ossl_result *r);

/* glue/psk.c: the SSL_SESSION of a TLS 1.3 external PSK */
static SSL_SESSION *ossl_psk_session(SSL *ssl, const void *md, const unsigned char *key,
                                     size_t keylen, const unsigned char *cipher_id);
/* glue/async.c: async fds and status of an SSL, library contexts, providers */
static int ossl_async_fds(SSL *ssl, int *fds, size_t cap);
static int ossl_async_changed_fds(SSL *ssl, int *add, size_t *nadd, int *del, size_t *ndel,
                                  size_t cap);
static int ossl_async_status(SSL *ssl);
static void *ossl_libctx_new(void);
static int ossl_libctx_search_path(void *libctx, const char *path);
static void *ossl_provider_load(void *libctx, const char *name);
static SSL_CTX *ossl_ssl_ctx_new_ex(void *libctx, const char *propq, int server);

/* glue/bio_sockets.c: connect and accept BIOs on non-blocking sockets */
static BIO *ossl_bio_connect_new(const char *host_port);
static BIO *ossl_bio_accept_new(const char *host_port);
static int ossl_bio_accept_port(BIO *b);
static int ossl_bio_fd(BIO *b);
static int ossl_bio_accepted_fd(BIO *b);

#endif /* OSSL_HANDSHAKE_GLUE_H */
