"""The fault proxy between separate processes: C programs, ``openssl`` and our own peers.

Every scenario runs real processes on loopback with the proxy between them
(``ossl_fault_proxy``): our client → proxy → the C echo server, the C client
→ proxy → our threaded server, C ↔ C, and ``openssl s_server``/``s_client``.
Each fault class is aimed at a record, fires, and both ends say what they
saw; the proxy's per-connection report says what crossed and how each side
closed.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ossl_handshake import (
    Connection,
    Context,
    ProtocolError,
    Role,
    Select,
    UnexpectedEOFError,
    certs,
)
from ossl_handshake.proxy import FaultProxy, parse_fault, parse_policy
from ossl_handshake.testing.plugin import TLSServer, make_client_context
from ossl_handshake.tls.records import RecordStream
from ossl_handshake.wire import Corrupt, Drop, FaultNotFiredError
from tests._openssl import EOF_IN_HANDSHAKE, alert_reason
from tests._peers import TIMEOUT, EchoServer, SServer, openssl_cli, read_until
from tests.test_c_integration import (
    ECHO_HANDSHAKE_FAILED,
    close,
    echo_round_trip,
    tls_client,
)

pytestmark = pytest.mark.timeout(60)

ProxyFactory = Callable[..., FaultProxy]

# tests/c/tls_client.c exit status for a TLS failure (its header).
TLS_CLIENT_TLS_FAILED = 2


def via(proxy: FaultProxy, ctx: Context | None = None) -> Connection:
    """Our client on a socket to the proxy (timeouts: poll-based waits inside Connection)."""
    sock = socket.create_connection(proxy.address, timeout=TIMEOUT)
    sock.settimeout(10)
    return Connection(ctx or make_client_context(), sock=sock, server_name="localhost")


def fail_handshake(conn: Connection) -> ProtocolError:
    """Run the handshake that the fault breaks; the client's error, connection closed."""
    with pytest.raises(ProtocolError) as info:
        conn.do_handshake()
    sock = conn.sock
    conn.close()
    if sock is not None:
        sock.close()
    return info.value


def server_failure(server: EchoServer) -> str:
    rc, out, err = server.finish()
    assert rc == ECHO_HANDSHAKE_FAILED, (out, err)
    return out.strip()


# ---- our client -> proxy -> C echo server: what crossed ---------------------------------


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_clean_handshake_through_the_proxy_is_reported_per_direction(
    echo_server: Callable[..., EchoServer], ossl_fault_proxy: ProxyFactory, version: str
) -> None:
    server = echo_server("--min-version", version, "--max-version", version)
    proxy = ossl_fault_proxy(("127.0.0.1", server.port))
    conn = via(proxy)
    conn.do_handshake()
    assert conn.version == f"TLSv{version}"
    assert echo_round_trip(conn, b"through the proxy") == b"through the proxy"
    close(conn)
    rc, out, err = server.finish()
    assert rc == 0, err
    assert out.startswith(f"OK TLSv{version} ")
    (report,) = proxy.wait(1)
    assert report.outcome == "closed"
    assert report.client.closed == report.server.closed == "fin"
    assert report.client.eof_sent and report.server.eof_sent
    assert report.client.messages[0] == "ClientHello"
    assert report.server.messages[0] == "ServerHello"
    if version == "1.2":  # plaintext until ChangeCipherSpec: the proxy names every message
        assert report.server.messages == [
            "ServerHello",
            "Certificate",
            "ServerKeyExchange",
            "ServerHelloDone",
            "NewSessionTicket",
        ]
    for side in (report.client, report.server):
        assert side.received == side.delivered > 0  # no fault: every byte went through
        assert side.records == len(report.wire.records[side.role])
    line = report.to_dict()
    assert line["event"] == "connection" and line["faults"] == []


@pytest.mark.parametrize("policy", ["bytes", "records", "split=1,6", "coalesce=2"])
def test_delivery_policies_cut_the_stream_and_the_handshake_still_succeeds(
    echo_server: Callable[..., EchoServer], ossl_fault_proxy: ProxyFactory, policy: str
) -> None:
    server = echo_server()
    proxy = ossl_fault_proxy(("127.0.0.1", server.port), policy=parse_policy(policy))
    conn = via(proxy)
    conn.do_handshake()
    assert echo_round_trip(conn, b"segment by segment") == b"segment by segment"
    close(conn)
    assert server.finish()[0] == 0
    (report,) = proxy.wait(1)
    segments = [data for _, _, data in report.segments]
    if policy == "bytes":
        assert set(map(len, segments)) == {1}
    elif policy == "records":  # each segment one whole record
        for data in segments:
            stream = RecordStream(Role.CLIENT)
            assert len(stream.feed(data, 0)) == 1 and not stream.partial
    elif policy.startswith("split"):
        assert len(segments) > report.client.records + report.server.records
        assert 1 in map(len, segments)  # the first header byte alone
    else:
        assert report.server.flights >= 1
    assert sum(map(len, segments)) == report.client.received + report.server.received


# ---- each fault class, seen from both ends ----------------------------------------------


def test_corrupt_server_record_client_sends_bad_record_mac_and_c_server_receives_it(
    echo_server: Callable[..., EchoServer], ossl_fault_proxy: ProxyFactory
) -> None:
    server = echo_server()
    proxy = ossl_fault_proxy(
        ("127.0.0.1", server.port), faults=[parse_fault("corrupt:server:type=application_data")]
    )
    err = fail_handshake(via(proxy))
    assert err.alert_sent == "bad_record_mac"
    assert server_failure(server) == "FAIL " + alert_reason("bad record mac")
    proxy.wait(1)
    proxy.check_fired()


@pytest.mark.parametrize(
    "spec",
    ["drop:server:type=application_data", "reorder:server:type=application_data"],
)
def test_dropped_or_reordered_tls13_record_breaks_the_record_sequence(
    echo_server: Callable[..., EchoServer], ossl_fault_proxy: ProxyFactory, spec: str
) -> None:
    # The AEAD nonce is the record's sequence number: the record after a
    # missing or swapped one does not decrypt.
    server = echo_server()
    proxy = ossl_fault_proxy(("127.0.0.1", server.port), faults=[parse_fault(spec)])
    err = fail_handshake(via(proxy))
    assert err.alert_sent == "bad_record_mac"
    assert server_failure(server) == "FAIL " + alert_reason("bad record mac")
    (report,) = proxy.wait(1)
    assert report.faults[0].fired == 1
    proxy.check_fired()


def test_duplicated_server_hello_is_an_unexpected_message_for_both_ends(
    echo_server: Callable[..., EchoServer], ossl_fault_proxy: ProxyFactory
) -> None:
    server = echo_server()
    proxy = ossl_fault_proxy(
        ("127.0.0.1", server.port), faults=[parse_fault("duplicate:server:handshake=serverhello")]
    )
    err = fail_handshake(via(proxy))
    assert err.alert_sent == "unexpected_message"
    assert server_failure(server) == "FAIL " + alert_reason("unexpected message")
    (report,) = proxy.wait(1)
    assert report.server.received < report.server.delivered  # the copy crossed too
    proxy.check_fired()


def test_delayed_server_hello_lets_change_cipher_spec_arrive_first(
    echo_server: Callable[..., EchoServer], ossl_fault_proxy: ProxyFactory
) -> None:
    server = echo_server()
    proxy = ossl_fault_proxy(
        ("127.0.0.1", server.port),
        faults=[parse_fault("delay:server:handshake=serverhello:flights=0")],
    )
    err = fail_handshake(via(proxy))
    assert err.alert_sent == "unexpected_message"
    server_failure(server)
    (report,) = proxy.wait(1)
    assert report.client.alerts == ["fatal:unexpected_message"]  # no keys yet: plaintext
    first = report.segments[1]  # segment 0 is the ClientHello
    assert first[1] is Role.SERVER and first[2][0] == 20  # change_cipher_spec
    proxy.check_fired()


def test_injected_alert_before_server_hello_reaches_the_client(
    echo_server: Callable[..., EchoServer], ossl_fault_proxy: ProxyFactory
) -> None:
    server = echo_server()
    forged = "15030300020228"  # fatal handshake_failure
    proxy = ossl_fault_proxy(
        ("127.0.0.1", server.port),
        faults=[parse_fault(f"inject:server:handshake=serverhello:data={forged}:where=instead")],
    )
    err = fail_handshake(via(proxy))
    assert err.alert_received == "handshake_failure"
    server_failure(server)  # its peer went away mid-handshake
    proxy.wait(1)
    proxy.check_fired()


def test_truncated_server_hello_leaves_the_client_an_unexpected_message(
    echo_server: Callable[..., EchoServer], ossl_fault_proxy: ProxyFactory
) -> None:
    # Only the header is left, still announcing the whole ServerHello: the
    # client reads the ChangeCipherSpec record after it as the message header
    # (type 20, Finished), not what it waits for.
    server = echo_server()
    proxy = ossl_fault_proxy(
        ("127.0.0.1", server.port),
        faults=[parse_fault("truncate:server:handshake=serverhello:bytes=5")],
    )
    err = fail_handshake(via(proxy))
    assert err.alert_sent == "unexpected_message"
    assert "unexpected message" in err.reasons
    server_failure(server)
    (report,) = proxy.wait(1)
    assert report.client.alerts == ["fatal:unexpected_message"]  # no keys yet: plaintext
    proxy.check_fired()


def test_close_after_cuts_the_server_direction_and_the_client_sees_eof(
    echo_server: Callable[..., EchoServer], ossl_fault_proxy: ProxyFactory
) -> None:
    server = echo_server()
    proxy = ossl_fault_proxy(
        ("127.0.0.1", server.port), faults=[parse_fault("close:server:bytes=100")]
    )
    err = fail_handshake(via(proxy))
    assert isinstance(err, UnexpectedEOFError)
    assert err.reasons == EOF_IN_HANDSHAKE[2]
    assert err.alert_sent == EOF_IN_HANDSHAKE[3]
    server_failure(server)
    (report,) = proxy.wait(1)
    assert report.client.eof_sent  # the proxy half-closed towards the client
    assert report.server.delivered == 100
    proxy.check_fired()


def test_client_alert_in_tls12_is_read_by_the_proxy(
    echo_server: Callable[..., EchoServer], ossl_fault_proxy: ProxyFactory
) -> None:
    # Before its ChangeCipherSpec a TLS 1.2 client's alert is plaintext.
    server = echo_server("--max-version", "1.2")
    proxy = ossl_fault_proxy(("127.0.0.1", server.port))
    err = fail_handshake(via(proxy, Context(Role.CLIENT, cafile=certs.UNTRUSTED_CA)))
    assert err.alert_sent == "unknown_ca"
    assert server_failure(server) == "FAIL " + alert_reason("unknown ca")
    (report,) = proxy.wait(1)
    assert report.client.alerts == ["fatal:unknown_ca"]
    assert report.server.alerts == []


# ---- stalls, deadlines, faults that never fire ------------------------------------------


def test_dropped_server_hello_done_stalls_both_peers_until_the_proxy_deadline(
    echo_server: Callable[..., EchoServer], ossl_fault_proxy: ProxyFactory
) -> None:
    server = echo_server("--max-version", "1.2")
    proxy = ossl_fault_proxy(
        ("127.0.0.1", server.port),
        faults=["drop:server:handshake=serverhellodone"],  # a spec string works too
        timeout=2.0,
    )
    err = fail_handshake(via(proxy))  # our socket timeout (10 s) is longer than the deadline
    assert isinstance(err, UnexpectedEOFError)
    server_failure(server)
    (report,) = proxy.wait(1)
    assert report.outcome == "deadline"
    assert report.client.closed is None and report.server.closed is None
    proxy.check_fired()


def test_a_fault_that_never_fires_fails_the_scenario(
    echo_server: Callable[..., EchoServer], ossl_fault_proxy: ProxyFactory
) -> None:
    server = echo_server()
    never = Drop(Select(direction=Role.SERVER, handshake_type="HelloRetryRequest"))
    proxy = ossl_fault_proxy(("127.0.0.1", server.port), faults=[never])
    conn = via(proxy)
    conn.do_handshake()
    close(conn)
    assert server.finish()[0] == 0
    proxy.wait(1)
    with pytest.raises(FaultNotFiredError, match="connection 0") as info:
        proxy.check_fired()
    assert [type(f) for f in info.value.faults] == [Drop]
    assert never.fired == 0  # the proxy's own copy is the one that counts


def test_a_fault_with_no_connection_at_all_did_not_fire(
    ossl_fault_proxy: ProxyFactory,
) -> None:
    proxy = ossl_fault_proxy(("127.0.0.1", 9), faults=[parse_fault("drop:any")])
    with pytest.raises(FaultNotFiredError, match="no connection"):
        proxy.check_fired()


def test_a_fault_that_cannot_apply_is_raised_when_the_proxy_closes(
    ossl_tls_server: Callable[..., TLSServer],
) -> None:
    server = ossl_tls_server()
    huge = Corrupt(Select(direction=Role.CLIENT, record=0), offset=100_000)
    proxy = FaultProxy(server.address, faults=[huge])
    with pytest.raises(RuntimeError, match="the fault proxy failed") as info, proxy:
        conn = via(proxy)
        with pytest.raises((UnexpectedEOFError, ProtocolError)):
            conn.do_handshake()
        conn.close()
    assert isinstance(info.value.__cause__, IndexError)
    (report,) = proxy.connections
    assert report.outcome == "error" and "IndexError" in (report.error or "")


def test_one_stalled_connection_does_not_hold_up_another(
    ossl_tls_server: Callable[..., TLSServer], ossl_fault_proxy: ProxyFactory
) -> None:
    server = ossl_tls_server()
    proxy = ossl_fault_proxy(server.address, timeout=TIMEOUT)
    stalled = socket.create_connection(proxy.address, timeout=TIMEOUT)
    stalled.sendall(bytes.fromhex("160301"))  # the start of a record header, then nothing
    results: list[str] = []

    def client() -> None:
        conn = via(proxy)
        conn.do_handshake()
        results.append(echo_round_trip(conn, b"meanwhile").decode())
        close(conn)

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert results == ["meanwhile"] * 3
    done = proxy.wait(3)
    assert sorted(r.index for r in done) == [1, 2, 3]  # the stalled one (0) is still open
    assert len({r.client.address for r in done}) == 3
    assert all(r.outcome == "closed" for r in done)
    stalled.close()  # its FIN goes to the server, which closes in turn
    reports = proxy.wait(4)
    assert reports[-1].index == 0 and reports[-1].outcome == "closed"
    assert reports[-1].client.received == 3 and reports[-1].client.records == 0


# ---- TCP: half-close, reset, the upstream vanishing -------------------------------------


def _tcp_server(
    handler: Callable[[socket.socket], None],
) -> tuple[tuple[str, int], threading.Thread]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)

    def serve() -> None:
        with listener:
            sock, _ = listener.accept()
            with sock:
                sock.settimeout(TIMEOUT)
                handler(sock)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return listener.getsockname()[:2], t


def _records(*payloads: bytes) -> bytes:
    return b"".join(bytes([23, 3, 3]) + len(p).to_bytes(2, "big") + p for p in payloads)


def test_half_close_passes_the_fin_on_and_keeps_the_other_direction_open(
    ossl_fault_proxy: ProxyFactory,
) -> None:
    def upstream(sock: socket.socket) -> None:
        got = b""
        while chunk := sock.recv(4096):  # until the client's FIN arrives
            got += chunk
        sock.sendall(got)  # the other direction still works

    addr, t = _tcp_server(upstream)
    proxy = ossl_fault_proxy(addr)
    data = _records(b"one", b"two")
    with socket.create_connection(proxy.address, timeout=TIMEOUT) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        back = b""
        while chunk := sock.recv(4096):
            back += chunk
    t.join(TIMEOUT)
    assert back == data
    (report,) = proxy.wait(1)
    assert report.outcome == "closed"
    assert report.client.closed == "fin" and report.server.eof_sent
    assert report.server.closed == "fin" and report.client.eof_sent
    assert report.client.records == report.server.records == 2


def test_a_reset_from_the_server_is_passed_on_as_a_reset(ossl_fault_proxy: ProxyFactory) -> None:
    def upstream(sock: socket.socket) -> None:
        sock.recv(4096)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST

    addr, t = _tcp_server(upstream)
    proxy = ossl_fault_proxy(addr)
    with socket.create_connection(proxy.address, timeout=TIMEOUT) as sock:
        sock.sendall(_records(b"hello"))
        with pytest.raises(ConnectionResetError):
            while sock.recv(4096):
                pass
    t.join(TIMEOUT)
    (report,) = proxy.wait(1)
    assert report.outcome == "reset"
    assert report.server.closed == "rst"


def test_upstream_that_refuses_is_reported_and_the_client_is_reset(
    ossl_fault_proxy: ProxyFactory,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as gone:
        port = gone.getsockname()[1]  # closed again: nothing listens there
    proxy = ossl_fault_proxy(("127.0.0.1", port))
    with (
        socket.create_connection(proxy.address, timeout=TIMEOUT) as sock,
        contextlib.suppress(ConnectionResetError),
    ):
        assert sock.recv(10) == b""
    (report,) = proxy.wait(1)
    assert report.outcome == "connect_failed"
    assert "refused" in (report.error or "").lower()


# ---- the C client, and C <-> C ----------------------------------------------------------


def test_c_client_through_the_proxy_to_our_server(
    tls_client_exe: Path, ossl_tls_server: Callable[..., TLSServer], ossl_fault_proxy: ProxyFactory
) -> None:
    server = ossl_tls_server()
    proxy = ossl_fault_proxy(server.address, policy=parse_policy("bytes"))
    rc, out, err = tls_client(
        tls_client_exe, proxy.port, "--cafile", str(certs.CA), "--send", "ping", "--expect", "ping"
    )
    assert rc == 0, err
    assert out.startswith("OK TLSv1.3 ")
    (served,) = server.wait(1)
    assert served.ok, served.error
    (report,) = proxy.wait(1)
    assert report.client.messages == ["ClientHello"]


def test_corrupt_c_client_finished_our_server_sends_bad_record_mac_the_c_client_gets_it(
    tls_client_exe: Path, ossl_tls_server: Callable[..., TLSServer], ossl_fault_proxy: ProxyFactory
) -> None:
    server = ossl_tls_server()
    proxy = ossl_fault_proxy(
        server.address, faults=[parse_fault("corrupt:client:type=application_data")]
    )
    rc, out, _ = tls_client(
        tls_client_exe, proxy.port, "--cafile", str(certs.CA), "--send", "x", "--expect", "x"
    )
    (served,) = server.wait(1)
    assert isinstance(served.error, ProtocolError)
    assert served.error.alert_sent == "bad_record_mac"
    assert rc == TLS_CLIENT_TLS_FAILED
    assert out.strip() == "FAIL " + alert_reason("bad record mac")
    proxy.wait(1)
    proxy.check_fired()


def test_c_client_and_c_server_through_the_proxy_one_record_per_segment(
    tls_client_exe: Path, echo_server: Callable[..., EchoServer], ossl_fault_proxy: ProxyFactory
) -> None:
    server = echo_server()
    proxy = ossl_fault_proxy(("127.0.0.1", server.port), policy=parse_policy("records"))
    rc, out, err = tls_client(
        tls_client_exe, proxy.port, "--cafile", str(certs.CA), "--send", "c2c", "--expect", "c2c"
    )
    assert rc == 0, err
    src, sout, serr = server.finish()
    assert src == 0, serr
    assert sout == out.strip()  # both print "OK <version> <cipher>"
    (report,) = proxy.wait(1)
    assert len(report.segments) == report.client.records + report.server.records


def test_c_server_sees_the_c_client_corrupted_finished(
    tls_client_exe: Path, echo_server: Callable[..., EchoServer], ossl_fault_proxy: ProxyFactory
) -> None:
    server = echo_server()
    proxy = ossl_fault_proxy(
        ("127.0.0.1", server.port), faults=[parse_fault("corrupt:client:type=application_data")]
    )
    rc, out, _ = tls_client(
        tls_client_exe, proxy.port, "--cafile", str(certs.CA), "--send", "x", "--expect", "x"
    )
    assert rc == TLS_CLIENT_TLS_FAILED
    assert out.strip() == "FAIL " + alert_reason("bad record mac")
    assert server_failure(server) == "FAIL decryption failed or bad record mac"
    proxy.wait(1)
    proxy.check_fired()


# ---- openssl s_server / s_client --------------------------------------------------------


def test_our_client_through_the_proxy_to_openssl_s_server_with_a_corrupted_record(
    ossl_fault_proxy: ProxyFactory,
) -> None:
    ident = certs.SERVER_ECDSA
    server = SServer(openssl_cli(), "-cert", str(ident.cert), "-key", str(ident.key))
    try:
        proxy = ossl_fault_proxy(
            ("127.0.0.1", server.port),
            faults=[parse_fault("corrupt:server:type=application_data:record=2")],
        )
        err = fail_handshake(via(proxy))
        assert err.alert_sent == "bad_record_mac"
        _, out, serr = server.finish()
        assert "bad record mac" in out + serr
        (report,) = proxy.wait(1)
        assert report.faults[0].fired == 1
    finally:
        server.kill()


def test_openssl_s_client_through_the_proxy_to_our_server(
    ossl_tls_server: Callable[..., TLSServer], ossl_fault_proxy: ProxyFactory
) -> None:
    server = ossl_tls_server()
    proxy = ossl_fault_proxy(server.address, policy=parse_policy("split=3"))
    proc = subprocess.Popen(
        [
            openssl_cli(),
            "s_client",
            "-connect",
            f"127.0.0.1:{proxy.port}",
            "-servername",
            "localhost",
            "-CAfile",
            str(certs.CA),
            "-verify_return_error",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write(b"echo me\n")
        proc.stdin.flush()
        assert b"echo me\n" in read_until(proc, b"echo me\n")
        proc.communicate(timeout=TIMEOUT)  # stdin EOF: s_client closes
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=TIMEOUT)
    (served,) = server.wait(1)
    assert served.result is not None and served.result.finished
    # s_client ends on stdin EOF; whether it sends close_notify first differs by version.
    assert served.error is None or isinstance(served.error, UnexpectedEOFError)
    (report,) = proxy.wait(1)
    assert min(len(d) for _, _, d in report.segments) <= 3


# ---- the pcapng of what crossed ----------------------------------------------------------


def test_pcapng_of_the_proxied_connections_has_one_tcp_stream_each(
    tmp_path: Path, ossl_tls_server: Callable[..., TLSServer], ossl_fault_proxy: ProxyFactory
) -> None:
    server = ossl_tls_server()
    proxy = ossl_fault_proxy(server.address)
    for _ in range(2):
        conn = via(proxy)
        conn.do_handshake()
        echo_round_trip(conn, b"x")
        close(conn)
    reports = proxy.wait(2)
    frames = proxy.write_pcapng(tmp_path / "proxy.pcapng")
    data = (tmp_path / "proxy.pcapng").read_bytes()
    assert data[:4] == b"\x0a\x0d\x0d\x0a"
    segments = sum(len(r.segments) for r in reports)
    assert frames == segments + 2 * 6  # each stream: 3-way handshake and FIN/FIN/ACK
