"""Socket handshakes you can see: ``Connection(ctx, sock=s, visible=True)`` against real processes.

The SSL runs on a memory BIO pair that Python pumps to the socket through a
``Wire``: a ``Trace`` records both directions, the ladder names the remote
peer's messages from its records (the encrypted ones with the key log), and
the pcapng decrypts in tshark. The socket's timeout, close and signal rules
hold as in the plain socket mode.
"""

from __future__ import annotations

import select
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest

from ossl_handshake import (
    BusyError,
    ClosedError,
    Connection,
    ProtocolError,
    Role,
    Select,
    SyscallError,
    Trace,
    WantReadError,
    Wire,
    ZeroReturnError,
    certs,
    ladder,
)
from ossl_handshake.observe.decrypt import KeyLog
from ossl_handshake.wire import BYTES, CloseAfter, TruncateMessage
from tests._contexts import client
from tests._peers import (
    TIMEOUT,
    EchoServer,
    SServer,
    openssl_cli,
    s_server_identity,
    tshark_fields,
)

pytestmark = pytest.mark.timeout(60)

ENCRYPTED_FLIGHT = "EncryptedExtensions, Certificate, CertificateVerify, Finished"
TSHARK = shutil.which("tshark")


def connect(port: int, timeout: float | None = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.settimeout(timeout)
    return sock


def traced_client(sock: socket.socket, trace: Trace, **kw: object) -> Connection:
    """Our TLS 1.3 client in visible mode, its secrets and flights in ``trace``."""
    ctx = client(max_version="1.3")
    ctx.set_keylog(trace.keylog_line)
    conn = Connection(ctx, sock=sock, server_name="localhost", visible=True, **kw)  # type: ignore[arg-type]
    trace.attach(conn)
    return conn


@pytest.fixture
def s_server() -> Iterator[SServer]:
    server = SServer(openssl_cli(), *s_server_identity(certs.SERVER_ECDSA), "-tls1_3")
    yield server
    server.kill()


def test_a_visible_handshake_with_s_server_draws_the_servers_encrypted_messages(
    s_server: SServer, tmp_path: Path
) -> None:
    trace = Trace()
    with connect(s_server.port) as sock, traced_client(sock, trace) as conn:
        conn.do_handshake(on_step=trace.step_recorder(conn))
        conn.write(b"hello s_server\n")
        conn.shutdown()
    text = ladder.render_text(trace)
    assert "ServerHello, ChangeCipherSpec, " + ENCRYPTED_FLIGHT.split(",")[0] in text
    labels = [f.labels for f in ladder.flights(trace) if isinstance(f, ladder.Flight)]
    server_flight = next(lab for lab in labels if "ServerHello" in lab)
    assert server_flight[2:] == tuple(ENCRYPTED_FLIGHT.split(", "))
    assert "client done" in text
    assert [t.side for t in trace.transfers][:3] == [Role.CLIENT, Role.SERVER, Role.CLIENT]


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
def test_the_pcapng_of_a_visible_handshake_decrypts_in_tshark(
    s_server: SServer, tmp_path: Path
) -> None:
    trace = Trace()
    with connect(s_server.port) as sock, traced_client(sock, trace) as conn:
        conn.do_handshake()
        conn.write(b"GET / seen by tshark\n")
        conn.shutdown()
    cap = tmp_path / "visible.pcapng"
    trace.write_pcapng(cap)
    out = tshark_fields(cap, "tls", "tls.handshake.type")
    types = {int(t) for line in out.split() for t in line.split(",") if t}
    assert {1, 2, 8, 11, 15, 20} <= types
    # Without the embedded secrets only the hellos are readable.
    bare = tmp_path / "bare.pcapng"
    trace.write_pcapng(bare, secrets=False)
    out = tshark_fields(bare, "tls", "tls.handshake.type")
    assert {int(t) for line in out.split() for t in line.split(",") if t} == {1, 2}


def test_against_the_c_echo_server_the_ladder_and_the_wire_see_every_flight(
    keylogged_echo_server: Callable[..., EchoServer],
) -> None:
    server = keylogged_echo_server()
    trace = Trace()
    wire = Wire(keys=KeyLog(path=server.keylog))
    with connect(server.port) as sock, traced_client(sock, trace, wire=wire) as conn:
        assert conn.visible and conn.wire is wire
        conn.do_handshake(on_step=trace.step_recorder(conn))
        conn.write(b"ping")
        assert conn.read(100) == b"ping"
        conn.shutdown()
    assert server.finish()[0] == 0
    text = ladder.render_text(trace)
    server_flights = [
        f.labels
        for f in ladder.flights(trace)
        if isinstance(f, ladder.Flight) and f.side is Role.SERVER
    ]
    assert server_flights[0][2:] == tuple(ENCRYPTED_FLIGHT.split(", "))
    assert "application_data (1 record)" in text  # the echo, decrypted from its record
    server_names = [n for r in wire.records[Role.SERVER] for n in r.handshake_types]
    assert server_names[:5] == ["ServerHello", *ENCRYPTED_FLIGHT.split(", ")]
    sent = sum(len(d) for side, d in wire.deliveries if side is Role.CLIENT)
    assert sent == sum(t.length for t in trace.transfers if t.side is Role.CLIENT)


def test_without_keys_the_remote_flight_is_drawn_as_encrypted_records(
    keylogged_echo_server: Callable[..., EchoServer],
) -> None:
    server = keylogged_echo_server()
    trace = Trace()  # no key log lines: our context logs nowhere
    with connect(server.port) as sock:
        conn = Connection(client(), sock=sock, server_name="localhost", visible=True)
        trace.attach(conn)
        conn.do_handshake()
        conn.shutdown()
        conn.close()
    server_flight = next(
        f.labels
        for f in ladder.flights(trace)
        if isinstance(f, ladder.Flight) and f.side is Role.SERVER
    )
    assert server_flight[0] == "ServerHello"
    assert server_flight[-1].startswith("encrypted (")


def test_a_message_fault_between_us_and_a_c_server(
    keylogged_echo_server: Callable[..., EchoServer],
) -> None:
    server = keylogged_echo_server()
    cut = TruncateMessage(Select(direction=Role.SERVER, handshake_type="EncryptedExtensions"))
    wire = Wire([cut], keys=KeyLog(path=server.keylog))
    with connect(server.port) as sock:
        conn = Connection(client(), sock=sock, server_name="localhost", visible=True, wire=wire)
        with pytest.raises(ProtocolError) as failure:
            conn.do_handshake()
        assert conn.alert_sent == "decode_error", failure.value
        conn.close()
    assert cut.fired == 1
    status, out, _ = server.finish()
    assert status == 2 and "FAIL" in out  # the C server got our alert


# ---- the socket rules in visible mode --------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A listener that accepts (in the kernel) and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def test_a_visible_handshake_times_out_on_a_silent_peer(silent_server: int) -> None:
    with connect(silent_server, timeout=0.2) as sock:
        conn = Connection(client(), sock=sock, server_name="localhost", visible=True)
        with pytest.raises(TimeoutError, match="handshake timed out"):
            conn.do_handshake()
        assert conn.wire is not None and conn.wire.records[Role.CLIENT][0].handshake_types == (
            "ClientHello",
        )
        conn.close()


def test_a_non_blocking_visible_socket_surfaces_want_read_to_a_select_loop(
    s_server: SServer,
) -> None:
    trace = Trace()
    with connect(s_server.port, timeout=0.0) as sock, traced_client(sock, trace) as conn:
        wants = 0
        for _ in range(200):
            try:
                conn.do_handshake()
                break
            except WantReadError:
                wants += 1
                assert select.select([sock], [], [], TIMEOUT)[0]
        assert conn.is_init_finished and conn.version == "TLSv1.3"
        assert wants < 200


def test_a_non_blocking_visible_socket_raises_want_read_while_the_peer_is_silent(
    silent_server: int,
) -> None:
    with connect(silent_server, timeout=0.0) as sock:
        conn = Connection(client(), sock=sock, server_name="localhost", visible=True)
        for _ in range(2):  # again and again: nothing arrives, nothing is sent twice
            with pytest.raises(WantReadError):
                conn.do_handshake()
        assert conn.wire is not None and len(conn.wire.records[Role.CLIENT]) == 1
        conn.close()


def _handshake_waiting_in_thread(conn: Connection) -> tuple[threading.Thread, list[BaseException]]:
    """``conn.do_handshake()`` on a thread, returned once the ClientHello went out and
    the pump waits; what it raises goes to the list."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            conn.do_handshake()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    while conn.wire is not None and not conn.wire.records[Role.CLIENT]:
        t.join(0.01)
    return t, errors


def test_close_from_another_thread_wakes_a_blocking_visible_handshake(silent_server: int) -> None:
    with connect(silent_server, timeout=None) as sock:
        conn = Connection(client(), sock=sock, server_name="localhost", visible=True)
        t, errors = _handshake_waiting_in_thread(conn)
        conn.close()  # never BusyError: the wait is outside libssl
        t.join(TIMEOUT)
        assert not t.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], ClosedError)


class Tick(Exception):
    pass


@pytest.mark.timeout(60, method="thread")
def test_signals_during_a_blocking_visible_wait(silent_server: int) -> None:
    seen: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)
        if len(seen) == 2:
            raise Tick  # the second one propagates

    saved = signal.signal(signal.SIGALRM, handler)
    try:
        with connect(silent_server, timeout=None) as sock:
            conn = Connection(client(), sock=sock, server_name="localhost", visible=True)
            signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
            with pytest.raises(Tick):
                conn.do_handshake()  # the first signal's handler returned: still waiting
            signal.setitimer(signal.ITIMER_REAL, 0)
            assert len(seen) == 2
            conn.timeout = 0.1  # the connection is still usable
            with pytest.raises(TimeoutError):
                conn.do_handshake()
            conn.close()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, saved)


def test_a_plain_socket_trace_refuses_a_ladder_and_a_capture(
    s_server: SServer, tmp_path: Path
) -> None:
    trace = Trace()
    with connect(s_server.port) as sock:
        conn = Connection(client(), sock=sock, server_name="localhost")
        trace.attach(conn)
        conn.do_handshake(on_step=trace.step_recorder(conn))
        with pytest.raises(ValueError, match="visible"):
            conn.on_transfer = trace.on_transfer
        conn.close()
    with pytest.raises(ValueError, match=r"visible=True"):
        ladder.render_text(trace)
    with pytest.raises(ValueError, match=r"no transfers: .*visible=True"):
        trace.write_pcapng(tmp_path / "plain.pcapng")


def test_visible_mode_arguments_are_checked() -> None:
    ctx = client()
    with pytest.raises(ValueError, match="needs sock"):
        Connection(ctx, visible=True)
    with pytest.raises(ValueError, match="needs visible=True"):
        Connection(ctx, wire=Wire())
    a, b = socket.socketpair()
    with a, b:
        with pytest.raises(TypeError, match="visible must be a bool"):
            Connection(ctx, sock=a, visible="yes")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="wire must be a Wire"):
            Connection(ctx, sock=a, visible=True, wire=object())  # type: ignore[arg-type]
        plain = Connection(ctx, sock=a)
        assert not plain.visible and plain.wire is None and plain.on_transfer is None
        plain.close()


def test_our_server_in_visible_mode_draws_a_c_clients_flights(tls_client_exe: Path) -> None:
    from tests._contexts import server as server_context

    trace = Trace()
    ctx = server_context()
    ctx.set_keylog(trace.keylog_line)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        proc = subprocess.Popen(
            [
                str(tls_client_exe),
                "--connect",
                f"127.0.0.1:{port}",
                "--cafile",
                str(certs.CA),
                "--servername",
                "localhost",
                "--send",
                "from C",
                "--expect",
                "from C",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        listener.settimeout(TIMEOUT)
        accepted, _ = listener.accept()
    with accepted:
        accepted.settimeout(10)
        with Connection(ctx, sock=accepted, visible=True) as conn:
            trace.attach(conn)
            conn.do_handshake(on_step=trace.step_recorder(conn))
            conn.write(conn.read(100))  # echo
            with pytest.raises(ZeroReturnError):
                conn.read(100)
            conn.shutdown()
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, (out, err)
    client_flights = [
        f.labels
        for f in ladder.flights(trace)
        if isinstance(f, ladder.Flight) and f.side is Role.CLIENT
    ]
    assert client_flights[0] == ("ClientHello",)
    assert "Finished" in client_flights[1]  # the C client's encrypted Finished, decrypted
    assert "application_data (1 record)" in client_flights[2]


def test_a_second_thread_gets_busy_while_a_visible_call_waits(silent_server: int) -> None:
    with connect(silent_server, timeout=None) as sock:
        conn = Connection(client(), sock=sock, server_name="localhost", visible=True)
        t, errors = _handshake_waiting_in_thread(conn)
        with pytest.raises(BusyError):
            conn.do_handshake()
        conn.close()
        t.join(TIMEOUT)
        assert len(errors) == 1 and isinstance(errors[0], ClosedError)


def test_byte_at_a_time_delivery_both_ways_against_s_server(s_server: SServer) -> None:
    wire = Wire(policy=BYTES)
    with connect(s_server.port) as sock:
        conn = Connection(client(), sock=sock, server_name="localhost", visible=True, wire=wire)
        conn.do_handshake()
        assert conn.version == "TLSv1.3"
        # Every byte from the server went to our SSL in its own BIO_write.
        received = [d for side, d in wire.deliveries if side is Role.SERVER]
        assert received and all(len(d) == 1 for d in received)
        conn.close()


def test_close_after_shuts_our_side_and_the_c_server_sees_eof(
    keylogged_echo_server: Callable[..., EchoServer],
) -> None:
    server = keylogged_echo_server()
    cut = CloseAfter(Role.CLIENT, 10)
    with connect(server.port) as sock:
        conn = Connection(
            client(), sock=sock, server_name="localhost", visible=True, wire=Wire([cut])
        )
        # The server gives up on a 10-byte ClientHello: an alert (3.x sends
        # decode_error) or a plain close, depending on its OpenSSL.
        with pytest.raises((ProtocolError, SyscallError)):
            conn.do_handshake()
        conn.close()
    assert cut.fired == 1
    status, out, _ = server.finish()
    assert status == 2 and out.splitlines()[-1].startswith("FAIL")
