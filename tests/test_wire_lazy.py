"""A wire that nothing inspects on the way parses its flights later, into the same records.

With no faults, no keys and a policy that delivers bytes (the default
``Wire()``), a transfer reads only the record length fields to find where
the whole records end (``whole_records``) and moves those bytes; the
``Record`` and ``Flight`` objects are built when someone reads them. These
scenarios check that the result is what an eager parse of the same bytes,
in the order they crossed, gives: every field of every record and flight,
under every way the lazy and the eager path can meet (read mid-drive, a
fault added mid-drive, partial records from small BIO pairs, HelloRetryRequest,
whose second ClientHello depends on the ServerHello parsed before it).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ossl_handshake import Connection, Context, Role, certs, handshake, memory_pair
from ossl_handshake.tls.records import HEADER_LEN, Record, RecordStream, VersionState, whole_records
from ossl_handshake.wire import BYTES, FLIGHTS, Policy, Wire
from ossl_handshake.wire.faults import Drop, Fault, Select

pytestmark = pytest.mark.timeout(120)


class _Logged:
    """An endpoint that forwards to a connection and logs what the wire read from it."""

    def __init__(self, conn: Connection, log: list[tuple[Role, bytes]]) -> None:
        self.conn = conn
        self.role = conn.role
        self.log = log

    def bio_read(self, n: int = -1) -> bytes:
        data = self.conn.bio_read(n)
        self.log.append((self.role, data))
        return data

    def bio_write(self, data: bytes | bytearray | memoryview) -> int:
        return self.conn.bio_write(data)

    def bio_shutdown_wr(self) -> None:
        self.conn.bio_shutdown_wr()


class RecordingWire(Wire):
    """A ``Wire`` whose ends log every ``BIO_read``: the bytes in the order they crossed."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.read_log: list[tuple[Role, bytes]] = []
        self._logged: dict[int, _Logged] = {}

    def _end(self, conn: Any) -> Any:
        if id(conn) not in self._logged:
            self._logged[id(conn)] = _Logged(conn, self.read_log)
        return self._logged[id(conn)]

    def transfer(self, src: Any, dst: Any) -> int:
        return super().transfer(self._end(src), self._end(dst))


def eager_parse(log: list[tuple[Role, bytes]]) -> dict[Role, list[tuple[int, bytes, list[Record]]]]:
    """The flights (offset, bytes, records) an eager parse of ``log`` gives, per direction."""
    versions = VersionState()
    streams = {r: RecordStream(r, versions) for r in Role}
    flights: dict[Role, list[tuple[int, bytes, list[Record]]]] = {r: [] for r in Role}
    offsets = {r: 0 for r in Role}
    for role, data in log:
        if data:
            records = streams[role].feed(data, len(flights[role]))
            flights[role].append((offsets[role], data, records))
            offsets[role] += len(data)
    return flights


def assert_same_as_eager(wire: RecordingWire) -> None:
    expected = eager_parse(wire.read_log)
    for role in Role:
        got = wire.flights[role]
        assert [(f.index, f.offset, f.data, list(f.records)) for f in got] == [
            (i, off, data, recs) for i, (off, data, recs) in enumerate(expected[role])
        ]
        assert all(f.direction is role for f in got)
        assert wire.records[role] == [r for _, _, recs in expected[role] for r in recs]
        # Whole records went out, in order, and nothing else.
        sent = b"".join(d for who, d in wire.deliveries if who is role)
        assert sent == b"".join(r.data for r in wire.records[role])
    assert wire.pending == 0


def _never() -> Fault:
    """A fault that matches no record: it makes the wire parse every flight as it crosses."""
    return Drop(Select(record=10_000), optional=True)


def _tls13_hrr_server() -> Context:
    return Context(
        Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.key, groups="P-256"
    )


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("policy", [FLIGHTS, BYTES], ids=["flights", "bytes"])
@pytest.mark.parametrize("eager", [False, True], ids=["lazy", "eager"])
def test_lazy_and_eager_wires_record_what_an_eager_parse_of_the_bytes_gives(
    clients: dict[str, Context],
    ossl_server_context: Context,
    version: str,
    policy: Policy,
    eager: bool,
) -> None:
    client, server = memory_pair(clients[version], ossl_server_context, server_name="localhost")
    wire = RecordingWire([_never()] if eager else [], policy=policy)
    handshake(client, server, wire=wire).expect(ok=True, version=f"TLSv{version}")
    assert_same_as_eager(wire)
    assert len(wire.records[Role.SERVER]) >= 2
    assert wire.records[Role.CLIENT][0].handshake_types == ("ClientHello",)


def test_hello_retry_request_parsed_late_keeps_the_second_client_hello_plaintext(
    ossl_client_context: Context,
) -> None:
    # The client's second ClientHello comes after its CCS: only the
    # ServerHello's supported_versions, parsed first, says it is plaintext.
    client, server = memory_pair(ossl_client_context, _tls13_hrr_server(), server_name="localhost")
    wire = RecordingWire()
    handshake(client, server, wire=wire).expect(ok=True, version="TLSv1.3")
    assert_same_as_eager(wire)
    hellos = [r for r in wire.records[Role.CLIENT] if r.handshake_types == ("ClientHello",)]
    assert len(hellos) == 2 and not any(r.encrypted for r in hellos)
    assert wire.records[Role.SERVER][0].handshake_types == ("HelloRetryRequest",)


def test_partial_records_from_a_small_buffer_belong_to_the_flight_that_completed_them(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    # A 300-byte BIO pair makes the server write its flight over several steps;
    # some writes end inside a record, which waits on the wire for its rest.
    client = Connection(ossl_client_context, Role.CLIENT, server_name="localhost")
    server = Connection(ossl_server_context, Role.SERVER, bio_size=300)
    wire = RecordingWire()
    handshake(client, server, wire=wire).expect(ok=True)
    assert_same_as_eager(wire)
    flights = wire.flights[Role.SERVER]
    assert any(not f.records for f in flights)  # a write that completed no record
    assert sum(len(f) for f in flights) == sum(len(r.data) for r in wire.records[Role.SERVER])


def test_reading_the_records_mid_drive_changes_nothing(
    mtls_clients: dict[str, Context], mtls_server_context: Context
) -> None:
    client, server = memory_pair(mtls_clients["1.3"], mtls_server_context, server_name="localhost")
    seen: list[int] = []
    wire = RecordingWire(tap=lambda role, data: seen.append(len(wire.records[role])))
    handshake(client, server, wire=wire).expect(ok=True)
    assert_same_as_eager(wire)
    # The tap ran after each flight was taken: its records were already there.
    assert seen and all(n > 0 for n in seen)
    assert wire.describe().count("flight") == sum(len(wire.flights[r]) for r in Role)


def test_a_fault_added_mid_drive_sees_the_records_of_its_flight(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    # Flights taken lazily, then a fault: from then on each flight is parsed
    # as it crosses, after the backlog, and the fault aims at a later record.
    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    late = Drop(Select(direction=Role.SERVER, flight=1), times=None)

    def add_fault(role: Role, data: bytes) -> None:
        if role is Role.SERVER and late not in wire.faults:
            wire.faults.append(late)

    wire = RecordingWire(tap=add_fault)
    handshake(client, server, wire=wire).expect(ok=True)  # the tickets dropped: no harm
    assert late.fired == 2
    expected = eager_parse(wire.read_log)
    assert wire.records[Role.SERVER] == [r for _, _, recs in expected[Role.SERVER] for r in recs]
    delivered = b"".join(d for who, d in wire.deliveries if who is Role.SERVER)
    assert delivered == wire.flights[Role.SERVER][0].data


# -- whole_records against RecordStream.feed --------------------------------------

_record = st.builds(
    lambda ctype, version, body: bytes([ctype]) + version + len(body).to_bytes(2, "big") + body,
    st.sampled_from([20, 21, 22, 23, 0, 71, 255]),
    st.sampled_from([b"\x03\x01", b"\x03\x03", b"\xff\xff"]),
    st.binary(max_size=40),
)
_garbage = st.binary(min_size=1, max_size=12)  # any length field, e.g. 0xffff: a partial


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.one_of(_record, _record, _garbage), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_cutting_by_whole_records_parses_what_feed_parses(
    pieces: list[bytes], cuts: list[int]
) -> None:
    """The wire's split (its own partial, ``whole_records``, ``feed_whole``) equals ``feed``
    for any stream cut into any deliveries: garbage, truncated headers, records split
    across deliveries, empty records, length fields past the end."""
    stream = b"".join(pieces)
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    chunks = [stream[a:b] for a, b in pairwise(bounds)]
    reference = RecordStream(Role.SERVER)
    split = RecordStream(Role.SERVER)
    partial = b""
    for flight, chunk in enumerate(chunks):
        expected = reference.feed(chunk, flight)
        buf = partial + chunk
        end = whole_records(buf)
        partial = buf[end:]
        assert split.feed_whole(buf[:end], flight) == expected
        assert partial == bytes(reference.partial)
    assert split.count == reference.count and split.offset == reference.offset


def test_whole_records_reads_only_length_fields() -> None:
    alert = b"\x15\x03\x03\x00\x02\x02\x28"
    empty = b"\x17\x03\x03\x00\x00"  # a zero-length record is whole at its header
    assert whole_records(b"") == 0
    assert whole_records(alert[: HEADER_LEN - 1]) == 0  # a truncated header
    assert whole_records(alert[:-1]) == 0  # a truncated body
    assert whole_records(alert + empty + alert[:3]) == len(alert + empty)
    assert whole_records(b"\x16\x03\x03\xff\xff" + bytes(100)) == 0  # length past the end
    assert whole_records(bytearray(b"GET\x00\x02ab")) == 7  # garbage cut by its "length"
