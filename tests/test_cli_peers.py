"""``ossl-handshake server`` / ``client`` as processes: JSON result lines and exit codes.

Against each other, against ``openssl s_server`` and ``openssl s_client`` (TLS
1.2 and 1.3, mTLS, a failure each way), plus usage, timeout and I/O errors.
Everything listens on 127.0.0.1 with ephemeral ports; every wait is bounded.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ossl_handshake import certs
from ossl_handshake.cli.main import EXIT_IO, EXIT_OK, EXIT_TLS, EXIT_USAGE, EXIT_VERIFY
from ossl_handshake.cli.peers import SCHEMA_VERSION, parse_hostport
from tests._openssl import CLI_DN_EQ, DHE_BY_DEFAULT, reasons_of
from tests._peers import (
    CliServer,
    SServer,
    cli,
    handshakes,
    openssl_cli,
    read_until,
    run,
    s_server_identity,
)
from tests._probes import probe

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


# ---- the server's data phase: it never writes first --------------------------------------


def test_server_send_waits_for_the_clients_first_record() -> None:
    # The client's first record after the handshake fails its MAC: a server that
    # wrote its reply first would have put "pong" on the wire before the alert.
    server = CliServer("--send", "pong")
    seen = probe(server.port, "bad-mac", "1.3")
    rc, sout, _ = server.finish()
    assert (seen.data, seen.alert) == (b"", "bad_record_mac")
    line = only(handshakes(sout))
    assert rc == EXIT_TLS
    assert line["data"]["sent"] == 0
    assert line["error"]["phase"] == "data"


def test_server_send_answers_the_first_read() -> None:
    server = CliServer("--send", "pong")
    seen = probe(server.port, "request", "1.3")
    rc, sout, _ = server.finish()
    assert seen.data == b"pong"
    assert rc == EXIT_OK
    assert only(handshakes(sout))["data"] == {"sent": 4, "received": "GET / HTTP/1.0\r\n\r\n"}


def test_server_send_first_writes_before_reading() -> None:
    server = CliServer("--send", "pong", "--send-first")
    seen = probe(server.port, "bad-mac", "1.3")
    rc, sout, _ = server.finish()
    assert seen.data == b"pong"  # before the bad record was even read
    # Then the server closed and met the bad record while closing (before or
    # after its close_notify went out: after it, OpenSSL sends no alert).
    line = only(handshakes(sout))
    assert rc == EXIT_TLS
    assert line["error"]["phase"] == "shutdown"
    assert line["error"]["reasons"] == reasons_of("decryption failed or bad record mac")


def test_server_reports_a_fatal_alert_received_after_the_handshake() -> None:
    server = CliServer("--echo")
    seen = probe(server.port, "fatal-alert", "1.3")
    rc, sout, _ = server.finish()
    line = only(handshakes(sout))
    assert seen.alert is None  # no answer to a fatal alert
    assert rc == EXIT_TLS
    assert line["finished"] is True
    assert line["outcome"] == "tls_error"
    assert line["alert_received"] == "internal_error"
    assert line["error"]["phase"] == "data"


def test_echo_server_writes_back_what_the_client_sends() -> None:
    server = CliServer("--echo")
    rc, lines, err = client(server.port, "--send", "abc", "--expect", "abc")
    src, sout, _ = server.finish()
    assert rc == EXIT_OK, err
    assert src == EXIT_OK
    assert only(lines)["data"] == {"sent": 3, "received": "abc"}
    assert only(handshakes(sout))["data"] == {"sent": 3, "received": "abc"}


# ---- --send escapes and --send-line ------------------------------------------------------


def test_send_escapes_reach_the_server_as_bytes() -> None:
    server = CliServer("--expect", r"a\x00b\tc\\\r\n")
    rc, lines, err = client(server.port, "--send", r"a\x00b\tc\\\r\n")
    src, sout, _ = server.finish()
    assert rc == EXIT_OK, err
    assert only(lines)["data"]["sent"] == 8
    assert src == EXIT_OK
    assert only(handshakes(sout))["data"]["received"] == "a\x00b\tc\\\r\n"


def test_send_line_appends_crlf() -> None:
    server = CliServer("--expect", r"hello\r\n")
    rc, lines, err = client(server.port, "--send-line", "hello")
    src, _, _ = server.finish()
    assert rc == EXIT_OK, err
    assert src == EXIT_OK
    assert only(lines)["data"]["sent"] == 7


@pytest.mark.parametrize("bad", [r"\q", r"\x4", r"\xzz", "trailing\\"])
def test_bad_send_escape_is_a_usage_error(bad: str) -> None:
    rc, out, err = run(cli("client", "--connect", "127.0.0.1:1", "--send", bad))
    assert rc == EXIT_USAGE, (out, err)
    assert "--send: bad escape" in err


# ---- the client's own certificate --------------------------------------------------------


def test_client_cert_and_key_are_the_clients_own_certificate() -> None:
    server = CliServer("--mtls")
    rc, lines, err = client(
        server.port, "--cert", str(certs.CLIENT_RSA.cert), "--key", str(certs.CLIENT_RSA.key)
    )
    src, sout, _ = server.finish()
    assert rc == EXIT_OK, err
    assert only(lines)["peer_subject"] == "O=ossl-handshake tests,CN=localhost"
    assert src == EXIT_OK
    served = only(handshakes(sout))
    assert served["peer_subject"] == "O=ossl-handshake tests,CN=ossl-handshake test client"


@pytest.mark.parametrize(
    "flags",
    [
        ["--cert", str(certs.CLIENT.cert), "--client-cert", str(certs.CLIENT_RSA.cert)],
        ["--key", str(certs.CLIENT.key)],
    ],
    ids=["cert-and-client-cert", "key-without-cert"],
)
def test_client_certificate_flag_conflicts_are_usage_errors(flags: list[str]) -> None:
    rc, out, err = run(cli("client", "--connect", "127.0.0.1:1", *flags))
    assert rc == EXIT_USAGE, (out, err)
    assert "ossl-handshake client:" in err


# ---- negotiation flags of the server -----------------------------------------------------


def test_alpn_required_refuses_a_client_without_a_common_protocol() -> None:
    server = CliServer("--alpn", "h2", "--alpn-required")
    rc, lines, _ = client(server.port, "--alpn", "http/1.1")
    src, sout, _ = server.finish()
    line, served = only(lines), only(handshakes(sout))
    assert rc == EXIT_TLS
    assert line["alert_received"] == "no_application_protocol"
    assert src == EXIT_TLS
    assert served["alert_sent"] == "no_application_protocol"
    assert served["error"]["phase"] == "handshake"


def test_alpn_required_without_alpn_is_a_usage_error() -> None:
    rc, _, err = run(cli("server", "--listen", "127.0.0.1:0", "--alpn-required"))
    assert rc == EXIT_USAGE
    assert "--alpn-required needs --alpn" in err


DHE = ("--tls", "1.2", "--key-type", "rsa", "--cipher", "DHE-RSA-AES128-GCM-SHA256")


def _ffdhe2048(openssl: str, tmp_path: Path) -> Path:
    pem = tmp_path / "dh.pem"
    rc, out, err = run(
        [openssl, "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "dh_param:ffdhe2048",
         "-out", str(pem)]
    )  # fmt: skip
    assert rc == 0, out + err
    return pem


@pytest.mark.parametrize("source", ["auto", "file"])
def test_dhparam_lets_the_server_negotiate_dhe(openssl: str, tmp_path: Path, source: str) -> None:
    value = "auto" if source == "auto" else str(_ffdhe2048(openssl, tmp_path))
    server = CliServer(*DHE, "--dhparam", value)
    rc, lines, err = client(server.port, *DHE)
    src, _, _ = server.finish()
    assert rc == EXIT_OK, err
    assert src == EXIT_OK
    assert only(lines)["cipher"] == "DHE-RSA-AES128-GCM-SHA256"


def test_without_dhparam_a_dhe_only_client_fails() -> None:
    server = CliServer(*DHE)
    rc, lines, _ = client(server.port, *DHE)
    _, sout, _ = server.finish()
    if DHE_BY_DEFAULT:  # OpenSSL 4.0: automatic DHE parameters unless turned off
        assert rc == EXIT_OK
        assert only(lines)["cipher"] == "DHE-RSA-AES128-GCM-SHA256"
        return
    assert rc == EXIT_TLS
    assert only(lines)["alert_received"] == "handshake_failure"
    assert only(handshakes(sout))["error"]["reasons"] == ["no shared cipher"]


def test_dhparam_file_that_is_not_dh_parameters_is_a_usage_error() -> None:
    rc, _, err = run(cli("server", "--listen", "127.0.0.1:0", "--dhparam", str(certs.CA)))
    assert rc == EXIT_USAGE
    assert "no -----BEGIN DH PARAMETERS----- block" in err


@pytest.mark.parametrize(("tickets", "reused"), [("0", False), ("1", True)])
def test_num_tickets_decides_tls13_resumption(tickets: str, reused: bool) -> None:
    server = CliServer("--accept", "2", "--num-tickets", tickets)
    rc, lines, err = client(server.port, "--resume", "1")
    server.finish()
    assert rc == EXIT_OK, err
    assert [line["session_reused"] for line in lines] == [False, reused]


def _renegotiate_with_s_client(openssl: str, port: int) -> str:
    """s_client renegotiates on an "R" line, then sends "hello"; returns what it printed."""
    proc = subprocess.Popen(
        [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
         "-CAfile", str(certs.CA), "-tls1_2"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdin is not None
    try:
        seen = read_until(proc, b"---\n")  # the session summary: handshake done
        proc.stdin.write(b"R\n")
        proc.stdin.flush()
        seen += read_until(proc, b"RENEGOTIATING")
        proc.stdin.write(b"hello\n")
        proc.stdin.flush()
        seen += read_until(proc, re.compile(rb"hello\n|no renegotiation|:error:"))
        out, _ = proc.communicate(timeout=20)  # closes stdin: s_client closes the connection
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=20)
    return (seen + out).decode(errors="replace")


def test_no_renegotiation_refuses_a_tls12_client_renegotiation(openssl: str) -> None:
    server = CliServer("--tls", "1.2", "--echo", "--no-renegotiation")
    printed = _renegotiate_with_s_client(openssl, server.port)
    rc, sout, _ = server.finish()
    served = only(handshakes(sout))
    assert "no renegotiation" in printed
    assert served["alert_sent"] == "no_renegotiation"
    assert served["outcome"] == "tls_error"  # s_client gives up with a fatal alert
    assert served["error"]["phase"] == "data"
    assert rc == EXIT_TLS


def test_renegotiation_accepts_a_tls12_client_renegotiation(openssl: str) -> None:
    server = CliServer("--tls", "1.2", "--echo", "--renegotiation")
    printed = _renegotiate_with_s_client(openssl, server.port)
    rc, sout, _ = server.finish()
    served = only(handshakes(sout))
    assert "no renegotiation" not in printed
    assert served["data"]["received"] == "hello\n"
    assert served["outcome"] == "ok"
    assert rc == EXIT_OK


# ---- concurrency: --workers and --deadline -----------------------------------------------


def test_a_stalled_client_does_not_block_a_second_one() -> None:
    server = CliServer("--accept", "2", "--timeout", "60")  # default --workers 4
    with socket.create_connection(("127.0.0.1", server.port), timeout=10):
        rc, _, err = client(server.port)  # connects while the first sends nothing
        assert rc == EXIT_OK, err
        # The second connection's line is out while the first is still open.
        server.early += read_until(server.proc, b'"index": 1')
        assert b'"index": 0' not in server.early
    src, sout, _ = server.finish()
    first, second = sorted(handshakes(sout), key=lambda line: line["index"])
    assert second["outcome"] == "ok"
    assert first["finished"] is False
    assert first["error"]["phase"] == "handshake"
    assert src == first["exit_code"] != EXIT_OK


def test_deadline_cuts_a_stalled_client_so_a_single_worker_serves_the_next() -> None:
    server = CliServer("--accept", "2", "--workers", "1", "--deadline", "1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10):
        rc, _, err = client(server.port)  # waits in the backlog behind the stalled one
        assert rc == EXIT_OK, err
    src, sout, _ = server.finish()
    first, second = handshakes(sout)
    assert first["index"] == 0
    assert first["outcome"] == "timeout"
    assert first["error"]["class"] == "DeadlineExceeded"
    assert first["error"]["phase"] == "handshake"
    assert second["outcome"] == "ok"
    assert src == EXIT_IO


# ---- the all-RSA chain -------------------------------------------------------------------


def test_rsa_only_client_verifies_the_all_rsa_chain() -> None:
    server = CliServer("--key-type", "rsa-chain")
    rc, lines, err = client(
        server.port, "--cafile", str(certs.RSA_CA), "--sigalgs", "rsa_pss_rsae_sha256:RSA+SHA256"
    )
    server.finish()
    line = only(lines)
    assert rc == EXIT_OK, err
    assert line["verify_result"] == 0
    assert line["peer_subject"] == "O=ossl-handshake tests,CN=localhost"
