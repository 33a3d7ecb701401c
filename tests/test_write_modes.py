"""Write modes: accept-moving-write-buffer (on by default) and partial writes.

``write()`` is ``SSL_write_ex``: without ``ENABLE_PARTIAL_WRITE`` it returns
only when everything was written, and a ``WantWriteError`` in between must be
retried with the same data; with ``ACCEPT_MOVING_WRITE_BUFFER`` "the same"
may be an equal copy at another address (what Python callers always pass).
With ``ENABLE_PARTIAL_WRITE`` it returns after each record. In memory on a
full BIO pair, and over a TCP socket to ``openssl s_server`` that stops reading.
"""

from __future__ import annotations

import os
import selectors
import socket
import threading
import time

import pytest

from ossl_handshake import (
    Connection,
    Context,
    ContextInUseError,
    Mode,
    SSLError,
    WantReadError,
    WantWriteError,
    certs,
    handshake,
    memory_pair,
)
from tests._contexts import client, server
from tests._peers import SServer, openssl_cli, s_server_identity

pytestmark = pytest.mark.timeout(60)

DATA = bytes(range(256)) * 256  # 64 KiB: four records, more than the 17 KiB BIO holds


def fill(c: Connection) -> WantWriteError:
    """Write DATA on a client whose peer reads nothing: the BIO pair fills up."""
    with pytest.raises(WantWriteError) as info:
        c.write(DATA)
    return info.value


def drain(c: Connection, s: Connection, out: bytearray) -> None:
    """Move what the client wrote to the server and read all of it there."""
    c.transfer_to(s)
    while True:
        try:
            out += s.read(65536)
        except WantReadError:
            return


def copy(data: bytes) -> bytes:
    """An equal bytes object at another address."""
    other = bytes(bytearray(data))
    assert other == data and other is not data
    return other


def test_accept_moving_write_buffer_is_on_by_default() -> None:
    assert Mode.ACCEPT_MOVING_WRITE_BUFFER in client().mode
    assert Mode.ENABLE_PARTIAL_WRITE not in client().mode
    off = client(accept_moving_write_buffer=False)
    assert Mode.ACCEPT_MOVING_WRITE_BUFFER not in off.mode


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_retry_with_an_equal_copy_after_want_write_succeeds(version: str) -> None:
    c, s = memory_pair(client(max_version=version), server(), server_name="localhost")
    handshake(c, s)
    fill(c)
    got = bytearray()
    for _ in range(20):  # each retry moves what fits, until all of DATA is out
        drain(c, s, got)
        try:
            written = c.write(copy(DATA))
        except WantWriteError:
            continue
        break
    else:
        pytest.fail("write never completed")
    assert written == len(DATA)
    drain(c, s, got)
    assert bytes(got) == DATA


def test_without_the_mode_a_retry_with_a_copy_is_bad_write_retry() -> None:
    c, s = memory_pair(client(accept_moving_write_buffer=False), server(), server_name="localhost")
    handshake(c, s)
    fill(c)
    drain(c, s, bytearray())
    with pytest.raises(SSLError) as info:
        c.write(copy(DATA))
    assert "bad write retry" in info.value.reasons


def test_partial_write_returns_after_one_record() -> None:
    c, s = memory_pair(client(partial_write=True), server(), server_name="localhost")
    handshake(c, s)
    n = c.write(DATA)
    assert 0 < n < len(DATA)
    assert n == 16384  # one full record (SSL3_RT_MAX_PLAIN_LENGTH)
    got = bytearray()
    drain(c, s, got)
    assert bytes(got) == DATA[:n]
    # Without the mode the same call goes on to the next records until the BIO is full.
    c2, s2 = memory_pair(client(), server(), server_name="localhost")
    handshake(c2, s2)
    fill(c2)
    assert c2.bio_pending > n


def test_partial_write_lets_the_caller_write_the_rest_from_an_offset() -> None:
    c, s = memory_pair(client(partial_write=True), server(), server_name="localhost")
    handshake(c, s)
    view, sent, got = memoryview(DATA), 0, bytearray()
    for _ in range(100):
        if sent == len(DATA):
            break
        try:
            sent += c.write(view[sent:])
        except WantWriteError:
            drain(c, s, got)
    drain(c, s, got)
    assert sent == len(DATA) and bytes(got) == DATA


def test_set_mode_and_clear_mode_and_in_use_refusal() -> None:
    ctx = client()
    assert Mode.ENABLE_PARTIAL_WRITE in ctx.set_mode(Mode.ENABLE_PARTIAL_WRITE)
    assert Mode.ENABLE_PARTIAL_WRITE not in ctx.clear_mode(Mode.ENABLE_PARTIAL_WRITE)
    c, _ = memory_pair(ctx, server(), server_name="localhost")
    with pytest.raises(ContextInUseError):
        ctx.set_mode(Mode.ENABLE_PARTIAL_WRITE)
    c.close()
    with pytest.raises(ValueError):
        ctx.set_mode(-1)
    with pytest.raises(TypeError):
        ctx.set_mode("partial")  # type: ignore[arg-type]


# ---- over a socket, against openssl s_server ----------------------------------------


def _drain_stdout(peer: SServer, want: bytes, out: bytearray) -> None:
    """Read s_server's stdout (the data it received) until ``want`` shows up or EOF."""
    assert peer.proc.stdout is not None
    fd = peer.proc.stdout.fileno()
    deadline = time.monotonic() + 30
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while want not in out[-(len(want) + (1 << 17)) :] and time.monotonic() < deadline:
            if sel.select(1.0):
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return
                out += chunk


def test_retry_with_a_copy_over_a_full_socket_to_openssl_s_server() -> None:
    openssl = openssl_cli()
    # s_server copies what it reads to its stdout; nobody reads that pipe at
    # first, so s_server blocks, stops reading the socket, and our write fills it.
    peer = SServer(openssl, *s_server_identity(certs.SERVER_ECDSA), "-tls1_3")
    data = os.urandom(8 << 20)  # more than the pipe and both socket buffers hold
    got = bytearray()
    try:
        sock = socket.create_connection(("127.0.0.1", peer.port), timeout=10)
        ctx: Context = client()
        with Connection(ctx, sock=sock, server_name="localhost") as conn:
            conn.do_handshake()
            conn.timeout = 0.0  # non-blocking: WANT_WRITE surfaces
            with pytest.raises(WantWriteError):
                conn.write(data)
            reader = threading.Thread(target=_drain_stdout, args=(peer, data[-4096:], got))
            reader.start()
            try:
                conn.timeout = 20.0  # now wait for room, retrying with an equal copy
                assert conn.write(copy(data)) == len(data)
            finally:
                reader.join(40)
    finally:
        peer.kill()
    assert data in bytes(got)
