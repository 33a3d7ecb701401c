"""Our BIO pair (``glue/pipe.c``, ``ossl_memory_pair``) behaves as OpenSSL's.

Every scenario runs twice through the ``halves`` fixture: on a real
``BIO_new_bio_pair`` (crypto/bio/bss_bio.c) and on ours, with the same
expectations, so a pass means "the same as bss_bio", not "what pipe.c does".
Where bss_bio leaves a value to the implementation (how much of the pending
bytes ``BIO_nread0`` shows in place), the tests assert what BIO_s_bio(3)
promises. The last tests are about ours only: buffers on demand, freed when
drained, handed over whole by ``ossl_bio_move``, kept for the next record
while a delivery's reuse is on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from ossl_handshake import Connection, Role, SSLError, WantReadError, WantWriteError
from ossl_handshake._native import ffi, lib
from ossl_handshake.pair import deliver, drive, memory_pair
from ossl_handshake.testing.plugin import make_client_context, make_server_context

pytestmark = pytest.mark.timeout(60)

DEFAULT_SIZE = 17 * 1024  # BIO_new_bio_pair's buffer size for a size of 0
RECORD = 16384


@dataclass
class Halves:
    """The two ends of one BIO pair; ``a`` writes what ``b`` reads and back."""

    kind: str
    a: Any
    b: Any
    freed: set[str] = field(default_factory=set)

    def write(self, end: str, data: bytes) -> int:
        return int(lib.BIO_write(getattr(self, end), data, len(data)))

    def read(self, end: str, n: int) -> tuple[int, bytes]:
        buf = ffi.new("char[]", n)
        got = int(lib.BIO_read(getattr(self, end), buf, n))
        return got, bytes(ffi.buffer(buf, max(got, 0)))

    def free(self, end: str) -> None:
        lib.BIO_free(getattr(self, end))
        self.freed.add(end)


MakeHalves = Callable[..., Halves]


@pytest.fixture(params=["bss_bio", "pipe"])
def halves(request: pytest.FixtureRequest) -> Iterator[MakeHalves]:
    """Make BIO pairs of one kind: ``BIO_new_bio_pair`` or ``ossl_memory_pair``."""
    made: list[Halves] = []
    new = lib.BIO_new_bio_pair if request.param == "bss_bio" else lib.ossl_memory_pair

    def make(size_a: int = 0, size_b: int = 0) -> Halves:
        pair = ffi.new("BIO *[2]")
        assert new(pair, size_a, pair + 1, size_b) == 1
        h = Halves(request.param, pair[0], pair[1])
        made.append(h)
        return h

    yield make
    for h in made:
        for end in ("a", "b"):
            if end not in h.freed:
                h.free(end)
    lib.ERR_clear_error()


def _retry(bio: Any) -> tuple[bool, bool, bool]:
    return (
        bool(lib.BIO_should_retry(bio)),
        bool(lib.BIO_should_read(bio)),
        bool(lib.BIO_should_write(bio)),
    )


def test_sizes_are_per_direction_and_zero_means_17_kib(halves: MakeHalves) -> None:
    h = halves(0, 300)
    assert lib.BIO_get_write_buf_size(h.a, 0) == DEFAULT_SIZE
    assert lib.BIO_get_write_buf_size(h.b, 0) == 300
    assert lib.BIO_ctrl_get_write_guarantee(h.a) == DEFAULT_SIZE
    assert lib.BIO_ctrl_get_write_guarantee(h.b) == 300


def test_reading_an_empty_pipe_asks_to_retry_and_records_the_request(
    halves: MakeHalves,
) -> None:
    h = halves(0, 300)
    assert h.read("b", 100) == (-1, b"")
    assert _retry(h.b) == (True, True, False)
    assert lib.BIO_ctrl_get_read_request(h.a) == 100  # a's direction was asked for 100
    assert lib.BIO_ctrl_reset_read_request(h.a) == 1
    assert lib.BIO_ctrl_get_read_request(h.a) == 0
    # A request never exceeds what the writer could deliver in one write.
    assert h.read("a", 1000)[0] == -1
    assert lib.BIO_ctrl_get_read_request(h.b) == 300
    # The writer's next write clears it; a successful read clears the flags.
    assert h.write("b", b"xyz") == 3
    assert lib.BIO_ctrl_get_read_request(h.b) == 0
    assert h.read("a", 10) == (3, b"xyz")
    assert _retry(h.a) == (False, False, False)


def test_pending_and_guarantee_follow_partial_reads(halves: MakeHalves) -> None:
    h = halves(100, 0)
    assert h.write("a", b"0123456789" * 4) == 40
    assert lib.BIO_ctrl_pending(h.b) == 40
    assert lib.BIO_ctrl_wpending(h.a) == 40
    assert lib.BIO_ctrl_pending(h.a) == 0
    assert lib.BIO_ctrl_get_write_guarantee(h.a) == 60
    assert h.read("b", 15) == (15, b"012345678901234")
    assert lib.BIO_ctrl_pending(h.b) == 25
    assert lib.BIO_ctrl_wpending(h.a) == 25
    assert lib.BIO_ctrl_get_write_guarantee(h.a) == 75
    assert h.read("b", 100) == (25, b"5678901234567890123456789")
    assert lib.BIO_ctrl_pending(h.b) == 0
    assert lib.BIO_ctrl_get_write_guarantee(h.a) == 100


def test_a_pipe_is_full_at_exactly_its_limit_and_wraps_in_order(halves: MakeHalves) -> None:
    h = halves(64, 0)
    data = bytes(range(100))
    assert h.write("a", data) == 64
    assert lib.BIO_ctrl_get_write_guarantee(h.a) == 0
    assert h.write("a", data[64:]) == -1
    assert _retry(h.a) == (True, False, True)
    assert h.read("b", 50) == (50, data[:50])
    assert h.write("a", data[64:]) == 36  # the room the read made, wrapping around
    assert _retry(h.a) == (False, False, False)
    assert lib.BIO_ctrl_pending(h.b) == 50
    assert h.read("b", 64) == (50, data[50:100])


def test_a_one_byte_pipe_takes_one_byte_at_a_time(halves: MakeHalves) -> None:
    h = halves(1, 1)
    assert h.write("a", b"xy") == 1
    assert h.write("a", b"y") == -1
    assert _retry(h.a) == (True, False, True)
    assert h.read("b", 5) == (1, b"x")
    assert h.write("a", b"y") == 1
    assert h.read("b", 5) == (1, b"y")
    assert h.read("b", 5) == (-1, b"")
    assert lib.BIO_ctrl_get_read_request(h.a) == 1


def test_after_shutdown_wr_the_reader_drains_then_gets_eof_and_writes_fail(
    halves: MakeHalves,
) -> None:
    h = halves()
    assert h.write("a", b"last words") == 10
    assert lib.BIO_shutdown_wr(h.a) == 1
    assert lib.BIO_eof(h.b) == 0  # bytes still buffered
    assert lib.BIO_ctrl_get_write_guarantee(h.a) == 0
    assert h.read("b", 4) == (4, b"last")
    assert h.read("b", 100) == (6, b" words")
    assert h.read("b", 100) == (0, b"")  # EOF, not a retry
    assert _retry(h.b) == (False, False, False)
    assert lib.BIO_eof(h.b) == 1
    lib.ERR_clear_error()
    assert h.write("a", b"more") == -1
    assert _retry(h.a) == (False, False, False)
    err = lib.ERR_peek_last_error()
    assert lib.ERR_GET_REASON(err) == lib.BIO_R_BROKEN_PIPE
    lib.ERR_clear_error()
    # The other direction is still open.
    assert h.write("b", b"reply") == 5
    assert h.read("a", 10) == (5, b"reply")


def test_standard_controls_answer_as_bss_bio(halves: MakeHalves) -> None:
    h = halves()
    assert lib.BIO_flush(h.a) == 1
    assert lib.BIO_ctrl(h.a, lib.BIO_CTRL_GET_CLOSE, 0, ffi.NULL) == 1
    assert lib.BIO_ctrl(h.a, lib.BIO_CTRL_SET_CLOSE, 0, ffi.NULL) == 1
    assert lib.BIO_ctrl(h.a, lib.BIO_CTRL_GET_CLOSE, 0, ffi.NULL) == 0
    assert lib.BIO_ctrl(h.a, 9999, 0, ffi.NULL) == 0  # unknown
    assert h.write("a", b"dropped") == 7
    assert h.write("b", b"kept") == 4
    assert lib.BIO_reset(h.a) == 0  # bss_bio returns 0, and empties a's direction
    assert lib.BIO_ctrl_pending(h.b) == 0
    assert lib.BIO_ctrl_wpending(h.a) == 0
    assert lib.BIO_ctrl_pending(h.a) == 4
    assert h.read("b", 10) == (-1, b"")


def test_nread0_shows_bytes_in_place_and_its_pointer_stays_valid(halves: MakeHalves) -> None:
    h = halves()
    p = ffi.new("char **")
    assert lib.BIO_nread0(h.b, p) == -1  # empty: a retry, like BIO_read
    assert _retry(h.b) == (True, True, False)
    assert h.write("a", b"abc") == 3
    assert lib.BIO_nread0(h.b, p) == 3
    first = p[0]
    # More bytes arriving (ours grows its buffer) leave the shown bytes valid.
    assert h.write("a", bytes(8000)) == 8000
    assert ffi.buffer(first, 3)[:] == b"abc"
    shown = lib.BIO_nread0(h.b, p)
    assert 3 <= shown <= 8003
    assert ffi.buffer(p[0], 3)[:] == b"abc"
    assert lib.BIO_nread(h.b, p, 2) == 2
    assert ffi.buffer(p[0], 2)[:] == b"ab"  # BIO_nread's pointer: the consumed bytes
    assert lib.BIO_ctrl_pending(h.b) == 8001
    assert lib.BIO_nread(h.b, p, -1) > 0  # a negative count: all it shows
    while lib.BIO_ctrl_pending(h.b):
        assert lib.BIO_nread(h.b, p, 1 << 20) > 0
    assert lib.BIO_ctrl_get_write_guarantee(h.a) == DEFAULT_SIZE


def test_nwrite_fills_room_in_place(halves: MakeHalves) -> None:
    h = halves(16, 0)
    p = ffi.new("char **")
    room = lib.BIO_nwrite0(h.a, p)
    assert room == 16
    ffi.memmove(p[0], b"inplace", 7)
    assert lib.BIO_nwrite(h.a, p, 7) == 7
    assert lib.BIO_ctrl_pending(h.b) == 7
    assert h.read("b", 16) == (7, b"inplace")
    assert h.write("a", bytes(16)) == 16
    assert lib.BIO_nwrite0(h.a, p) == -1
    assert _retry(h.a) == (True, False, True)


@pytest.mark.parametrize("first", ["a", "b"])
def test_freeing_either_half_first_leaves_the_other_usable_and_uninitialized(
    halves: MakeHalves, first: str
) -> None:
    """bss_bio's bio_destroy_pair: the survivor drops every unread byte and
    fails reads and writes (BIO_R_UNINITIALIZED in bio_lib), its controls
    answer "nothing pending, no room, EOF"; freeing it later is clean."""
    h = halves(0, 4096)
    other = "b" if first == "a" else "a"
    survivor = getattr(h, other)
    size = lib.BIO_get_write_buf_size(survivor, 0)
    assert h.write("a", b"to b") == 4
    assert h.write("b", b"to a") == 4
    assert h.read(first, 1)[0] == 1
    room = ffi.new("char **")
    assert lib.BIO_nwrite0(survivor, room) > 2
    h.free(first)
    ffi.memmove(room[0], b"ok", 2)  # the survivor's own buffer outlives its peer
    lib.ERR_clear_error()
    assert h.read(other, 10)[0] < 0
    assert lib.ERR_GET_REASON(lib.ERR_peek_last_error()) == lib.BIO_R_UNINITIALIZED
    assert h.write(other, b"x") < 0
    assert lib.ERR_GET_REASON(lib.ERR_peek_last_error()) == lib.BIO_R_UNINITIALIZED
    lib.ERR_clear_error()
    p = ffi.new("char **")
    assert lib.BIO_nread0(survivor, p) < 0
    lib.ERR_clear_error()
    assert lib.BIO_ctrl_pending(survivor) == 0
    assert lib.BIO_ctrl_wpending(survivor) == 0
    assert lib.BIO_ctrl_get_write_guarantee(survivor) == 0
    assert lib.BIO_eof(survivor) == 1
    assert lib.BIO_get_write_buf_size(survivor, 0) == size
    assert lib.BIO_shutdown_wr(survivor) == 1
    assert lib.BIO_flush(survivor) == 1
    h.free(other)


# -- a TLS connection on each kind: handshake and a full record both ways ------


def _peer(ctx: Any, end: Any, role: Role) -> Connection:
    """A Connection on one half of a pair (the SSL takes its own reference)."""
    ssl = lib.SSL_new(ctx.ptr)
    assert ssl != ffi.NULL
    assert lib.BIO_up_ref(end) == 1
    lib.SSL_set_bio(ssl, end, end)
    if role is Role.CLIENT:
        lib.SSL_set_connect_state(ssl)
    else:
        lib.SSL_set_accept_state(ssl)
    return Connection.adopt(ssl, role, owned=True)


def test_a_16_kib_record_flows_both_ways_after_a_handshake(halves: MakeHalves) -> None:
    """Each peer on its own default pair, bytes moved between the pairs by
    ossl_bio_move (the default path's driver and pair.deliver use it)."""
    c, s = halves(), halves()  # .a: the SSL's half, .b: the network half
    client = _peer(make_client_context(), c.a, Role.CLIENT)
    server = _peer(make_server_context(), s.a, Role.SERVER)
    try:
        for _ in range(20):
            client_done = client.step().done
            assert lib.ossl_bio_move(c.b, s.b, 1 << 30) >= 0
            server_done = server.step().done
            assert lib.ossl_bio_move(s.b, c.b, 1 << 30) >= 0
            if client_done and server_done:
                break
        assert client.version == server.version == "TLSv1.3"
        data = bytes(range(256)) * 64
        for src, dst, src_net, dst_net in ((client, server, c.b, s.b), (server, client, s.b, c.b)):
            assert src.write(data) == RECORD
            assert lib.BIO_ctrl_pending(src_net) > RECORD
            assert lib.ossl_bio_move(src_net, dst_net, 1 << 30) > RECORD
            assert dst.read(RECORD) == data
    finally:
        client.close()
        server.close()


# -- ours only: buffers on demand ----------------------------------------------


def _pipe() -> tuple[Any, Any]:
    pair = ffi.new("BIO *[2]")
    assert lib.ossl_memory_pair(pair, 0, pair + 1, 0) == 1
    return pair[0], pair[1]


def test_a_pipe_allocates_on_first_write_grows_to_need_and_frees_when_drained() -> None:
    a, b = _pipe()
    try:
        assert lib.ossl_is_pipe(a) and lib.ossl_is_pipe(b)
        assert lib.ossl_pipe_allocated(a) == 0
        assert lib.BIO_write(a, b"x" * 100, 100) == 100
        assert lib.ossl_pipe_allocated(a) == 4096  # the smallest buffer
        assert lib.BIO_write(a, b"y" * 10000, 10000) == 10000
        assert lib.ossl_pipe_allocated(b) == 10100  # grown to need
        assert lib.BIO_write(a, b"z" * 9000, 9000) == DEFAULT_SIZE - 10100
        assert lib.ossl_pipe_allocated(a) == DEFAULT_SIZE  # never above the limit
        buf = ffi.new("char[]", DEFAULT_SIZE)
        assert lib.BIO_read(b, buf, DEFAULT_SIZE - 1) == DEFAULT_SIZE - 1
        assert lib.ossl_pipe_allocated(a) == DEFAULT_SIZE
        assert lib.BIO_read(b, buf, 10) == 1
        assert lib.ossl_pipe_allocated(a) == 0
    finally:
        lib.BIO_free(a)
        lib.BIO_free(b)


def test_ossl_bio_move_hands_the_buffer_over_instead_of_copying() -> None:
    (a1, b1), (a2, b2) = _pipe(), _pipe()
    p = ffi.new("char **")
    try:
        assert lib.BIO_write(a1, b"record", 6) == 6
        assert lib.BIO_nread0(b1, p) == 6
        before = p[0]
        assert lib.BIO_nread(b1, p, 0) == 0  # nothing consumed
        assert lib.ossl_bio_move(b1, b2, 6) == 6
        assert lib.ossl_pipe_allocated(a1) == 0
        assert lib.BIO_nread0(a2, p) == 6
        assert p[0] == before  # the same bytes, not a copy
        # A destination holding bytes takes a copy, appended in order.
        assert lib.BIO_write(a1, b"second", 6) == 6
        assert lib.ossl_bio_move(b1, b2, 1 << 30) == 6
        buf = ffi.new("char[]", 20)
        assert lib.BIO_read(a2, buf, 20) == 12
        assert ffi.buffer(buf, 12)[:] == b"recordsecond"
        assert lib.ossl_pipe_allocated(a1) == lib.ossl_pipe_allocated(a2) == 0
    finally:
        for bio in (a1, b1, a2, b2):
            lib.BIO_free(bio)


def test_a_pipe_in_reuse_keeps_its_drained_buffer_until_reuse_ends() -> None:
    """ossl_deliver's mode: a drained buffer stays for the next record, and
    turning reuse off frees it (an idle pair holds nothing again)."""
    a, b = _pipe()
    buf = ffi.new("char[]", RECORD)
    try:
        lib.ossl_pipe_reuse(a, 1)
        assert lib.BIO_write(a, b"x" * 5000, 5000) == 5000
        assert lib.BIO_read(b, buf, RECORD) == 5000
        assert lib.ossl_pipe_allocated(a) == 5000  # drained, kept
        assert lib.BIO_ctrl_pending(b) == 0
        assert lib.BIO_read(b, buf, RECORD) == -1 and lib.BIO_should_read(b)
        assert lib.BIO_write(a, b"y" * 300, 300) == 300  # into the kept buffer
        assert lib.ossl_pipe_allocated(a) == 5000
        lib.ossl_pipe_reuse(b, 0)  # either half turns it off
        assert lib.ossl_pipe_allocated(a) == 5000  # 300 bytes unread: kept
        assert lib.BIO_read(b, buf, RECORD) == 300
        assert ffi.buffer(buf, 300)[:] == b"y" * 300
        assert lib.ossl_pipe_allocated(a) == 0  # reuse off: drained means freed
        lib.ossl_pipe_reuse(a, 1)
        assert lib.BIO_write(a, b"z" * 10, 10) == 10
        assert lib.BIO_read(b, buf, 10) == 10
        lib.ossl_pipe_reuse(a, 0)
        assert lib.ossl_pipe_allocated(a) == 0
    finally:
        lib.BIO_free(a)
        lib.BIO_free(b)


def test_a_hand_over_in_reuse_trades_buffers_so_records_need_no_new_one() -> None:
    """Two pairs in reuse, as in ossl_deliver: the drained buffer of the
    destination goes back to the source with each hand-over, so from the third
    record on every record is written into a buffer an earlier one used."""
    (a1, b1), (a2, b2) = _pipe(), _pipe()
    p = ffi.new("char **")
    buf = ffi.new("char[]", RECORD)
    seen = []
    try:
        for bio in (b1, b2):
            lib.ossl_pipe_reuse(bio, 1)
        for i in range(4):
            record = bytes([i]) * 1000
            assert lib.BIO_write(a1, record, 1000) == 1000
            assert lib.BIO_nread0(b1, p) == 1000
            seen.append(p[0])
            assert lib.ossl_bio_move(b1, b2, 1 << 30) == 1000
            assert lib.BIO_read(a2, buf, RECORD) == 1000
            assert ffi.buffer(buf, 1000)[:] == record
        assert seen[2] == seen[0] and seen[3] == seen[1] and seen[0] != seen[1]
        assert lib.ossl_pipe_allocated(a1) == lib.ossl_pipe_allocated(a2) == 4096
        for bio in (b1, b2):
            lib.ossl_pipe_reuse(bio, 0)
        assert lib.ossl_pipe_allocated(a1) == lib.ossl_pipe_allocated(a2) == 0
    finally:
        for bio in (a1, b1, a2, b2):
            lib.BIO_free(bio)


def test_a_failed_deliver_leaves_no_bio_buffer_behind() -> None:
    """ossl_deliver frees the buffers its reuse kept on every way out, an
    SSL_read_ex that fails (records of another session) included."""
    pairs = [memory_pair(make_client_context(), make_server_context(), server_name="localhost")]
    pairs.append(memory_pair(make_client_context(), make_server_context(), server_name="localhost"))
    try:
        for client, server in pairs:
            drive(client, server).expect(ok=True)
        with pytest.raises(SSLError):
            deliver(pairs[0][0], pairs[1][1], bytes(3 * RECORD))
        assert len(pairs[1][1].bio_read()) > 0  # the failing side's alert, unread
        for conn in (pairs[0][0], pairs[1][1]):
            assert lib.ossl_pipe_allocated(lib.SSL_get_rbio(conn.ptr)) == 0
    finally:
        for client, server in pairs:
            client.close()
            server.close()


def test_an_established_idle_pair_holds_no_bio_buffer_memory() -> None:
    """The default path (memory_pair, each connection on its own pair): after
    the handshake and after bulk data, every direction is drained and freed."""
    client, server = memory_pair(
        make_client_context(), make_server_context(), server_name="localhost"
    )
    try:
        drive(client, server).expect(ok=True)
        for conn in (client, server):
            assert lib.ossl_pipe_allocated(lib.SSL_get_rbio(conn.ptr)) == 0
        data = bytes(range(251)) * 131
        assert deliver(client, server, data) == data
        assert deliver(server, client, data) == data
        for conn in (client, server):
            assert lib.ossl_pipe_allocated(lib.SSL_get_rbio(conn.ptr)) == 0
    finally:
        client.close()
        server.close()


def _retrying(call: Callable[[], Any], budget: int = 200_000) -> Any:
    """``call()`` again while it only wants the peer to move (memory BIO semantics)."""
    for _ in range(budget):
        try:
            return call()
        except (WantReadError, WantWriteError):
            pass
    raise AssertionError("the peer never moved")


def _handshake_and_send_across_threads(client: Connection, server: Connection) -> bytes:
    """The client writes 64 records on one thread while the server reads them on another."""
    payload = bytes(range(256)) * (RECORD // 256)
    got = bytearray()

    def writer() -> None:
        _retrying(client.do_handshake)
        for _ in range(64):
            _retrying(lambda: client.write(payload))

    def reader() -> None:
        _retrying(server.do_handshake)
        while len(got) < 64 * RECORD:
            got.extend(_retrying(lambda: server.read(RECORD)))

    threads = [threading.Thread(target=f) for f in (writer, reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(100)
    assert not any(t.is_alive() for t in threads)
    assert bytes(got) == payload * 64
    return bytes(got)


@pytest.mark.timeout(120)
def test_two_threads_each_driving_one_side_of_a_joined_pair_share_it_safely() -> None:
    # Each connection is under its own guard, but a joined pair is one BIO
    # pair between them: the handshake and then 1 MiB of records run with the
    # writer and the reader on two threads at once, so buffers are allocated,
    # handed around and freed while the other side is inside a call.
    cctx, sctx = make_client_context(verify=False), make_server_context()
    for _ in range(5):
        client, server = memory_pair(cctx, sctx, direct=True)
        _handshake_and_send_across_threads(client, server)
        client.close()
        server.close()
