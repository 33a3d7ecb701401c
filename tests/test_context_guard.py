"""A shared Context under threads: its SSL_CTX lives in a guard, settings OpenSSL
forbids changing in use are refused while connections are open, and every
connection keeps the callbacks (verify, key log) it was created with.

The race tests run a bounded stress loop; faulthandler (on by default under
pytest) prints the C stack if one of them crashes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ossl_handshake import (
    ClosedError,
    Connection,
    Context,
    ContextInUseError,
    certs,
    handshake,
    memory_pair,
)
from tests._contexts import client, run, server

pytestmark = pytest.mark.timeout(120)

ITERATIONS = 200
THREADS = 4
#: TLS 1.3 key log lines per connection (two handshake, two traffic, exporter).
TLS13_LINES = 5


def _client_random(line: str) -> str:
    return line.split()[1]


def _threads(target: Callable[[], None], n: int = THREADS) -> list[threading.Thread]:
    ts = [threading.Thread(target=target) for _ in range(n)]
    for t in ts:
        t.start()
    return ts


# -- close racing creation -------------------------------------------------------------


def test_context_closed_while_other_threads_create_connections_never_crashes() -> None:
    errors: list[BaseException] = []
    for _ in range(ITERATIONS // 4):
        ctx = client()
        start = threading.Barrier(THREADS + 1)
        made: list[Connection] = []

        def create(
            ctx: Context = ctx, start: threading.Barrier = start, made: list[Connection] = made
        ) -> None:
            start.wait()
            for _ in range(8):
                try:
                    made.append(Connection(ctx))
                except ClosedError:
                    return  # the context was closed first: the one allowed outcome
                except BaseException as exc:
                    errors.append(exc)
                    return

        ts = _threads(create)
        start.wait()
        ctx.close()
        for t in ts:
            t.join()
        for conn in made:  # made before the close: they hold their own SSL_CTX reference
            assert not conn.closed
            conn.close()
    assert errors == []


def test_connections_keep_working_after_their_context_is_closed() -> None:
    cctx, sctx = client(), server()
    c, s = memory_pair(cctx, sctx, server_name="localhost")
    cctx.close()
    sctx.close()
    result = handshake(c, s)
    assert result.client.verify_result == 0
    with pytest.raises(ClosedError):
        Connection(cctx)


# -- settings refused while in use ----------------------------------------------------

REFUSED: dict[str, Callable[[Context], object]] = {
    "load_cert_chain": lambda ctx: ctx.load_cert_chain(
        certs.SERVER_ECDSA.cert, certs.SERVER_ECDSA.key
    ),
    "load_verify_locations": lambda ctx: ctx.load_verify_locations(certs.CA),
    "set_verify": lambda ctx: ctx.set_verify(False),
    "min_version": lambda ctx: setattr(ctx, "min_version", "1.2"),
    "max_version": lambda ctx: setattr(ctx, "max_version", "1.3"),
    "set_ciphers": lambda ctx: ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256"),
    "set_ciphersuites": lambda ctx: ctx.set_ciphersuites("TLS_AES_128_GCM_SHA256"),
    "set_groups": lambda ctx: ctx.set_groups("X25519"),
    "set_sigalgs": lambda ctx: ctx.set_sigalgs("ECDSA+SHA256"),
    "security_level": lambda ctx: setattr(ctx, "security_level", 1),
    "set_options": lambda ctx: ctx.set_options(0),
    "clear_options": lambda ctx: ctx.clear_options(0),
    "num_tickets": lambda ctx: setattr(ctx, "num_tickets", 1),
    "session_cache": lambda ctx: setattr(ctx, "session_cache", 2),
    "set_alpn_select": lambda ctx: ctx.set_alpn_select(["h2"]),
    "set_servername_callback": lambda ctx: ctx.set_servername_callback(None),
    "set_new_session_callback": lambda ctx: ctx.set_new_session_callback(None),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_setting_a_server_context_with_an_open_connection_is_refused_until_it_closes(
    name: str,
) -> None:
    ctx = server()
    conn = Connection(ctx)
    with pytest.raises(ContextInUseError, match=name):
        REFUSED[name](ctx)
    conn.close()
    REFUSED[name](ctx)  # allowed again


def test_set_alpn_protocols_on_a_client_with_an_open_connection_is_refused() -> None:
    ctx = client()
    conn = Connection(ctx)
    with pytest.raises(ContextInUseError):
        ctx.set_alpn_protocols(["h2"])
    del conn  # collected: it no longer counts
    ctx.set_alpn_protocols(["h2"])


def test_load_cert_chain_during_handshakes_in_other_threads_is_refused_not_a_crash() -> None:
    sctx, cctx = server(), client()
    stop = threading.Event()
    failures: list[BaseException] = []

    def handshakes() -> None:
        try:
            while not stop.is_set():
                result = run(cctx, sctx)
                assert result.error is None, result.error
        except BaseException as exc:
            failures.append(exc)
            stop.set()

    ts = _threads(handshakes)
    outcomes = {"refused": 0, "loaded": 0}
    try:
        for _ in range(ITERATIONS):
            try:
                sctx.load_cert_chain(certs.SERVER_ECDSA.cert, certs.SERVER_ECDSA.key)
                outcomes["loaded"] += 1
            except ContextInUseError:
                outcomes["refused"] += 1
    finally:
        stop.set()
        for t in ts:
            t.join()
    assert failures == []
    assert sum(outcomes.values()) == ITERATIONS


def test_a_context_switched_to_by_sni_counts_as_in_use() -> None:
    alt = server(certs.SNI_ALT)
    main = server(servername_callback=lambda conn, name: alt)
    c, s = memory_pair(client(), main, server_name="alt.localhost", verify_host=False)
    handshake(c, s)
    assert s.active_context is alt
    with pytest.raises(ContextInUseError):
        alt.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    s.close()
    alt.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")


# -- callbacks stay those a connection was created with --------------------------------


def test_set_verify_callback_none_after_a_connection_was_made_leaves_its_callback() -> None:
    seen: list[int] = []

    def record(conn: Connection, ok: bool, depth: int, err: int, der: bytes) -> bool:
        seen.append(depth)
        return ok

    cctx = client(verify_callback=record)
    c, s = memory_pair(cctx, server(), server_name="localhost")
    cctx.set_verify_callback(None)
    result = handshake(c, s)
    assert result.client.verify_result == 0
    assert seen, "the connection's verify callback was not called"
    # A connection created now has no callback.
    seen.clear()
    run(cctx, server())
    assert seen == []


def test_keylog_changed_after_creation_goes_to_the_writer_the_connection_was_created_with() -> None:
    first: list[str] = []
    second: list[str] = []
    cctx = client(keylog=first.append)
    c, s = memory_pair(cctx, server(), server_name="localhost")
    cctx.set_keylog(second.append)
    c2, s2 = memory_pair(cctx, server(), server_name="localhost")
    cctx.set_keylog(None)
    handshake(c, s)
    handshake(c2, s2)
    assert len(first) == len(second) == TLS13_LINES
    assert {_client_random(x) for x in first}.isdisjoint(_client_random(x) for x in second)


def test_keylog_toggled_while_four_threads_handshake_delivers_each_line_to_its_writer() -> None:
    cctx, sctx = client(), server()
    writers: list[list[tuple[int, str]]] = [[] for _ in range(3)]

    def writer(k: int) -> Callable[[str], None]:
        return lambda line: writers[k].append((k, line))

    fns = [writer(k) for k in range(len(writers))]
    stop = threading.Event()
    failures: list[BaseException] = []

    def handshakes() -> None:
        try:
            while not stop.is_set():
                result = run(cctx, sctx)
                assert result.error is None, result.error
        except BaseException as exc:
            failures.append(exc)
            stop.set()

    ts = _threads(handshakes)
    try:
        for i in range(ITERATIONS):
            cctx.set_keylog(fns[i % len(fns)] if i % 4 else None)
    finally:
        stop.set()
        for t in ts:
            t.join()
    assert failures == []
    by_random: dict[str, set[int]] = {}
    counts: dict[str, int] = {}
    for lines in writers:
        for k, line in lines:
            r = _client_random(line)
            by_random.setdefault(r, set()).add(k)
            counts[r] = counts.get(r, 0) + 1
    # Every connection's lines went to one writer, and all of them did.
    assert all(len(ks) == 1 for ks in by_random.values())
    assert set(counts.values()) <= {TLS13_LINES}


def test_keylog_lines_after_an_sni_switch_go_to_the_connections_writer() -> None:
    lines: list[str] = []
    alt = server(certs.SNI_ALT)
    main = server(servername_callback=lambda conn, name: alt, keylog=lines.append)
    c, s = memory_pair(client(), main, server_name="alt.localhost", verify_host=False)
    handshake(c, s)
    assert s.active_context is alt
    assert len(lines) == TLS13_LINES


def test_keylog_path_context_closed_before_the_handshake_still_logs(tmp_path: Path) -> None:
    path = tmp_path / "keys.log"
    cctx = client(keylog=path)
    c, s = memory_pair(cctx, server(), server_name="localhost")
    cctx.close()
    result = handshake(c, s)  # no CallbackError from a writer whose file was closed
    assert result.client.verify_result == 0
    assert len(path.read_text().splitlines()) == TLS13_LINES
