"""Threads: many handshakes at once on shared contexts, and one connection raced by two threads.

Every ``SSL_do_handshake`` runs without the GIL (docs/architecture.md, rule 10) and each
thread has its own OpenSSL error queue; the glue clears and drains that queue
around each call, so one thread's failure must never show up in another
thread's result. A :class:`Connection` itself is single-caller: libssl has
no locking inside an ``SSL`` or a BIO pair, so a second thread entering the
same connection gets ``RuntimeError`` instead of a crash.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from ossl_handshake import (
    CertificateVerifyError,
    Connection,
    Context,
    ProtocolError,
    SSLError,
    certs,
    handshake,
    memory_pair,
)
from ossl_handshake.testing.plugin import make_client_context, make_server_context

pytestmark = pytest.mark.timeout(60)

THREADS = 8
ROUNDS = 24  # handshakes per thread, half of them failing on purpose


@dataclass(frozen=True)
class Case:
    """One kind of handshake and how its outcome must look."""

    name: str
    client_ctx: Context
    server_name: str
    check: Callable[[SSLError | None], None]


def _ok(err: SSLError | None) -> None:
    assert err is None, f"a succeeding handshake reported {err!r}"


def _wrong_host(err: SSLError | None) -> None:
    assert isinstance(err, CertificateVerifyError), repr(err)
    assert err.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH


def _untrusted(err: SSLError | None) -> None:
    assert isinstance(err, CertificateVerifyError), repr(err)
    assert err.verify_code in (19, 20)  # self-signed in chain / unable to get local issuer


def _old_version(err: SSLError | None) -> None:
    assert isinstance(err, ProtocolError) and not isinstance(err, CertificateVerifyError)
    reasons = " ".join(r.reason for r in err.errors)
    assert "protocol" in reasons or "version" in reasons, reasons


@pytest.fixture(scope="module")
def cases(ossl_client_context: Context, tls12_client_context: Context) -> list[Case]:
    untrusting = make_client_context(cafile=certs.UNTRUSTED_CA)
    tls12_only = tls12_client_context
    return [
        Case("ok", ossl_client_context, "localhost", _ok),
        Case("wrong-host", ossl_client_context, "other.example", _wrong_host),
        Case("untrusted", untrusting, "localhost", _untrusted),
        Case("old-version", tls12_only, "localhost", _old_version),
    ]


@pytest.fixture(scope="module")
def tls13_server() -> Context:
    return make_server_context(min_version="1.3")


def _run_threads(target: Callable[[int], None], n: int) -> list[BaseException]:
    errors: list[BaseException] = []
    lock = threading.Lock()

    def wrap(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # collected and reported by the test
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(50)
        assert not t.is_alive(), "a handshake thread hung"
    return errors


def test_threads_interleaving_failing_and_succeeding_handshakes_see_only_their_own_errors(
    cases: list[Case], tls13_server: Context
) -> None:
    outcomes: dict[str, int] = {c.name: 0 for c in cases}
    count_lock = threading.Lock()

    def worker(i: int) -> None:
        for r in range(ROUNDS):
            case = cases[(i + r) % len(cases)]  # neighbours fail differently at the same time
            client, server = memory_pair(
                case.client_ctx, tls13_server, server_name=case.server_name
            )
            with client, server:
                result = handshake(client, server, check=False)
                case.check(result.error)
                if result.error is None:
                    assert result.client.version == "TLSv1.3"
                    # the connection still works after the handshake: data both ways
                    client.write(b"ping %d" % i)
                    client.transfer_to(server)
                    assert server.read() == b"ping %d" % i
            with count_lock:
                outcomes[case.name] += 1

    errors = _run_threads(worker, THREADS)
    assert not errors, errors[:3]
    assert sum(outcomes.values()) == THREADS * ROUNDS
    assert all(outcomes.values()), outcomes


def test_threads_handshake_over_loopback_sockets_sharing_contexts(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(20)
    port = listener.getsockname()[1]
    n_clients, per_client = 6, 4

    def serve() -> None:
        for _ in range(n_clients * per_client):
            sock, _ = listener.accept()
            sock.settimeout(20)
            with sock, Connection(ossl_server_context, sock=sock) as server:
                try:
                    server.do_handshake()
                    server.write(server.read())
                except (SSLError, OSError):
                    pass  # the client side asserts on the outcome

    def client(i: int) -> None:
        for r in range(per_client):
            host = "localhost" if (i + r) % 2 == 0 else "wrong.example"
            with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
                conn = Connection(ossl_client_context, sock=sock, server_name=host)
                with conn:
                    if host == "localhost":
                        conn.do_handshake()
                        conn.write(b"hello %d/%d" % (i, r))
                        assert conn.read() == b"hello %d/%d" % (i, r)
                    else:
                        with pytest.raises(CertificateVerifyError) as info:
                            conn.do_handshake()
                        assert info.value.verify_code == 62

    server_thread = threading.Thread(target=serve, daemon=True)
    server_thread.start()
    try:
        errors = _run_threads(client, n_clients)
    finally:
        server_thread.join(30)
        listener.close()
    assert not errors, errors[:3]
    assert not server_thread.is_alive()


def test_one_connection_raced_by_two_threads_raises_instead_of_crashing(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    """Two threads hammer one pair; every collision is a clean RuntimeError."""
    busy = 0
    for _ in range(20):
        client, server = memory_pair(
            ossl_client_context, ossl_server_context, server_name="localhost"
        )
        start = threading.Barrier(2)

        def hammer(conn: Connection, peer: Connection, start: threading.Barrier = start) -> None:
            nonlocal busy
            start.wait(5)
            for _ in range(300):
                try:
                    conn.step()
                    conn.transfer_to(peer)
                    peer.step()
                    peer.transfer_to(conn)
                except RuntimeError as exc:
                    assert "in use by another thread" in str(exc)
                    busy += 1

        t = threading.Thread(target=hammer, args=(client, server), daemon=True)
        t.start()
        hammer(server, client)
        t.join(20)
        assert not t.is_alive()
        # Whatever interleaving happened, both objects are intact and no byte was
        # lost: one thread finishes the handshake from wherever the race left it.
        # (The race alone need not finish it: a thread can spend all its rounds
        # refused while the other is inside a signing step.)
        result = handshake(client, server)
        assert result.ok, result.error
        assert client.is_init_finished and server.is_init_finished
        client.close()
        server.close()
    # How often the threads collided depends on scheduling (see docs/reliability.md);
    # the assertions are that each collision was a clean RuntimeError and nothing broke.
    print(f"collisions refused: {busy}")


def test_close_from_another_thread_during_a_blocking_handshake_is_refused(
    ossl_client_context: Context,
) -> None:
    """close() while a thread is inside SSL_do_handshake would free the SSL under it."""
    a, b = socket.socketpair()
    with a, b:
        client = Connection(ossl_client_context, sock=a, server_name="localhost")
        started = threading.Event()
        outcome: list[BaseException] = []

        def run() -> None:
            started.set()
            try:
                client.do_handshake()  # blocks in C: b never answers
            except BaseException as exc:
                outcome.append(exc)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        started.wait(5)
        # Wait until the ClientHello is out, i.e. the thread is inside libssl.
        b.settimeout(10)
        assert b.recv(5)[:1] == b"\x16"
        with pytest.raises(RuntimeError, match="in use by another thread"):
            client.close()
        with pytest.raises(RuntimeError, match="in use by another thread"):
            client.step()
        b.close()  # EOF ends the blocked handshake
        t.join(10)
        assert not t.is_alive()
        assert outcome and isinstance(outcome[0], SSLError)
        client.close()  # now it is free
        assert client.closed
