/*
 * echo_server: a blocking TLS echo server, used as a C-level peer by the tests.
 *
 * Usage:
 *   echo_server --cert F --key F [--cafile F [--require-client-cert]]
 *               [--min-version 1.2|1.3] [--max-version 1.2|1.3]
 *               [--port N] [--ready-file PATH] [--accept N]
 *
 * Binds 127.0.0.1:N (N = 0, the default, picks an ephemeral port), writes the
 * bound port as "<port>\n" to --ready-file (written to a temporary file and
 * renamed, so a reader never sees a partial file) and prints "READY <port>".
 * --cafile makes the server ask for a client certificate and verify it
 * against F; --require-client-cert (needs --cafile) makes one mandatory.
 *
 * For each of the --accept N connections (default 1) it runs SSL_accept and
 * prints one line on stdout:
 *   OK <version> <cipher>       then echoes data until the peer closes
 *                               (close_notify or EOF) and answers a
 *                               close_notify with SSL_shutdown;
 *   FAIL <reason>               the handshake failed; <reason> is the reason
 *                               string of ERR_peek_error() (or the
 *                               SSL_get_error name when the queue is empty).
 * The full error queue goes to stderr (ERR_print_errors_fp).
 *
 * Exit status: 0 all N handshakes succeeded, 2 at least one handshake failed,
 * 1 usage or setup error. Echo-phase errors after a successful handshake are
 * reported on stderr only. Accepted sockets have 10 s receive/send timeouts
 * and the whole process is bounded by alarm(30).
 *
 * With SSLKEYLOGFILE set in the environment, every secret is appended to that
 * file as an NSS key log line (SSL_CTX_set_keylog_callback), flushed at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define EXIT_OK 0
#define EXIT_SETUP 1
#define EXIT_HANDSHAKE 2

static void usage(void)
{
    fprintf(stderr,
            "usage: echo_server --cert F --key F [--cafile F [--require-client-cert]]\n"
            "                   [--min-version 1.2|1.3] [--max-version 1.2|1.3]\n"
            "                   [--port N] [--ready-file PATH] [--accept N]\n");
}

static int parse_version(const char *s)
{
    if (strcmp(s, "1.2") == 0)
        return TLS1_2_VERSION;
    if (strcmp(s, "1.3") == 0)
        return TLS1_3_VERSION;
    return -1;
}

static const char *ssl_error_name(int err)
{
    switch (err) {
    case SSL_ERROR_NONE: return "SSL_ERROR_NONE";
    case SSL_ERROR_SSL: return "SSL_ERROR_SSL";
    case SSL_ERROR_WANT_READ: return "SSL_ERROR_WANT_READ";
    case SSL_ERROR_WANT_WRITE: return "SSL_ERROR_WANT_WRITE";
    case SSL_ERROR_SYSCALL: return "SSL_ERROR_SYSCALL";
    case SSL_ERROR_ZERO_RETURN: return "SSL_ERROR_ZERO_RETURN";
    default: return "SSL_ERROR_OTHER";
    }
}

static int write_ready_file(const char *path, int port)
{
    char tmp[4096];
    FILE *f;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        fprintf(stderr, "echo_server: ready-file path too long\n");
        return -1;
    }
    f = fopen(tmp, "w");
    if (f == NULL) {
        perror("echo_server: ready-file");
        return -1;
    }
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        perror("echo_server: ready-file");
        unlink(tmp);
        return -1;
    }
    return 0;
}

static FILE *keylog_file;

static void keylog_line(const SSL *ssl, const char *line)
{
    (void)ssl;
    fprintf(keylog_file, "%s\n", line);
    fflush(keylog_file);
}

static void set_timeouts(int fd)
{
    struct timeval tv = {10, 0};

    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Echo until the peer closes. Returns 0 on a clean end, -1 on an I/O error. */
static int echo(SSL *ssl)
{
    char buf[16384];

    for (;;) {
        int n, err;
        unsigned long e;

        ERR_clear_error();
        errno = 0;
        n = SSL_read(ssl, buf, sizeof(buf));
        if (n > 0) {
            ERR_clear_error();
            if (SSL_write(ssl, buf, n) != n) {
                fprintf(stderr, "echo_server: SSL_write failed\n");
                ERR_print_errors_fp(stderr);
                return -1;
            }
            continue;
        }
        err = SSL_get_error(ssl, n);
        if (err == SSL_ERROR_ZERO_RETURN) { /* close_notify: answer it */
            ERR_clear_error();
            (void)SSL_shutdown(ssl);
            return 0;
        }
        e = ERR_peek_error();
        if ((err == SSL_ERROR_SYSCALL && e == 0 && errno == 0)
            || (err == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
                && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING
#endif
                )) {
            ERR_clear_error(); /* plain EOF: no SSL_shutdown after a fatal error */
            return 0;
        }
        fprintf(stderr, "echo_server: SSL_read: %s (%s)\n", ssl_error_name(err),
                errno != 0 ? strerror(errno) : "no errno");
        ERR_print_errors_fp(stderr);
        return -1;
    }
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *cafile = NULL, *ready_file = NULL;
    int require_client_cert = 0, min_version = 0, max_version = 0;
    long port = 0, accept_count = 1, failures = 0, i;
    SSL_CTX *ctx = NULL;
    int lfd = -1, one = 1, status = EXIT_SETUP;
    struct sockaddr_in addr;
    socklen_t addrlen = sizeof(addr);

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--require-client-cert") == 0) {
            require_client_cert = 1;
            continue;
        }
        if (v == NULL) {
            usage();
            return EXIT_SETUP;
        }
        i++;
        if (strcmp(a, "--cert") == 0) {
            cert = v;
        } else if (strcmp(a, "--key") == 0) {
            key = v;
        } else if (strcmp(a, "--cafile") == 0) {
            cafile = v;
        } else if (strcmp(a, "--ready-file") == 0) {
            ready_file = v;
        } else if (strcmp(a, "--min-version") == 0 && (min_version = parse_version(v)) > 0) {
            continue;
        } else if (strcmp(a, "--max-version") == 0 && (max_version = parse_version(v)) > 0) {
            continue;
        } else if (strcmp(a, "--port") == 0) {
            char *end;
            port = strtol(v, &end, 10);
            if (*end != '\0' || port < 0 || port > 65535) {
                usage();
                return EXIT_SETUP;
            }
        } else if (strcmp(a, "--accept") == 0) {
            char *end;
            accept_count = strtol(v, &end, 10);
            if (*end != '\0' || accept_count < 1) {
                usage();
                return EXIT_SETUP;
            }
        } else {
            usage();
            return EXIT_SETUP;
        }
    }
    if (cert == NULL || key == NULL || (require_client_cert && cafile == NULL)) {
        usage();
        return EXIT_SETUP;
    }

    signal(SIGPIPE, SIG_IGN);
    alarm(30);

    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL
        || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1
        || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1
        || SSL_CTX_check_private_key(ctx) != 1
        || (min_version && SSL_CTX_set_min_proto_version(ctx, min_version) != 1)
        || (max_version && SSL_CTX_set_max_proto_version(ctx, max_version) != 1)) {
        fprintf(stderr, "echo_server: cannot set up the SSL_CTX\n");
        goto done;
    }
    if (getenv("SSLKEYLOGFILE") != NULL && *getenv("SSLKEYLOGFILE") != '\0') {
        keylog_file = fopen(getenv("SSLKEYLOGFILE"), "a");
        if (keylog_file == NULL) {
            perror("echo_server: SSLKEYLOGFILE");
            goto done;
        }
        SSL_CTX_set_keylog_callback(ctx, keylog_line);
    }
    if (cafile != NULL) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cafile);

        if (names == NULL || SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            fprintf(stderr, "echo_server: cannot load --cafile %s\n", cafile);
            goto done;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx,
                           SSL_VERIFY_PEER
                               | (require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    }

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0
        || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0
        || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0
        || listen(lfd, 16) != 0
        || getsockname(lfd, (struct sockaddr *)&addr, &addrlen) != 0) {
        perror("echo_server: listen");
        goto done;
    }
    port = ntohs(addr.sin_port);
    if (ready_file != NULL && write_ready_file(ready_file, (int)port) != 0)
        goto done;
    printf("READY %ld\n", port);
    fflush(stdout);

    for (i = 0; i < accept_count; i++) {
        SSL *ssl;
        int fd, ret;

        do
            fd = accept(lfd, NULL, NULL);
        while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            perror("echo_server: accept");
            goto done;
        }
        set_timeouts(fd);
        ssl = SSL_new(ctx);
        if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
            fprintf(stderr, "echo_server: SSL_new/SSL_set_fd failed\n");
            SSL_free(ssl);
            close(fd);
            goto done;
        }
        ERR_clear_error();
        errno = 0;
        ret = SSL_accept(ssl);
        if (ret == 1) {
            printf("OK %s %s\n", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
            fflush(stdout);
            (void)echo(ssl);
        } else {
            int err = SSL_get_error(ssl, ret);
            const char *reason = ERR_reason_error_string(ERR_peek_error());
            long vr = SSL_get_verify_result(ssl);

            if (reason != NULL)
                printf("FAIL %s\n", reason);
            else if (err == SSL_ERROR_SYSCALL && errno != 0)
                printf("FAIL %s: %s\n", ssl_error_name(err), strerror(errno));
            else
                printf("FAIL %s\n", ssl_error_name(err));
            fflush(stdout);
            if (vr != X509_V_OK)
                fprintf(stderr, "echo_server: client certificate: %s\n",
                        X509_verify_cert_error_string(vr));
            ERR_print_errors_fp(stderr);
            failures++;
        }
        SSL_free(ssl);
        close(fd);
    }
    status = failures ? EXIT_HANDSHAKE : EXIT_OK;

done:
    ERR_print_errors_fp(stderr);
    if (lfd >= 0)
        close(lfd);
    SSL_CTX_free(ctx);
    return status;
}
