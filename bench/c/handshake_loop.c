/*
 * handshake_loop: the pure-C reference for the benchmarks.
 *
 * Runs in-memory TLS handshakes the way a Python driver of ossl_handshake
 * does, minus Python: one client and one server SSL_CTX built once and shared;
 * per handshake two SSL_new, one BIO pair (client gets one half, server the
 * other), connect/accept state, then SSL_do_handshake alternately on the
 * client and the server (each call preceded by ERR_clear_error() and
 * errno = 0, followed by SSL_get_error(), like the binding's C helper) until
 * both return 1, then SSL_free both. A pair is stuck (exit 2) when a full
 * round moves no bytes. When one side is done and the other is blocked
 * writing into a full pair (only with a small --bio-size: TLS 1.3 session
 * tickets the client never reads), the done side does one SSL_read.
 *
 * Usage: handshake_loop --cert F --key F [options]
 *   --cafile F            trust anchors for --verify / --mtls
 *   --verify              client verifies the server (SSL_VERIFY_PEER,
 *                         SSL_set1_host "localhost")
 *   --sni NAME            client sends SNI NAME
 *   --mtls                server requires a client certificate
 *                         (--client-cert F --client-key F, verified with --cafile)
 *   --tls 1.2|1.3         pin both sides to that version (default: negotiate)
 *   --resume              the client keeps the session of its first handshake
 *                         (SSL_get1_session; for TLS 1.3 after one SSL_read that
 *                         takes in the NewSessionTickets) and SSL_set_session()s
 *                         it on every later one; clients are marked
 *                         SSL_SENT_SHUTDOWN before SSL_free so the session stays
 *                         resumable; a handshake that does not resume fails
 *   --release-buffers     SSL_MODE_RELEASE_BUFFERS on both contexts
 *   --settle              after each handshake the client peeks once
 *                         (SSL_peek_ex, 1 byte, WANT_READ expected), which takes
 *                         in the TLS 1.3 session tickets: what the binding's
 *                         handshake() does by default (settle=True)
 *   --bio-size N          BIO_new_bio_pair buffer size (0 = OpenSSL's 17 KiB)
 *   --count N             handshakes in total (default 1000 without --seconds)
 *   --seconds S           run until S seconds have passed (and --count, if given)
 *   --threads T           T threads, each with its own pairs; contexts shared;
 *                         --count is split between them
 *   --bulk MB             instead of a handshake loop: one handshake, then
 *                         MB MiB client->server in 16 KiB SSL_write chunks,
 *                         drained with SSL_read (per thread)
 *   --hold N              memory mode: after one warm-up handshake, keep N
 *                         handshaken pairs alive and report the VmRSS delta
 *                         (and OpenSSL's live heap delta) per pair
 *
 * Output: one JSON line on stdout, e.g.
 *   {"variant":"c","handshakes":1000,"seconds":1.9,"per_second":520.1,
 *    "openssl":"OpenSSL 3.0.19 27 Jan 2026","resumed":0,...}
 * Exit status: 0 success, 1 usage/setup error, 2 handshake or transfer
 * failure (the error queue goes to stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../tests/c/verify_host.h"

#define EXIT_SETUP 1
#define EXIT_FAIL 2
#define BULK_CHUNK 16384
#define MAX_ROUNDS 1000000L /* a safety net; the stuck rule ends a dead pair */

static struct {
    const char *cert, *key, *cafile, *client_cert, *client_key, *sni;
    int verify, mtls, tls_version, resume, release_buffers, settle, threads;
    long bio_size, count, hold;
    double seconds, bulk_mb;
} opt = {.threads = 1, .count = -1};

static SSL_CTX *client_ctx, *server_ctx;
static int stop_all; /* set (atomically) by the first failing thread */

struct worker {
    pthread_t tid;
    int started;
    long target;          /* handshakes to do; -1 = until the deadline */
    long done, resumed;
    int failed;
    char version[32], cipher[64];
    double bulk_seconds;  /* bulk mode: time spent in the transfer */
    unsigned long long bulk_bytes;
};

/* ---- OpenSSL heap accounting (--hold only) ------------------------------ */

static long long heap_live; /* bytes OpenSSL has allocated and not freed */
#define HDR 16              /* keeps malloc's 16-byte alignment */

static void *count_malloc(size_t n, const char *file, int line)
{
    unsigned char *p = malloc(n + HDR);

    (void)file;
    (void)line;
    if (p == NULL)
        return NULL;
    memcpy(p, &n, sizeof(n));
    __atomic_add_fetch(&heap_live, (long long)n, __ATOMIC_RELAXED);
    return p + HDR;
}

static void count_free(void *ptr, const char *file, int line)
{
    unsigned char *p;
    size_t n;

    (void)file;
    (void)line;
    if (ptr == NULL)
        return;
    p = (unsigned char *)ptr - HDR;
    memcpy(&n, p, sizeof(n));
    __atomic_sub_fetch(&heap_live, (long long)n, __ATOMIC_RELAXED);
    free(p);
}

static void *count_realloc(void *ptr, size_t n, const char *file, int line)
{
    unsigned char *p, *q;
    size_t old;

    if (ptr == NULL)
        return count_malloc(n, file, line);
    if (n == 0) {
        count_free(ptr, file, line);
        return NULL;
    }
    p = (unsigned char *)ptr - HDR;
    memcpy(&old, p, sizeof(old));
    q = realloc(p, n + HDR);
    if (q == NULL)
        return NULL;
    memcpy(q, &n, sizeof(n));
    __atomic_add_fetch(&heap_live, (long long)n - (long long)old, __ATOMIC_RELAXED);
    return q + HDR;
}

static long vm_rss_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* ---- helpers ------------------------------------------------------------- */

static double now(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: handshake_loop --cert F --key F [--cafile F] [--verify] [--sni NAME]\n"
            "         [--mtls --client-cert F --client-key F] [--tls 1.2|1.3] [--resume]\n"
            "         [--release-buffers] [--settle] [--bio-size N] [--count N] [--seconds S]\n"
            "         [--threads T] [--bulk MB] [--hold N]\n");
}

static void fail(const char *what)
{
    fprintf(stderr, "handshake_loop: %s\n", what);
    ERR_print_errors_fp(stderr);
    fflush(stderr);
    __atomic_store_n(&stop_all, 1, __ATOMIC_SEQ_CST);
}

static SSL_CTX *make_ctx(int is_server)
{
    SSL_CTX *ctx = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
    const char *cert = is_server ? opt.cert : opt.client_cert;
    const char *key = is_server ? opt.key : opt.client_key;
    int need_ca = is_server ? opt.mtls : opt.verify;

    if (ctx == NULL)
        return NULL;
    if ((cert != NULL && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        || (key != NULL && SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        || (cert != NULL && SSL_CTX_check_private_key(ctx) != 1)
        || (need_ca && SSL_CTX_load_verify_locations(ctx, opt.cafile, NULL) != 1)
        || (opt.tls_version && (SSL_CTX_set_min_proto_version(ctx, opt.tls_version) != 1
                                || SSL_CTX_set_max_proto_version(ctx, opt.tls_version) != 1))) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (need_ca)
        SSL_CTX_set_verify(ctx,
                           SSL_VERIFY_PEER | (is_server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    if (is_server) {
        static const unsigned char sid_ctx[] = "handshake_loop";

        if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1) {
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    if (opt.release_buffers)
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

/* ---- one connection pair ------------------------------------------------- */

/* Two SSLs joined by one BIO pair. Returns 0, or -1 after fail(). */
static int pair_new(SSL **cp, SSL **sp, SSL_SESSION *session)
{
    SSL *c = SSL_new(client_ctx), *s = SSL_new(server_ctx);
    BIO *cb = NULL, *sb = NULL;

    if (c == NULL || s == NULL
        || BIO_new_bio_pair(&cb, (size_t)opt.bio_size, &sb, (size_t)opt.bio_size) != 1)
        goto err;
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    if ((opt.verify && set1_verify_host(c, "localhost") != 1)
        || (opt.sni != NULL && SSL_set_tlsext_host_name(c, opt.sni) != 1)
        || (session != NULL && SSL_set_session(c, session) != 1))
        goto err;
    *cp = c;
    *sp = s;
    return 0;

err:
    fail("cannot create a connection pair");
    SSL_free(c);
    SSL_free(s);
    return -1;
}

static void pair_free(SSL *c, SSL *s)
{
    if (opt.resume) /* SSL_free on a client that never shut down spoils the session */
        SSL_set_shutdown(c, SSL_SENT_SHUTDOWN);
    SSL_free(c);
    SSL_free(s);
}

/* One SSL_do_handshake call. Returns 1 finished, 0 wants to read, 2 wants to
 * write (its half of the pair is full), -1 failed. */
static int step(SSL *ssl, const char *who)
{
    int ret, err;

    ERR_clear_error();
    errno = 0;
    ret = SSL_do_handshake(ssl);
    if (ret == 1)
        return 1;
    err = SSL_get_error(ssl, ret);
    if (err == SSL_ERROR_WANT_READ)
        return 0;
    if (err == SSL_ERROR_WANT_WRITE)
        return 2;
    fprintf(stderr, "handshake_loop: %s SSL_do_handshake ret=%d SSL_get_error=%d (%s)\n", who,
            ret, err, SSL_state_string_long(ssl));
    return -1;
}

/* A finished side takes in what its peer is blocked writing (with a small
 * --bio-size: TLS 1.3 session tickets) by one SSL_read. Returns 0 or -1. */
static int drain(SSL *ssl, const char *who)
{
    char byte;
    int ret;

    ERR_clear_error();
    errno = 0;
    ret = SSL_read(ssl, &byte, 1);
    if (ret <= 0 && SSL_get_error(ssl, ret) == SSL_ERROR_WANT_READ)
        return 0;
    fprintf(stderr, "handshake_loop: %s SSL_read after its handshake: ret=%d\n", who, ret);
    return -1;
}

/* The client takes in what arrived after its handshake (TLS 1.3 tickets) as
 * handshake(settle=True) does: one SSL_peek_ex that must end in WANT_READ. */
static int settle(SSL *c)
{
    char byte;
    size_t got = 0;
    int ret;

    ERR_clear_error();
    errno = 0;
    ret = SSL_peek_ex(c, &byte, 1, &got);
    if (ret != 1 && SSL_get_error(c, ret) == SSL_ERROR_WANT_READ)
        return 0;
    fprintf(stderr, "handshake_loop: client SSL_peek_ex after its handshake: ret=%d\n", ret);
    return -1;
}

static uint64_t bytes_moved(BIO *cb, BIO *sb)
{
    return BIO_number_read(cb) + BIO_number_written(cb) + BIO_number_read(sb)
           + BIO_number_written(sb);
}

/* Alternate client and server until both are done; the pair is stuck when a
 * full round moves no bytes. Returns 0, or -1 after fail(). */
static int drive(SSL *c, SSL *s)
{
    int cstate = 0, sstate = 0; /* step() results; 1 = done */
    long round;
    BIO *cb = SSL_get_rbio(c), *sb = SSL_get_rbio(s);

    for (round = 0; round < MAX_ROUNDS; round++) {
        uint64_t before = bytes_moved(cb, sb);

        if (cstate != 1) {
            if ((cstate = step(c, "client")) < 0)
                goto err;
        } else if (sstate == 2 && drain(c, "client") != 0) {
            goto err;
        }
        if (sstate != 1) {
            if ((sstate = step(s, "server")) < 0)
                goto err;
        } else if (cstate == 2 && drain(s, "server") != 0) {
            goto err;
        }
        if (cstate == 1 && sstate == 1) {
            if (opt.settle && settle(c) != 0)
                goto err;
            return 0;
        }
        if (bytes_moved(cb, sb) == before) {
            fail("handshake stuck: a full round moved no bytes");
            return -1;
        }
    }
    fail("handshake did not finish");
    return -1;

err:
    fail("handshake failed");
    return -1;
}

static void note_result(struct worker *w, SSL *c)
{
    if (w->version[0] == '\0') {
        snprintf(w->version, sizeof(w->version), "%s", SSL_get_version(c));
        snprintf(w->cipher, sizeof(w->cipher), "%s", SSL_get_cipher_name(c));
    }
}

/* ---- modes --------------------------------------------------------------- */

static void *handshake_worker(void *arg)
{
    struct worker *w = arg;
    SSL_SESSION *session = NULL;
    double deadline = opt.seconds > 0 ? now(CLOCK_MONOTONIC) + opt.seconds : 0;

    while ((w->target < 0 || w->done < w->target)
           && (deadline == 0 || now(CLOCK_MONOTONIC) < deadline)
           && !__atomic_load_n(&stop_all, __ATOMIC_RELAXED)) {
        SSL *c, *s;

        if (pair_new(&c, &s, session) != 0)
            goto err;
        if (drive(c, s) != 0) {
            pair_free(c, s);
            goto err;
        }
        if (opt.resume) {
            if (session == NULL) {
                /* TLS 1.3 tickets arrive after the handshake: take them in first. */
                if ((SSL_version(c) == TLS1_3_VERSION && drain(c, "client") != 0)
                    || (session = SSL_get1_session(c)) == NULL
                    || !SSL_SESSION_is_resumable(session)) {
                    fail("the first handshake gave no resumable session");
                    pair_free(c, s);
                    goto err;
                }
            } else if (!SSL_session_reused(c)) {
                fail("handshake did not resume the session");
                pair_free(c, s);
                goto err;
            } else {
                w->resumed++;
            }
        }
        note_result(w, c);
        pair_free(c, s);
        w->done++;
    }
    SSL_SESSION_free(session);
    return NULL;

err:
    w->failed = 1;
    SSL_SESSION_free(session);
    return NULL;
}

static void *bulk_worker(void *arg)
{
    struct worker *w = arg;
    unsigned long long total, sent = 0, received = 0;
    char *out = malloc(BULK_CHUNK), *in = malloc(BULK_CHUNK);
    SSL *c = NULL, *s = NULL;
    double t0;

    total = (unsigned long long)(opt.bulk_mb * 1048576.0);
    total = (total + BULK_CHUNK - 1) / BULK_CHUNK * BULK_CHUNK;
    if (out == NULL || in == NULL) {
        fail("out of memory");
        goto err;
    }
    memset(out, 'x', BULK_CHUNK);
    if (pair_new(&c, &s, NULL) != 0)
        goto err;
    if (drive(c, s) != 0)
        goto err;
    note_result(w, c);
    w->done = 1;

    t0 = now(CLOCK_MONOTONIC);
    while (received < total) {
        int ret, err;

        if (sent < total) {
            ERR_clear_error();
            ret = SSL_write(c, out, BULK_CHUNK);
            if (ret > 0) {
                sent += (unsigned long long)ret;
            } else if ((err = SSL_get_error(c, ret)) != SSL_ERROR_WANT_WRITE) {
                fail("client SSL_write failed");
                goto err;
            }
        }
        for (;;) {
            ERR_clear_error();
            ret = SSL_read(s, in, BULK_CHUNK);
            if (ret > 0) {
                received += (unsigned long long)ret;
                continue;
            }
            if ((err = SSL_get_error(s, ret)) == SSL_ERROR_WANT_READ)
                break;
            fail("server SSL_read failed");
            goto err;
        }
        if (sent >= total && received < total) {
            fail("bulk transfer lost bytes");
            goto err;
        }
    }
    w->bulk_seconds = now(CLOCK_MONOTONIC) - t0;
    w->bulk_bytes = received;
    pair_free(c, s);
    free(out);
    free(in);
    return NULL;

err:
    w->failed = 1;
    if (c != NULL)
        pair_free(c, s);
    free(out);
    free(in);
    return NULL;
}

/* Memory mode: N live pairs after the handshake. */
static int hold_pairs(struct worker *w, long *rss_before, long *rss_after, long long *heap_before,
                      long long *heap_after)
{
    SSL **pairs = calloc((size_t)opt.hold * 2, sizeof(SSL *));
    SSL *c, *s;
    long i;
    int status = 0;

    if (pairs == NULL) {
        fail("out of memory");
        return -1;
    }
    /* Warm-up: OpenSSL fetches and caches algorithms on first use. */
    if (pair_new(&c, &s, NULL) != 0) {
        free(pairs);
        return -1;
    }
    if (drive(c, s) != 0)
        status = -1;
    note_result(w, c);
    pair_free(c, s);
    if (status != 0) {
        free(pairs);
        return -1;
    }

    *rss_before = vm_rss_kb();
    *heap_before = __atomic_load_n(&heap_live, __ATOMIC_SEQ_CST);
    for (i = 0; i < opt.hold; i++) {
        if (pair_new(&pairs[2 * i], &pairs[2 * i + 1], NULL) != 0
            || drive(pairs[2 * i], pairs[2 * i + 1]) != 0) {
            status = -1;
            break;
        }
        w->done++;
    }
    *rss_after = vm_rss_kb();
    *heap_after = __atomic_load_n(&heap_live, __ATOMIC_SEQ_CST);
    for (i = 0; i < opt.hold; i++)
        if (pairs[2 * i] != NULL)
            pair_free(pairs[2 * i], pairs[2 * i + 1]);
    free(pairs);
    return status;
}

/* ---- main ---------------------------------------------------------------- */

static void json_string(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static int parse_args(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;

        if (strcmp(a, "--verify") == 0) {
            opt.verify = 1;
        } else if (strcmp(a, "--mtls") == 0) {
            opt.mtls = 1;
        } else if (strcmp(a, "--resume") == 0) {
            opt.resume = 1;
        } else if (strcmp(a, "--release-buffers") == 0) {
            opt.release_buffers = 1;
        } else if (strcmp(a, "--settle") == 0) {
            opt.settle = 1;
        } else if (v == NULL) {
            return -1;
        } else {
            i++;
            if (strcmp(a, "--cert") == 0) {
                opt.cert = v;
            } else if (strcmp(a, "--key") == 0) {
                opt.key = v;
            } else if (strcmp(a, "--cafile") == 0) {
                opt.cafile = v;
            } else if (strcmp(a, "--client-cert") == 0) {
                opt.client_cert = v;
            } else if (strcmp(a, "--client-key") == 0) {
                opt.client_key = v;
            } else if (strcmp(a, "--sni") == 0) {
                opt.sni = v;
            } else if (strcmp(a, "--tls") == 0) {
                if (strcmp(v, "1.2") == 0)
                    opt.tls_version = TLS1_2_VERSION;
                else if (strcmp(v, "1.3") == 0)
                    opt.tls_version = TLS1_3_VERSION;
                else
                    return -1;
            } else if (strcmp(a, "--bio-size") == 0) {
                opt.bio_size = strtol(v, &end, 10);
                if (opt.bio_size < 0)
                    return -1;
            } else if (strcmp(a, "--count") == 0) {
                opt.count = strtol(v, &end, 10);
                if (opt.count < 1)
                    return -1;
            } else if (strcmp(a, "--threads") == 0) {
                long t = strtol(v, &end, 10);

                if (t < 1 || t > 1024)
                    return -1;
                opt.threads = (int)t;
            } else if (strcmp(a, "--hold") == 0) {
                opt.hold = strtol(v, &end, 10);
                if (opt.hold < 1)
                    return -1;
            } else if (strcmp(a, "--seconds") == 0) {
                opt.seconds = strtod(v, &end);
                if (!(opt.seconds > 0))
                    return -1;
            } else if (strcmp(a, "--bulk") == 0) {
                opt.bulk_mb = strtod(v, &end);
                if (!(opt.bulk_mb > 0))
                    return -1;
            } else {
                return -1;
            }
            if (end != NULL && (end == v || *end != '\0'))
                return -1;
        }
    }
    if (opt.cert == NULL || opt.key == NULL) {
        fprintf(stderr, "handshake_loop: --cert and --key are required\n");
        return -1;
    }
    if ((opt.verify || opt.mtls) && opt.cafile == NULL) {
        fprintf(stderr, "handshake_loop: --verify and --mtls need --cafile\n");
        return -1;
    }
    if (opt.mtls != (opt.client_cert != NULL) || opt.mtls != (opt.client_key != NULL)) {
        fprintf(stderr, "handshake_loop: --mtls goes with --client-cert F --client-key F\n");
        return -1;
    }
    if (opt.hold > 0 && (opt.threads > 1 || opt.bulk_mb > 0 || opt.resume)) {
        fprintf(stderr, "handshake_loop: --hold runs alone (no --threads, --bulk, --resume)\n");
        return -1;
    }
    if (opt.bulk_mb > 0 && opt.resume) {
        fprintf(stderr, "handshake_loop: --bulk does one full handshake: no --resume\n");
        return -1;
    }
    if (opt.count < 0 && opt.seconds <= 0)
        opt.count = 1000;
    return 0;
}

int main(int argc, char **argv)
{
    struct worker *workers = NULL;
    long handshakes = 0, resumed = 0, rss_before = 0, rss_after = 0;
    long long heap_before = 0, heap_after = 0;
    int heap_counted = 0, failed = 0, i, status = EXIT_SETUP;
    double t0, t1, c0, c1, bulk_rate = 0, bulk_seconds = 0;
    unsigned long long bulk_bytes = 0;
    const char *version = "", *cipher = "";

    if (parse_args(argc, argv) != 0) {
        usage();
        return EXIT_SETUP;
    }
    /* Must come before OpenSSL's first allocation. */
    if (opt.hold > 0)
        heap_counted = CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free);

    client_ctx = make_ctx(0);
    server_ctx = make_ctx(1);
    workers = calloc((size_t)opt.threads, sizeof(*workers));
    if (client_ctx == NULL || server_ctx == NULL || workers == NULL) {
        fprintf(stderr, "handshake_loop: cannot set up the contexts\n");
        ERR_print_errors_fp(stderr);
        goto done;
    }
    for (i = 0; i < opt.threads; i++)
        workers[i].target = opt.count < 0 ? -1
                                          : opt.count / opt.threads + (i < opt.count % opt.threads);

    t0 = now(CLOCK_MONOTONIC);
    c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    if (opt.hold > 0) {
        if (hold_pairs(&workers[0], &rss_before, &rss_after, &heap_before, &heap_after) != 0)
            workers[0].failed = 1;
    } else if (opt.threads == 1) {
        (opt.bulk_mb > 0 ? bulk_worker : handshake_worker)(&workers[0]);
    } else {
        for (i = 0; i < opt.threads; i++)
            if (pthread_create(&workers[i].tid, NULL,
                               opt.bulk_mb > 0 ? bulk_worker : handshake_worker, &workers[i])
                != 0) {
                fprintf(stderr, "handshake_loop: pthread_create failed\n");
                __atomic_store_n(&stop_all, 1, __ATOMIC_SEQ_CST);
                workers[i].failed = 1;
                break;
            } else {
                workers[i].started = 1;
            }
        for (i = 0; i < opt.threads; i++)
            if (workers[i].started)
                pthread_join(workers[i].tid, NULL);
    }
    t1 = now(CLOCK_MONOTONIC);
    c1 = now(CLOCK_PROCESS_CPUTIME_ID);

    for (i = 0; i < opt.threads; i++) {
        struct worker *w = &workers[i];

        failed |= w->failed;
        handshakes += w->done;
        resumed += w->resumed;
        if (*version == '\0' && w->version[0] != '\0') {
            version = w->version;
            cipher = w->cipher;
        }
        if (w->bulk_seconds > 0) {
            bulk_bytes += w->bulk_bytes;
            bulk_rate += (double)w->bulk_bytes / w->bulk_seconds;
            if (w->bulk_seconds > bulk_seconds)
                bulk_seconds = w->bulk_seconds;
        }
    }
    if (failed) {
        status = EXIT_FAIL;
        goto done;
    }

    printf("{\"variant\":\"c\",\"handshakes\":%ld,\"seconds\":%.6f,\"per_second\":%.2f,"
           "\"cpu_seconds\":%.6f,\"openssl\":",
           handshakes, t1 - t0, t1 > t0 ? (double)handshakes / (t1 - t0) : 0.0, c1 - c0);
    json_string(OpenSSL_version(OPENSSL_VERSION));
    printf(",\"resumed\":%ld,\"threads\":%d,\"tls\":\"%s\",\"version\":", resumed, opt.threads,
           opt.tls_version == TLS1_2_VERSION   ? "1.2"
           : opt.tls_version == TLS1_3_VERSION ? "1.3"
                                               : "any");
    json_string(version);
    printf(",\"cipher\":");
    json_string(cipher);
    printf(",\"verify\":%s,\"mtls\":%s,\"resume\":%s,\"release_buffers\":%s,\"settle\":%s,\"bio_size\":%ld",
           opt.verify ? "true" : "false", opt.mtls ? "true" : "false",
           opt.resume ? "true" : "false", opt.release_buffers ? "true" : "false",
           opt.settle ? "true" : "false", opt.bio_size);
    if (opt.bulk_mb > 0)
        printf(",\"bulk_bytes\":%llu,\"bulk_seconds\":%.6f,\"mb_per_second\":%.2f", bulk_bytes,
               bulk_seconds, bulk_rate / 1048576.0);
    if (opt.hold > 0) {
        printf(",\"hold\":%ld,\"rss_kb_before\":%ld,\"rss_kb_after\":%ld,"
               "\"rss_bytes_per_pair\":%.1f",
               opt.hold, rss_before, rss_after,
               (double)(rss_after - rss_before) * 1024.0 / (double)opt.hold);
        if (heap_counted)
            printf(",\"heap_bytes_per_pair\":%.1f",
                   (double)(heap_after - heap_before) / (double)opt.hold);
        else
            printf(",\"heap_bytes_per_pair\":null");
    }
    printf("}\n");
    status = 0;

done:
    fflush(stdout);
    free(workers);
    SSL_CTX_free(client_ctx);
    SSL_CTX_free(server_ctx);
    return status;
}
