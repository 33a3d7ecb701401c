"""``ossl-handshake server`` / ``client`` as processes: JSON result lines and exit codes.

Against each other, against ``openssl s_server`` and ``openssl s_client`` (TLS
1.2 and 1.3, mTLS, a failure each way), plus usage, timeout and I/O errors.
Everything listens on 127.0.0.1 with ephemeral ports; every wait is bounded.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from ossl_handshake import certs
from ossl_handshake.cli.main import EXIT_IO, EXIT_OK, EXIT_TLS, EXIT_USAGE, EXIT_VERIFY
from ossl_handshake.cli.peers import SCHEMA_VERSION, parse_hostport
from tests._openssl import CLI_DN_EQ
from tests._peers import CliServer, SServer, cli, handshakes, openssl_cli, run, s_server_identity

pytestmark = pytest.mark.timeout(30)

#: Every key a schema-1 handshake line carries (docs/cli-json.md).
SCHEMA_KEYS = {
    "schema",
    "event",
    "side",
    "index",
    "peer",
    "outcome",
    "exit_code",
    "finished",
    "version",
    "cipher",
    "group",
    "alpn",
    "sni",
    "session_reused",
    "verify_result",
    "verify_message",
    "peer_subject",
    "alert_sent",
    "alert_received",
    "steps",
    "data",
    "error",
}


@pytest.fixture(scope="module")
def openssl() -> str:
    return openssl_cli()


def client(port: int, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    rc, out, err = run(cli("client", "--connect", f"127.0.0.1:{port}", "--timeout", "10", *args))
    return rc, handshakes(out), err


def only(lines: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(lines) == 1, lines
    assert set(lines[0]) == SCHEMA_KEYS
    assert lines[0]["schema"] == SCHEMA_VERSION
    return lines[0]


# ---- our client and our server ---------------------------------------------------------


def test_cli_peers_resume_negotiate_alpn_and_echo_data() -> None:
    server = CliServer(
        "--accept", "2", "--alpn", "h2,http/1.1", "--expect", "ping", "--send", "pong"
    )
    assert server.ready == {
        "schema": 1,
        "event": "ready",
        "host": "127.0.0.1",
        "port": server.port,
    }
    rc, lines, err = client(
        server.port, "--resume", "1", "--alpn", "http/1.1,h2", "--send", "ping", "--expect", "pong"
    )
    src, sout, _ = server.finish()
    assert rc == EXIT_OK, err
    assert src == EXIT_OK
    first, second = lines
    assert first["outcome"] == second["outcome"] == "ok"
    assert first["version"] == "TLSv1.3"
    assert first["alpn"] == "h2"  # the server's preference wins
    assert first["session_reused"] is False
    assert second["session_reused"] is True
    assert first["peer_subject"] == "O=ossl-handshake tests,CN=localhost"
    assert first["verify_result"] == 0 and first["verify_message"] == "ok"
    assert first["data"] == {"sent": 4, "received": "pong"}
    served = handshakes(sout)
    assert [s["session_reused"] for s in served] == [False, True]
    assert all(s["side"] == "server" and s["sni"] == "localhost" for s in served)
    assert served[0]["data"] == {"sent": 4, "received": "ping"}


def test_cli_ready_file_holds_the_bound_port(tmp_path: Any) -> None:
    ready = tmp_path / "port"
    server = CliServer("--ready-file", str(ready))
    assert ready.read_text() == f"{server.port}\n"
    rc, lines, _ = client(server.port, "--tls", "1.2")
    assert rc == EXIT_OK
    assert only(lines)["version"] == "TLSv1.2"
    assert server.finish()[0] == EXIT_OK


def test_cli_trace_adds_steps_and_messages() -> None:
    server = CliServer()
    rc, lines, _ = client(server.port, "--trace")
    server.finish()
    assert rc == EXIT_OK
    trace = lines[0]["trace"]
    kinds = {e["kind"] for e in trace}
    assert {"step", "message", "info"} <= kinds
    sent = [
        e["handshake_type"]
        for e in trace
        if e["kind"] == "message" and e["direction"] == "sent" and e["handshake_type"]
    ]
    assert sent[0] == "ClientHello"
    assert len([e for e in trace if e["kind"] == "step"]) == lines[0]["steps"]


def test_cli_expect_mismatch_is_a_tls_level_failure() -> None:
    server = CliServer("--expect", "hello", "--send", "wrong")
    rc, lines, _ = client(server.port, "--send", "hello", "--expect", "right")
    src, _, _ = server.finish()
    line = only(lines)
    assert rc == EXIT_TLS
    assert line["outcome"] == "expect_mismatch"
    assert line["data"]["received"] == "wrong"
    assert src == EXIT_OK  # the server got what it expected


def test_cli_client_rejects_server_from_untrusted_ca_with_exit_3() -> None:
    server = CliServer()
    rc, lines, _ = client(server.port, "--cafile", str(certs.UNTRUSTED_CA))
    src, sout, _ = server.finish()
    line = only(lines)
    assert rc == EXIT_VERIFY
    assert line["outcome"] == "verify_error"
    assert line["error"]["class"] == "CertificateVerifyError"
    assert line["error"]["reasons"] == ["certificate verify failed"]
    assert line["verify_result"] == 20
    assert line["alert_sent"] == "unknown_ca"
    served = handshakes(sout)[0]
    assert src == EXIT_TLS
    assert served["alert_received"] == "unknown_ca"
    assert served["outcome"] == "tls_error"


# ---- usage, timeouts and I/O -------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["server", "--listen", "no-port"],
        ["client", "--connect", "127.0.0.1:99999"],
        ["client", "--connect", "127.0.0.1:1", "--cafile", "/nonexistent/ca.pem"],
        ["server", "--listen", "127.0.0.1:0", "--tls", "1.9"],
        ["client"],
    ],
    ids=["listen-without-port", "port-out-of-range", "missing-cafile", "bad-version", "no-address"],
)
def test_cli_usage_errors_exit_2(args: list[str]) -> None:
    rc, out, err = run(cli(*args))
    assert rc == EXIT_USAGE, (out, err)
    assert err


def test_cli_server_with_no_client_times_out_with_exit_4() -> None:
    server = CliServer("--timeout", "0.3")
    rc, out, _ = server.finish()
    assert rc == EXIT_IO
    line = handshakes(out)[0]
    assert line["outcome"] == "timeout"
    assert line["error"]["phase"] == "accept"


def test_cli_client_times_out_on_a_silent_peer_with_exit_4() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        rc, out, _ = run(cli("client", "--connect", f"127.0.0.1:{port}", "--timeout", "0.3"))
    line = only(handshakes(out))
    assert rc == EXIT_IO
    assert line["outcome"] == "timeout"
    assert line["error"]["phase"] == "handshake"
    assert line["steps"] >= 1


def test_cli_client_connection_refused_is_exit_4() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connect is refused
        rc, lines, _ = client(port)
    line = only(lines)
    assert rc == EXIT_IO
    assert line["outcome"] == "io_error"
    assert line["error"]["class"] == "ConnectionRefusedError"


def test_parse_hostport_accepts_ipv6_brackets() -> None:
    assert parse_hostport("[::1]:443") == ("::1", 443)
    with pytest.raises(ValueError):
        parse_hostport("localhost")


# ---- against openssl s_server -------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_cli_client_handshakes_with_s_server(openssl: str, version: str) -> None:
    server = SServer(
        openssl, *s_server_identity(certs.SERVER_ECDSA), f"-tls{version.replace('.', '_')}"
    )
    rc, lines, err = client(server.port)
    server.finish(timeout=5)
    line = only(lines)
    assert rc == EXIT_OK, err
    assert line["version"] == f"TLSv{version}"
    assert line["peer_subject"] == "O=ossl-handshake tests,CN=localhost"
    assert line["verify_result"] == 0


def test_cli_client_presents_its_certificate_to_s_server(openssl: str) -> None:
    server = SServer(
        openssl, *s_server_identity(certs.SERVER_RSA), "-Verify", "2", "-CAfile", str(certs.CA)
    )
    rc, lines, err = client(server.port, "--mtls", "--send", "hi\n")
    _, sout, serr = server.finish(timeout=5)
    assert rc == EXIT_OK, err
    assert only(lines)["outcome"] == "ok"
    # s_server verified the chain we sent (leaf + intermediate) up to the root.
    assert f"depth=0 CN{CLI_DN_EQ}ossl-handshake test client" in sout + serr
    assert "hi" in sout


def test_cli_client_rejects_s_server_with_untrusted_chain(openssl: str) -> None:
    server = SServer(
        openssl, "-cert", str(certs.UNTRUSTED_SERVER.cert), "-key", str(certs.UNTRUSTED_SERVER.key)
    )
    rc, lines, _ = client(server.port, "--tls", "1.2")
    server.finish(timeout=5)
    line = only(lines)
    assert rc == EXIT_VERIFY
    assert line["error"]["class"] == "CertificateVerifyError"
    assert line["alert_sent"] == "unknown_ca"


# ---- against openssl s_client -------------------------------------------------------------


def s_client(openssl: str, port: int, *args: str) -> tuple[int, str, str]:
    return run(
        [
            openssl,
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-servername",
            "localhost",
            "-CAfile",
            str(certs.CA),
            "-verify_return_error",
            *args,
        ],
        stdin=b"",  # EOF on stdin: s_client closes the connection
    )


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_s_client_handshakes_with_cli_server(openssl: str, version: str) -> None:
    server = CliServer("--tls", version, "--key-type", "rsa")
    rc, out, err = s_client(openssl, server.port)
    src, sout, _ = server.finish()
    assert rc == 0, err
    assert "Verify return code: 0 (ok)" in out
    line = only(handshakes(sout))
    assert src == EXIT_OK
    assert line["version"] == f"TLSv{version}"
    assert line["sni"] == "localhost"
    assert line["peer_subject"] is None  # no client certificate asked for


def test_s_client_with_certificate_passes_cli_server_mtls(openssl: str) -> None:
    server = CliServer("--mtls")
    rc, _, err = s_client(
        openssl,
        server.port,
        "-cert",
        str(certs.CLIENT.cert),
        "-key",
        str(certs.CLIENT.key),
        "-cert_chain",  # s_client's -cert sends only the leaf
        str(certs.INTERMEDIATE),
    )
    src, sout, _ = server.finish()
    assert rc == 0, err
    line = only(handshakes(sout))
    assert src == EXIT_OK
    assert line["peer_subject"] == "O=ossl-handshake tests,CN=ossl-handshake test client"
    assert line["verify_result"] == 0


@pytest.mark.parametrize(
    ("version", "alert"), [("1.3", "certificate_required"), ("1.2", "handshake_failure")]
)
def test_cli_server_mtls_refuses_s_client_without_certificate(
    openssl: str, version: str, alert: str
) -> None:
    server = CliServer("--mtls", "--tls", version)
    s_client(openssl, server.port)
    src, sout, _ = server.finish()
    line = only(handshakes(sout))
    assert src == EXIT_TLS
    assert line["outcome"] == "tls_error"
    assert line["error"]["reasons"] == ["peer did not return a certificate"]
    assert line["alert_sent"] == alert


def test_cli_server_mtls_rejects_untrusted_client_certificate_with_exit_3(openssl: str) -> None:
    server = CliServer("--mtls")
    s_client(
        openssl,
        server.port,
        "-cert",
        str(certs.UNTRUSTED_CLIENT.cert),
        "-key",
        str(certs.UNTRUSTED_CLIENT.key),
    )
    src, sout, _ = server.finish()
    line = only(handshakes(sout))
    assert src == EXIT_VERIFY
    assert line["outcome"] == "verify_error"
    assert line["error"]["class"] == "CertificateVerifyError"
    assert line["alert_sent"] == "unknown_ca"


def test_cli_server_with_accept_0_serves_until_killed() -> None:
    server = CliServer("--accept", "0", "--timeout", "0.3")
    try:
        for _ in range(2):
            assert client(server.port)[0] == EXIT_OK
        time.sleep(0.5)  # longer than --timeout: an idle listener must not give up
        assert server.proc.poll() is None
        assert client(server.port)[0] == EXIT_OK
    finally:
        server.proc.terminate()
    _, out, _ = server.finish()
    assert [line["index"] for line in handshakes(out)] == [0, 1, 2]


def test_cli_client_sees_tls13_client_certificate_rejection_after_its_handshake() -> None:
    server = CliServer("--mtls")
    rc, lines, _ = client(server.port)  # no client certificate
    src, sout, _ = server.finish()
    line = only(lines)
    assert rc == EXIT_TLS
    assert line["finished"] is True  # TLS 1.3: the client was done before the server decided
    assert line["outcome"] == "tls_error"
    assert line["alert_received"] == "certificate_required"
    assert line["error"]["phase"] == "shutdown"
    assert line["error"]["reasons"] == ["tlsv13 alert certificate required"]
    assert src == EXIT_TLS
    assert handshakes(sout)[0]["alert_sent"] == "certificate_required"
