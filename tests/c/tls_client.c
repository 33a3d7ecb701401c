/*
 * tls_client: a blocking TLS client, used as a C-level peer by the tests.
 *
 * Usage:
 *   tls_client --connect HOST:PORT --cafile F [--cert F --key F]
 *              [--servername NAME] [--verify-host NAME]
 *              [--min-version 1.2|1.3] [--max-version 1.2|1.3]
 *              [--send TEXT] [--expect TEXT]
 *
 * Verifies the server against --cafile (SSL_VERIFY_PEER) and checks its name
 * with SSL_set1_host(--verify-host, default "localhost"). SNI is sent only
 * when --servername is given. After the handshake it writes --send TEXT,
 * reads until it holds strlen(--expect) bytes and compares them, then shuts
 * down with close_notify (and waits briefly for the peer's).
 *
 * Prints exactly one line on stdout:
 *   OK <version> <cipher>     everything succeeded
 *   FAIL <reason>             <reason> is the verify error string, the reason
 *                             of ERR_peek_error(), or a data/IO description
 * Details and the error queue go to stderr (ERR_print_errors_fp).
 *
 * Exit status: 0 success, 1 usage/setup/IO error, 2 TLS failure (the
 * handshake failed, or a TLS error or fatal alert arrived after it),
 * 3 certificate verification failure (SSL_get_verify_result != X509_V_OK),
 * 4 data mismatch. Sockets have 10 s timeouts; alarm(30) bounds the process.
 *
 * With TLS 1.3 the client finishes its handshake before the server checks the
 * client certificate, so a rejection arrives as an alert afterwards: it is seen
 * by the --expect read (exit 2), or on a best-effort basis while waiting for
 * the peer's close_notify. Use --expect to be sure to observe it.
 */
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "verify_host.h"

#define EXIT_OK 0
#define EXIT_IO 1
#define EXIT_HANDSHAKE 2
#define EXIT_VERIFY 3
#define EXIT_MISMATCH 4

static void usage(void)
{
    fprintf(stderr,
            "usage: tls_client --connect HOST:PORT --cafile F [--cert F --key F]\n"
            "                  [--servername NAME] [--verify-host NAME]\n"
            "                  [--min-version 1.2|1.3] [--max-version 1.2|1.3]\n"
            "                  [--send TEXT] [--expect TEXT]\n");
}

static int parse_version(const char *s)
{
    if (strcmp(s, "1.2") == 0)
        return TLS1_2_VERSION;
    if (strcmp(s, "1.3") == 0)
        return TLS1_3_VERSION;
    return -1;
}

static void set_timeouts(int fd, long seconds)
{
    struct timeval tv = {seconds, 0};

    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Connect to "HOST:PORT" (the last colon separates the port). */
static int tcp_connect(const char *target)
{
    char host[1024];
    const char *colon = strrchr(target, ':');
    struct addrinfo hints, *res = NULL, *ai;
    size_t hostlen;
    int fd = -1, rc;

    if (colon == NULL || colon == target || colon[1] == '\0'
        || (hostlen = (size_t)(colon - target)) >= sizeof(host)) {
        fprintf(stderr, "tls_client: --connect wants HOST:PORT, got %s\n", target);
        return -1;
    }
    memcpy(host, target, hostlen);
    host[hostlen] = '\0';
    if (hostlen > 2 && host[0] == '[' && host[hostlen - 1] == ']') { /* [::1]:443 */
        memmove(host, host + 1, hostlen - 2);
        host[hostlen - 2] = '\0';
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "tls_client: %s: %s\n", target, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        set_timeouts(fd, 10);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    if (fd < 0)
        fprintf(stderr, "tls_client: connect %s: %s\n", target, strerror(errno));
    freeaddrinfo(res);
    return fd;
}

/* A read that ended on the peer's EOF without close_notify (OpenSSL 3: an
 * SSL_ERROR_SSL "unexpected eof while reading"; 1.1.1: SSL_ERROR_SYSCALL). */
static int is_unexpected_eof(int err)
{
    unsigned long e = ERR_peek_error();

    if (err == SSL_ERROR_SYSCALL && e == 0 && errno == 0)
        return 1;
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    if (err == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL
        && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return 1;
#endif
    return 0;
}

/* Print "FAIL <reason>" for a failed libssl call and return the exit status. */
static int report_ssl_failure(SSL *ssl, int ret, const char *what, int status)
{
    int err = SSL_get_error(ssl, ret);
    const char *reason = ERR_reason_error_string(ERR_peek_error());

    if (reason != NULL)
        printf("FAIL %s\n", reason);
    else if (err == SSL_ERROR_SYSCALL && errno != 0)
        printf("FAIL %s: %s\n", what, strerror(errno));
    else if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN)
        printf("FAIL %s: connection closed by peer\n", what);
    else
        printf("FAIL %s: SSL_get_error=%d\n", what, err);
    fprintf(stderr, "tls_client: %s failed: ret=%d SSL_get_error=%d errno=%d\n", what, ret, err,
            errno);
    ERR_print_errors_fp(stderr);
    return status;
}

/*
 * A peer that rejects us sends a fatal alert and closes; our next write can
 * then meet a connection reset before we have read that alert. Read what is
 * still queued (for up to 2 s): 1 = a TLS error or alert was there (reported
 * as FAIL), 0 = only close_notify, EOF, a reset or a timeout.
 */
static int queued_tls_failure(SSL *ssl, int fd, const char *what)
{
    char drain[256];
    int ret, err;

    set_timeouts(fd, 2);
    do {
        ERR_clear_error();
        errno = 0;
        ret = SSL_read(ssl, drain, sizeof(drain));
    } while (ret > 0);
    err = SSL_get_error(ssl, ret);
    if (err == SSL_ERROR_SSL && !is_unexpected_eof(err)) {
        (void)report_ssl_failure(ssl, ret, what, EXIT_HANDSHAKE);
        return 1;
    }
    ERR_clear_error();
    return 0;
}

static void print_escaped(FILE *f, const char *buf, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];

        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
            fputc(c, f);
        else
            fprintf(f, "\\x%02x", c);
    }
}

int main(int argc, char **argv)
{
    const char *connect_to = NULL, *cafile = NULL, *cert = NULL, *key = NULL;
    const char *servername = NULL, *verify_host = "localhost";
    const char *send_text = NULL, *expect = NULL;
    int min_version = 0, max_version = 0, fd = -1, ret, err, i;
    int status = EXIT_IO;
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    char *got = NULL;
    size_t want = 0, have = 0;
    long vr;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (v == NULL) {
            usage();
            return EXIT_IO;
        }
        i++;
        if (strcmp(a, "--connect") == 0) {
            connect_to = v;
        } else if (strcmp(a, "--cafile") == 0) {
            cafile = v;
        } else if (strcmp(a, "--cert") == 0) {
            cert = v;
        } else if (strcmp(a, "--key") == 0) {
            key = v;
        } else if (strcmp(a, "--servername") == 0) {
            servername = v;
        } else if (strcmp(a, "--verify-host") == 0) {
            verify_host = v;
        } else if (strcmp(a, "--send") == 0) {
            send_text = v;
        } else if (strcmp(a, "--expect") == 0) {
            expect = v;
        } else if (strcmp(a, "--min-version") == 0 && (min_version = parse_version(v)) > 0) {
            continue;
        } else if (strcmp(a, "--max-version") == 0 && (max_version = parse_version(v)) > 0) {
            continue;
        } else {
            usage();
            return EXIT_IO;
        }
    }
    if (connect_to == NULL || cafile == NULL || (cert == NULL) != (key == NULL)) {
        usage();
        return EXIT_IO;
    }

    signal(SIGPIPE, SIG_IGN);
    alarm(30);

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL
        || SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1
        || (cert != NULL && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        || (key != NULL && SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        || (cert != NULL && SSL_CTX_check_private_key(ctx) != 1)
        || (min_version && SSL_CTX_set_min_proto_version(ctx, min_version) != 1)
        || (max_version && SSL_CTX_set_max_proto_version(ctx, max_version) != 1)) {
        printf("FAIL setup\n");
        fprintf(stderr, "tls_client: cannot set up the SSL_CTX\n");
        goto done;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    ssl = SSL_new(ctx);
    if (ssl == NULL
        || set1_verify_host(ssl, verify_host) != 1
        || (servername != NULL && SSL_set_tlsext_host_name(ssl, servername) != 1)) {
        printf("FAIL setup\n");
        fprintf(stderr, "tls_client: cannot set up the SSL\n");
        goto done;
    }

    fd = tcp_connect(connect_to);
    if (fd < 0) {
        printf("FAIL connect\n");
        goto done;
    }
    if (SSL_set_fd(ssl, fd) != 1) {
        printf("FAIL setup\n");
        goto done;
    }

    ERR_clear_error();
    errno = 0;
    ret = SSL_connect(ssl);
    vr = SSL_get_verify_result(ssl);
    if (vr != X509_V_OK) {
        printf("FAIL %s\n", X509_verify_cert_error_string(vr));
        fprintf(stderr, "tls_client: verification failed: %ld (%s)\n", vr,
                X509_verify_cert_error_string(vr));
        ERR_print_errors_fp(stderr);
        status = EXIT_VERIFY;
        goto done;
    }
    if (ret != 1) {
        status = report_ssl_failure(ssl, ret, "handshake", EXIT_HANDSHAKE);
        goto done;
    }
    fprintf(stderr, "tls_client: handshake OK %s %s\n", SSL_get_version(ssl),
            SSL_get_cipher_name(ssl));

    if (send_text != NULL && *send_text != '\0') {
        int len = (int)strlen(send_text);

        ERR_clear_error();
        errno = 0;
        ret = SSL_write(ssl, send_text, len);
        if (ret != len) {
            int saved_errno = errno;

            if (SSL_get_error(ssl, ret) == SSL_ERROR_SSL) {
                status = report_ssl_failure(ssl, ret, "write", EXIT_HANDSHAKE);
            } else if (queued_tls_failure(ssl, fd, "write")) {
                status = EXIT_HANDSHAKE;
            } else {
                errno = saved_errno;
                status = report_ssl_failure(ssl, ret, "write", EXIT_IO);
            }
            goto done;
        }
    }

    if (expect != NULL) {
        want = strlen(expect);
        got = malloc(want + 1);
        if (got == NULL) {
            printf("FAIL out of memory\n");
            goto done;
        }
        while (have < want) {
            ERR_clear_error();
            errno = 0;
            ret = SSL_read(ssl, got + have, (int)(want - have));
            if (ret > 0) {
                have += (size_t)ret;
                continue;
            }
            err = SSL_get_error(ssl, ret);
            if (err == SSL_ERROR_ZERO_RETURN || is_unexpected_eof(err)) {
                ERR_clear_error();
                break; /* the peer closed before all the data: a mismatch */
            }
            status = report_ssl_failure(ssl, ret, "read",
                                        err == SSL_ERROR_SSL ? EXIT_HANDSHAKE : EXIT_IO);
            goto done;
        }
        if (have != want || memcmp(got, expect, want) != 0) {
            printf("FAIL data mismatch: expected \"");
            print_escaped(stdout, expect, want);
            printf("\" got \"");
            print_escaped(stdout, got, have);
            printf("\"\n");
            status = EXIT_MISMATCH;
            goto done;
        }
    }

    /*
     * Clean shutdown: send close_notify, then give the peer 2 s to answer.
     * Read even when sending failed (a peer that rejected us and closed
     * resets the connection): an alert it sent may still be queued for us.
     */
    ERR_clear_error();
    errno = 0;
    ret = SSL_shutdown(ssl);
    if (ret < 0) {
        fprintf(stderr, "tls_client: SSL_shutdown: SSL_get_error=%d errno=%d (ignored)\n",
                SSL_get_error(ssl, ret), errno);
        ERR_print_errors_fp(stderr);
    }
    if (ret <= 0 && queued_tls_failure(ssl, fd, "shutdown")) {
        status = EXIT_HANDSHAKE;
        goto done;
    }
    printf("OK %s %s\n", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
    status = EXIT_OK;

done:
    fflush(stdout);
    ERR_print_errors_fp(stderr);
    free(got);
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    SSL_CTX_free(ctx);
    return status;
}
