"""C programs as peers: the binding's client against a C echo server, a C client
against ``ossl-handshake server``.

The programs in ``tests/c/`` are compiled here with the system compiler against
the same libssl (``tests/c/build.py``). The adopt scenario (an ``SSL *`` made by
a C library, driven by the binding) lives in ``test_adopt.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ossl_handshake import (
    CertificateVerifyError,
    Connection,
    Context,
    ProtocolError,
    Role,
    ZeroReturnError,
    certs,
)
from ossl_handshake.cli.main import EXIT_OK, EXIT_TLS
from tests._openssl import alert_reason
from tests._peers import TIMEOUT, CliServer, EchoServer, handshakes, run

pytestmark = pytest.mark.timeout(30)

C_DIR = Path(__file__).resolve().parent / "c"

# tests/c/echo_server.c and tls_client.c exit codes (see their headers).
ECHO_HANDSHAKE_FAILED = 2
TLS_CLIENT_VERIFY_FAILED = 3


def connect(ctx: Context, port: int) -> Connection:
    """Our client on a socket with a timeout (poll-based waiting inside Connection)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.settimeout(10)
    return Connection(ctx, sock=sock, server_name="localhost")


def echo_round_trip(conn: Connection, data: bytes) -> bytes:
    conn.write(data)
    got = b""
    while len(got) < len(data):
        got += conn.read(len(data) - len(got))
    return got


def close(conn: Connection) -> None:
    """close_notify, then wait for the peer's so the C server sees a clean end."""
    conn.shutdown()
    with contextlib.suppress(ZeroReturnError):
        conn.read()
    sock = conn.sock
    conn.close()
    if sock is not None:
        sock.close()


# ---- our client, C echo server ----------------------------------------------------------


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_our_client_round_trips_data_through_the_c_echo_server(
    echo_server: Callable[..., EchoServer], version: str
) -> None:
    server = echo_server("--min-version", version, "--max-version", version)
    ctx = Context(Role.CLIENT, cafile=certs.CA)
    conn = connect(ctx, server.port)
    conn.do_handshake()
    assert conn.version == f"TLSv{version}"
    assert echo_round_trip(conn, b"hello, C server\n") == b"hello, C server\n"
    cipher = conn.cipher
    close(conn)
    rc, out, err = server.finish()
    assert rc == 0, err
    assert out == f"OK TLSv{version} {cipher}"


def test_our_client_certificate_is_accepted_by_the_c_echo_server(
    echo_server: Callable[..., EchoServer], mtls_client_context: Context
) -> None:
    server = echo_server("--cafile", str(certs.CA), "--require-client-cert")
    conn = connect(mtls_client_context, server.port)
    conn.do_handshake()
    assert echo_round_trip(conn, b"mtls") == b"mtls"
    close(conn)
    rc, out, err = server.finish()
    assert rc == 0, err
    assert out.startswith("OK TLSv1.3 ")


def test_our_client_rejects_the_c_server_under_a_wrong_trust_anchor(
    echo_server: Callable[..., EchoServer],
) -> None:
    server = echo_server()
    conn = connect(Context(Role.CLIENT, cafile=certs.UNTRUSTED_CA), server.port)
    with pytest.raises(CertificateVerifyError) as info:
        conn.do_handshake()
    assert info.value.verify_code == 20
    assert info.value.alert_sent == "unknown_ca"
    conn.close()
    rc, out, err = server.finish()
    assert rc == ECHO_HANDSHAKE_FAILED
    assert out.strip() == "FAIL " + alert_reason("unknown ca")
    assert "alert unknown ca" in err  # its error queue


def test_c_echo_server_refuses_our_client_without_certificate(
    echo_server: Callable[..., EchoServer], ossl_client_context: Context
) -> None:
    server = echo_server("--cafile", str(certs.CA), "--require-client-cert")
    conn = connect(ossl_client_context, server.port)
    # TLS 1.3: our side of the handshake completes before the server looks at
    # the (empty) Certificate; its alert arrives with the first read. (No write
    # first: the server closes with our Finished unread, so a write may meet
    # the RST that follows its alert.)
    conn.do_handshake()
    with pytest.raises(ProtocolError) as info:
        conn.read()
    assert info.value.alert_received == "certificate_required"
    conn.close()
    rc, out, _ = server.finish()
    assert rc == ECHO_HANDSHAKE_FAILED
    assert out.strip() == "FAIL peer did not return a certificate"


# ---- C client, ossl-handshake server ----------------------------------------------------


def tls_client(exe: Path, port: int, *args: str) -> tuple[int, str, str]:
    return run(
        [
            str(exe),
            "--connect",
            f"127.0.0.1:{port}",
            "--servername",
            "localhost",
            *args,
        ]
    )


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_c_client_echoes_with_cli_server(tls_client_exe: Path, version: str) -> None:
    server = CliServer("--tls", version, "--expect", "ping", "--send", "ping")
    rc, out, err = tls_client(
        tls_client_exe, server.port, "--cafile", str(certs.CA), "--send", "ping", "--expect", "ping"
    )
    src, sout, _ = server.finish()
    assert rc == 0, err
    line = handshakes(sout)[0]
    assert src == EXIT_OK
    assert out.strip() == f"OK TLSv{version} {line['cipher']}"
    assert line["version"] == f"TLSv{version}"
    assert line["sni"] == "localhost"
    assert line["data"] == {"sent": 4, "received": "ping"}


def test_c_client_certificate_reaches_cli_server_mtls(tls_client_exe: Path) -> None:
    server = CliServer("--mtls", "--expect", "x", "--send", "y")
    rc, _, err = tls_client(
        tls_client_exe,
        server.port,
        "--cafile",
        str(certs.CA),
        "--cert",
        str(certs.CLIENT.cert),
        "--key",
        str(certs.CLIENT.key),
        "--send",
        "x",
        "--expect",
        "y",
    )
    src, sout, _ = server.finish()
    assert rc == 0, err
    line = handshakes(sout)[0]
    assert src == EXIT_OK
    assert line["peer_subject"] == "O=ossl-handshake tests,CN=ossl-handshake test client"
    assert line["verify_result"] == 0


def test_c_client_with_wrong_trust_anchor_fails_and_cli_server_reports_the_alert(
    tls_client_exe: Path,
) -> None:
    server = CliServer()
    rc, out, _ = tls_client(tls_client_exe, server.port, "--cafile", str(certs.UNTRUSTED_CA))
    src, sout, _ = server.finish()
    assert rc == TLS_CLIENT_VERIFY_FAILED
    assert out.startswith("FAIL ")
    line = handshakes(sout)[0]
    assert src == EXIT_TLS
    assert line["outcome"] == "tls_error"
    assert line["alert_received"] == "unknown_ca"
    assert line["error"]["reasons"] == [alert_reason("unknown ca")]


# ---- the shell example of docs/guide/c-programs.md ----------------------------------


def test_readme_shell_example_runs_the_c_client_against_the_cli_server(
    tls_client_exe: Path, tmp_path: Path
) -> None:
    if shutil.which("bash") is None:
        pytest.skip("no bash to run the documented shell example")
    text = (Path(__file__).resolve().parents[1] / "docs" / "guide" / "c-programs.md").read_text(
        encoding="utf-8"
    )
    match = re.search(r"<!-- shell-example -->\n```sh\n(.*?)```", text, re.DOTALL)
    assert match is not None, "docs/guide/c-programs.md lost its shell example"
    (tmp_path / "certs").symlink_to(certs.DIR)
    (tmp_path / "tls_client").symlink_to(tls_client_exe)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    launcher = bindir / "ossl-handshake"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ossl_handshake "$@"\n')
    launcher.chmod(0o755)
    proc = subprocess.run(
        ["bash", "-e", "-c", match.group(1)],
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("OK TLSv1.3 ")
    assert "server saw a clean mTLS handshake" in proc.stdout
    line = handshakes((tmp_path / "server.jsonl").read_text())[0]
    assert line["outcome"] == "ok"
    assert line["data"] == {"sent": 4, "received": "ping"}
    assert line["peer_subject"] == "O=ossl-handshake tests,CN=ossl-handshake test client"
