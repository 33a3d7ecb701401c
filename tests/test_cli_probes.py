"""The CLI server under a scripted TLS test client, side by side with ``openssl s_server -www``.

tlslite-ng (tests/_probes.py) completes a handshake, then sends one malformed
record (bad MAC, ChangeCipherSpec after Finished, a bad KeyUpdate, an
oversized record, garbage). Each probe runs against ``ossl-handshake server
--www`` and ``openssl s_server -www``, both real processes on the same
libssl, serving the all-RSA chain: both must answer with the same alert,
and the alert must reach the client (not be lost behind a reset). The CLI
server's JSON line reports the failure with phase ``data``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ossl_handshake import certs
from ossl_handshake.cli.main import EXIT_OK, EXIT_TLS
from tests._openssl import probe_alert
from tests._peers import CliServer, Proc, SServer, cli, handshakes, openssl_cli, run
from tests._probes import REQUEST, probe

pytestmark = pytest.mark.timeout(60)

CHAIN = certs.SERVER_RSA_CHAIN
MALFORMED = ["bad-mac", "ccs-after-finished", "bad-key-update", "oversized-record", "garbage"]
TLS13_ONLY = {"bad-key-update"}


@dataclass
class WwwServer:
    """One ``-www`` server process serving one connection."""

    kind: str
    proc: Proc
    port: int

    def lines(self) -> tuple[int, list[dict[str, Any]]]:
        """Wait for the process; ``(exit code, handshake lines)`` (s_server prints none)."""
        if self.kind == "s_server":
            self.proc.kill()
            return 0, []
        rc, out, _ = self.proc.finish()
        return rc, handshakes(out)


def start(kind: str, version: str, *extra: str) -> WwwServer:
    if kind == "ossl-handshake":
        srv = CliServer("--www", "--cert", str(CHAIN.cert), "--key", str(CHAIN.key), *extra)
        return WwwServer(kind, srv, srv.port)
    ss = SServer(
        openssl_cli(),
        "-www",
        "-cert",
        str(CHAIN.cert),
        "-key",
        str(CHAIN.key),
        "-cert_chain",
        str(certs.RSA_INTERMEDIATE),
        f"-tls{version.replace('.', '_')}",
    )
    return WwwServer(kind, ss, ss.port)


@pytest.fixture(params=["ossl-handshake", "s_server"])
def server_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


def cases() -> list[Any]:
    return [
        pytest.param(p, v, id=f"{p}-tls{v}")
        for p in MALFORMED
        for v in ("1.2", "1.3")
        if not (v == "1.2" and p in TLS13_ONLY)
    ]


@pytest.mark.parametrize(("name", "version"), cases())
def test_malformed_record_after_handshake_gets_the_s_server_alert(
    server_kind: str, name: str, version: str
) -> None:
    server = start(server_kind, version)
    try:
        seen = probe(server.port, name, version)
    finally:
        rc, lines = server.lines()
    expected = probe_alert(name, version)
    assert seen.ended == "alert", seen  # the alert arrived: no reset, no bare close
    assert seen.alert == expected
    assert seen.data == b""  # nothing written before the request was read
    if server_kind == "ossl-handshake":
        [line] = lines
        assert rc == EXIT_TLS
        assert line["finished"] is True
        assert line["outcome"] == "tls_error"
        assert line["alert_sent"] == expected
        assert line["error"]["phase"] == "data"
        assert line["error"]["class"] == "ProtocolError"


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_request_gets_an_http_page_then_close_notify(server_kind: str, version: str) -> None:
    server = start(server_kind, version)
    try:
        seen = probe(server.port, "request", version)
    finally:
        rc, lines = server.lines()
    assert seen.data.startswith(b"HTTP/1.0 200 ok\r\n"), seen
    assert seen.ended in {"close_notify", "eof"}, seen
    if server_kind == "ossl-handshake":
        [line] = lines
        assert rc == EXIT_OK
        assert line["outcome"] == "ok"
        assert line["version"] == f"TLSv{version}"
        assert line["data"]["received"] == REQUEST.decode()
        assert f"version: TLSv{version}" in seen.data.decode()


@pytest.mark.parametrize(
    ("expected", "rc", "outcome"),
    [
        ("bad_record_mac", EXIT_OK, "expected_failure"),  # the alert it got: exit 0
        ("record_overflow", EXIT_TLS, "expect_mismatch"),  # an alert that never came
    ],
)
def test_expect_alert_decides_the_outcome_of_a_failed_connection(
    expected: str, rc: int, outcome: str
) -> None:
    server = start("ossl-handshake", "1.3", "--expect-alert", expected)
    try:
        seen = probe(server.port, "bad-mac", "1.3")
    finally:
        code, lines = server.lines()
    assert seen.alert == "bad_record_mac"
    assert code == rc
    assert lines[0]["outcome"] == outcome
    assert lines[0]["exit_code"] == rc
    assert lines[0]["error"]["phase"] == "data"


def test_www_server_never_writes_after_the_peers_close_notify() -> None:
    server = start("ossl-handshake", "1.3")
    try:
        seen = probe(server.port, "close-notify-first", "1.3")
    finally:
        rc, lines = server.lines()
    assert seen.data == b""
    assert rc == EXIT_OK
    assert lines[0]["data"] == {"sent": 0, "received": ""}
    assert lines[0]["alert_received"] == "close_notify"


def test_stdlib_client_gets_the_www_page() -> None:
    import ssl

    server = start("ossl-handshake", "1.3")
    ctx = ssl.create_default_context(cafile=str(certs.RSA_CA))
    try:
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            page = b""
            while chunk := tls.recv(4096):
                page += chunk
    finally:
        rc, lines = server.lines()
    head, _, body = page.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 ok")
    assert f"Content-Length: {len(body)}".encode() in head
    assert rc == EXIT_OK and lines[0]["outcome"] == "ok"


def test_cli_client_against_the_www_server_with_send_line() -> None:
    server = start("ossl-handshake", "1.3")
    rc, out, err = run(
        cli(
            "client",
            "--connect",
            f"127.0.0.1:{server.port}",
            "--cafile",
            str(certs.RSA_CA),
            "--send-line",
            r"GET / HTTP/1.0\r\n",
            "--expect",
            r"HTTP/1.0 200 ok\r\n",
        )
    )
    src, lines = server.lines()
    assert rc == EXIT_OK, (out, err)
    assert src == EXIT_OK
    assert lines[0]["data"]["received"] == "GET / HTTP/1.0\r\n\r\n"
