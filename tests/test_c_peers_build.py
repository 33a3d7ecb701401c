"""The C peers in tests/c/ build warning-free and talk TLS with ``openssl`` and each other.

Scenarios: the C echo server serves ``openssl s_client``; the C client talks to
``openssl s_server``; the two C programs talk to each other (with and without a
client certificate); a wrong trust anchor fails with the documented exit codes;
a C program drives a handshake between SSL objects made by ``libsslmaker.so``;
the C benchmark loop builds and prints its JSON line.

Everything listens on 127.0.0.1 with ephemeral ports; every subprocess call
has a timeout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests._openssl import VERIFY_TEXT, alert_reason
from tests._peers import EchoServer, SServer, read_until
from tests.c.build import CompileError, compile_c

ROOT = Path(__file__).resolve().parents[1]
C_DIR = ROOT / "tests" / "c"
CERTS = ROOT / "certs"
TIMEOUT = 30.0

OK_LINE = re.compile(r"^OK (TLSv1\.[23]) (\S+)$", re.MULTILINE)


# ---- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def libsslmaker(c_build_dir: Path) -> Path:
    return compile_c(C_DIR / "sslmaker.c", c_build_dir / "libsslmaker.so", shared=True)


@pytest.fixture(scope="module")
def openssl_cli() -> str:
    cli = shutil.which(os.environ.get("OPENSSL", "openssl"))
    if cli is None:
        pytest.skip("no openssl command line tool ($OPENSSL or openssl on PATH)")
    return cli


def pki(name: str) -> str:
    path = CERTS / name
    if not path.is_file():
        pytest.skip(f"test PKI file missing: {path} (regenerate with certs/gen.sh)")
    return str(path)


def chain(stem: str) -> list[str]:
    """``[cert, key]`` paths for a chain in certs/."""
    return [pki(f"{stem}.pem"), pki(f"{stem}.key")]


def s_server_cert(stem: str) -> list[str]:
    """s_server options for a certs/ chain: ``-cert`` reads only the leaf of the file."""
    cert, key = chain(stem)
    args = ["-cert", cert, "-key", key]
    if Path(cert).read_text().count("BEGIN CERTIFICATE") > 1:
        args += ["-cert_chain", pki("intermediate.pem")]
    return args


def run_client(exe: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(exe), "--connect", f"127.0.0.1:{port}", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


# ---- build ----------------------------------------------------------------------------


def test_programs_build_warning_free_and_cache(c_build_dir: Path) -> None:
    exe = compile_c(C_DIR / "echo_server.c", c_build_dir / "cache-check")
    built = exe.stat().st_mtime_ns
    time.sleep(0.01)
    assert compile_c(C_DIR / "echo_server.c", exe) == exe
    assert exe.stat().st_mtime_ns == built, "an up-to-date program was rebuilt"


def test_compile_error_carries_the_compiler_diagnostics(c_build_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.c"
    bad.write_text("int main(void) { int unused; return 0; }\n")
    with pytest.raises(CompileError) as info:
        compile_c(bad, c_build_dir / "bad")
    assert "unused" in info.value.stderr
    assert not (c_build_dir / "bad").exists()


# ---- echo_server with openssl s_client -----------------------------------------------


@pytest.mark.parametrize(
    ("stem", "version"),
    [("server-ecdsa", "1.3"), ("server-rsa", "1.2"), ("server-ed25519", "1.3")],
)
def test_echo_server_echoes_to_s_client(
    echo_process: Callable[..., EchoServer], openssl_cli: str, stem: str, version: str
) -> None:
    cert, key = chain(stem)
    server = echo_process("--cert", cert, "--key", key)
    flag = "-tls1_3" if version == "1.3" else "-tls1_2"
    client = subprocess.Popen(
        [
            openssl_cli,
            "s_client",
            "-brief",
            flag,
            "-connect",
            f"127.0.0.1:{server.port}",
            "-CAfile",
            pki("ca.pem"),
            "-verify_return_error",
            "-verify_hostname",
            "localhost",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert client.stdin is not None
    client.stdin.write(b"hello from s_client\n")
    client.stdin.flush()
    echoed = read_until(client, b"hello from s_client\n", TIMEOUT)
    client.stdin.close()  # s_client sends close_notify and exits
    client.wait(timeout=TIMEOUT)
    out, err = server.output()

    assert b"hello from s_client\n" in echoed
    assert client.returncode == 0
    assert server.proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == f"READY {server.port}"
    match = OK_LINE.match(lines[1])
    assert match is not None, out
    assert match.group(1) == f"TLSv{version}"


def test_echo_server_reports_a_client_that_rejects_it(
    echo_process: Callable[..., EchoServer], openssl_cli: str
) -> None:
    server = echo_process(*_server_args("server-ecdsa"))
    client = subprocess.run(
        [
            openssl_cli,
            "s_client",
            "-brief",
            "-connect",
            f"127.0.0.1:{server.port}",
            "-CAfile",
            pki("untrusted-ca.pem"),
            "-verify_return_error",
        ],
        input=b"",
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    out, err = server.output()

    assert client.returncode != 0
    assert server.proc.returncode == 2, err
    assert out.splitlines()[1] == "FAIL " + alert_reason("unknown ca")


# ---- tls_client with openssl s_server -------------------------------------------------


def test_tls_client_gets_reversed_text_from_s_server(
    openssl_cli: str, tls_client_exe: Path
) -> None:
    server = SServer(openssl_cli, *s_server_cert("server-ecdsa"), "-rev")
    result = run_client(
        tls_client_exe,
        server.port,
        "--cafile",
        pki("ca.pem"),
        "--send",
        "handshake\n",
        "--expect",
        "ekahsdnah\n",
    )
    server.finish()

    assert result.returncode == 0, result.stderr
    assert OK_LINE.fullmatch(result.stdout.strip()) is not None


def test_tls_client_sends_to_plain_s_server(openssl_cli: str, tls_client_exe: Path) -> None:
    server = SServer(openssl_cli, *s_server_cert("server-rsa"), "-tls1_2")
    result = run_client(
        tls_client_exe, server.port, "--cafile", pki("ca.pem"), "--send", "ping from C\n"
    )
    _, printed, _ = server.finish()

    assert result.returncode == 0, result.stderr
    match = OK_LINE.fullmatch(result.stdout.strip())
    assert match is not None and match.group(1) == "TLSv1.2"
    assert "ping from C" in printed


@pytest.mark.parametrize(
    ("stem", "cafile", "reason"),
    [
        ("untrusted-server", "ca.pem", "unable to get local issuer certificate"),
        ("server-ecdsa", "untrusted-ca.pem", "unable to get local issuer certificate"),
        ("wrong-host", "ca.pem", VERIFY_TEXT[62]),
        ("expired", "ca.pem", "certificate has expired"),
    ],
)
def test_tls_client_verification_failure_exits_3(
    openssl_cli: str, tls_client_exe: Path, stem: str, cafile: str, reason: str
) -> None:
    server = SServer(openssl_cli, *s_server_cert(stem))
    result = run_client(tls_client_exe, server.port, "--cafile", pki(cafile))
    server.finish()

    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.strip() == f"FAIL {reason}"


def test_tls_client_version_mismatch_exits_2(openssl_cli: str, tls_client_exe: Path) -> None:
    server = SServer(openssl_cli, *s_server_cert("server-ecdsa"), "-tls1_3")
    result = run_client(
        tls_client_exe, server.port, "--cafile", pki("ca.pem"), "--max-version", "1.2"
    )
    server.finish()

    assert result.returncode == 2
    assert result.stdout.strip() == "FAIL " + alert_reason("protocol version")


# ---- the two C peers together ---------------------------------------------------------


def _server_args(stem: str, *extra: str) -> list[str]:
    cert, key = chain(stem)
    return ["--cert", cert, "--key", key, *extra]


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_c_client_and_c_server_echo_with_mtls(
    echo_process: Callable[..., EchoServer], tls_client_exe: Path, version: str
) -> None:
    server = echo_process(
        *_server_args("server-ecdsa", "--cafile", pki("ca.pem"), "--require-client-cert"),
        "--min-version",
        version,
        "--max-version",
        version,
        "--accept",
        "2",
    )
    client_cert, client_key = chain("client")
    first = run_client(
        tls_client_exe,
        server.port,
        "--cafile",
        pki("ca.pem"),
        "--cert",
        client_cert,
        "--key",
        client_key,
        "--send",
        "abc",
        "--expect",
        "abc",
    )
    second = run_client(
        tls_client_exe,
        server.port,
        "--cafile",
        pki("ca.pem"),
        "--cert",
        client_cert,
        "--key",
        client_key,
        "--servername",
        "localhost",
        "--send",
        "0123456789" * 100,
        "--expect",
        "0123456789" * 100,
    )
    out, err = server.output()

    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    assert server.proc.returncode == 0, err
    assert [m.group(1) for m in OK_LINE.finditer(out)] == [f"TLSv{version}"] * 2


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_missing_client_certificate_fails_both_sides(
    echo_process: Callable[..., EchoServer], tls_client_exe: Path, version: str
) -> None:
    server = echo_process(
        *_server_args("server-ecdsa", "--cafile", pki("ca.pem"), "--require-client-cert"),
        "--max-version",
        version,
    )
    # TLS 1.3: the client is done before the server checks; the rejection arrives on read.
    result = run_client(
        tls_client_exe, server.port, "--cafile", pki("ca.pem"), "--send", "x", "--expect", "x"
    )
    out, err = server.output()

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.startswith("FAIL ")
    assert server.proc.returncode == 2, err
    assert out.splitlines()[1] == "FAIL peer did not return a certificate"


def test_c_client_with_wrong_ca_exits_3_and_server_exits_2(
    echo_process: Callable[..., EchoServer], tls_client_exe: Path
) -> None:
    server = echo_process(*_server_args("server-ecdsa"))
    result = run_client(tls_client_exe, server.port, "--cafile", pki("untrusted-ca.pem"))
    out, err = server.output()

    assert result.returncode == 3
    assert result.stdout.strip() == "FAIL unable to get local issuer certificate"
    assert server.proc.returncode == 2, err
    assert out.splitlines()[1] == "FAIL " + alert_reason("unknown ca")


def test_tls_client_data_mismatch_exits_4(
    echo_process: Callable[..., EchoServer], tls_client_exe: Path
) -> None:
    server = echo_process(*_server_args("server-ecdsa"))
    result = run_client(
        tls_client_exe, server.port, "--cafile", pki("ca.pem"), "--send", "abc", "--expect", "abd"
    )
    server.output()

    assert result.returncode == 4
    assert result.stdout.startswith("FAIL data mismatch")


def test_usage_errors_exit_1(echo_server_exe: Path, tls_client_exe: Path) -> None:
    for argv in ([str(echo_server_exe)], [str(tls_client_exe), "--connect", "127.0.0.1:1"]):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
        assert result.returncode == 1
        assert "usage:" in result.stderr


# ---- libsslmaker.so -------------------------------------------------------------------

SSLMAKER_DRIVER = r"""
#include <dlfcn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

#include "sslmaker.h"

/* Function pointers typed from the header and filled by dlsym: checks both. */
static __typeof__(&sslmaker_ctx_new) p_ctx_new;
static __typeof__(&sslmaker_ssl_new) p_ssl_new;
static __typeof__(&sslmaker_ctx_free) p_ctx_free;
static __typeof__(&sslmaker_ssl_free) p_ssl_free;
static __typeof__(&sslmaker_ssl_count_frees) p_ssl_count_frees;
static __typeof__(&sslmaker_openssl_version) p_openssl_version;

#define LOAD(var, name) (var = (__typeof__(var))(size_t)dlsym(lib, name))

/* 0 handshake done, 1 failed; the client's verify result in *vr. */
static int handshake(SSL_CTX *cctx, SSL_CTX *sctx, const char *host, long *vr)
{
    SSL *c = p_ssl_new(cctx, 0, host), *s = p_ssl_new(sctx, 1, NULL);
    BIO *cb, *sb;
    int cdone = 0, sdone = 0, round, ret = 1;

    if (c == NULL || s == NULL || BIO_new_bio_pair(&cb, 0, &sb, 0) != 1)
        return 1;
    SSL_set_bio(c, cb, cb); /* no BIO came with them: we attach one */
    SSL_set_bio(s, sb, sb);
    for (round = 0; round < 50 && !(cdone && sdone); round++) {
        int r;

        if (!cdone && !(cdone = (r = SSL_do_handshake(c)) == 1)
            && SSL_get_error(c, r) == SSL_ERROR_SSL)
            break;
        if (!sdone && !(sdone = (r = SSL_do_handshake(s)) == 1)
            && SSL_get_error(s, r) == SSL_ERROR_SSL)
            break;
    }
    if (cdone && sdone)
        ret = 0;
    *vr = SSL_get_verify_result(c);
    ERR_clear_error();
    p_ssl_free(c);
    p_ssl_free(s);
    return ret;
}

int main(int argc, char **argv)
{
    void *lib;
    SSL_CTX *cctx, *sctx;
    long vr = -1;

    if (argc != 5 || (lib = dlopen(argv[1], RTLD_NOW)) == NULL)
        return 10;
    if (!LOAD(p_ctx_new, "sslmaker_ctx_new") || !LOAD(p_ssl_new, "sslmaker_ssl_new")
        || !LOAD(p_ctx_free, "sslmaker_ctx_free") || !LOAD(p_ssl_free, "sslmaker_ssl_free")
        || !LOAD(p_ssl_count_frees, "sslmaker_ssl_count_frees")
        || !LOAD(p_openssl_version, "sslmaker_openssl_version"))
        return 11;
    if (strcmp(p_openssl_version(), OpenSSL_version(OPENSSL_VERSION)) != 0)
        return 12;
    /* a failure returns NULL and leaves the reason on the error queue */
    if (p_ctx_new(1, "/nonexistent.pem", NULL, NULL) != NULL || ERR_peek_error() == 0)
        return 13;
    ERR_clear_error();
    sctx = p_ctx_new(1, argv[2], argv[3], NULL);
    cctx = p_ctx_new(0, NULL, NULL, argv[4]);
    if (sctx == NULL || cctx == NULL)
        return 14;
    if (handshake(cctx, sctx, "localhost", &vr) != 0 || vr != X509_V_OK)
        return 15;
    if (handshake(cctx, sctx, "example.com", &vr) == 0 || vr != X509_V_ERR_HOSTNAME_MISMATCH)
        return 16;
    p_ssl_free(NULL); /* not counted */
    if (p_ssl_count_frees() != 4)
        return 17;
    printf("OK %s\n", p_openssl_version());
    p_ctx_free(cctx);
    p_ctx_free(sctx);
    return 0;
}
"""


def test_libsslmaker_makes_objects_that_handshake(
    libsslmaker: Path, c_build_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "sslmaker_driver.c"
    source.write_text(SSLMAKER_DRIVER)
    driver = compile_c(source, c_build_dir / "sslmaker_driver", extra_flags=["-I", str(C_DIR)])
    cert, key = chain("server-ecdsa")
    result = subprocess.run(
        [str(driver), str(libsslmaker), cert, key, pki("ca.pem")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    assert result.stdout.startswith("OK OpenSSL ")


# ---- bench/c/handshake_loop.c ---------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--tls", "1.3", "--verify", "--count", "5"],
        ["--tls", "1.2", "--resume", "--count", "5", "--threads", "2"],
        ["--tls", "1.3", "--resume", "--count", "5", "--bio-size", "256"],
        ["--bulk", "1", "--release-buffers"],
        ["--hold", "5"],
    ],
)
def test_bench_loop_builds_and_reports_json(c_build_dir: Path, args: list[str]) -> None:
    exe = compile_c(
        ROOT / "bench" / "c" / "handshake_loop.c",
        c_build_dir / "handshake_loop",
        extra_flags=["-pthread"],
    )
    cert, key = chain("server-ecdsa")
    result = subprocess.run(
        [str(exe), "--cert", cert, "--key", key, "--cafile", pki("ca.pem"), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["variant"] == "c"
    assert report["openssl"].startswith("OpenSSL ")
    if "--resume" in args:
        assert report["resumed"] == report["handshakes"] - report["threads"]
    if "--bulk" in args:
        assert report["bulk_bytes"] == 1 << 20
    if "--hold" in args:
        assert report["heap_bytes_per_pair"] > 0
