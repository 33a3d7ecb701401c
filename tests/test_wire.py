"""The record-aware Wire sees records, delivers them by policy, and handshakes still finish."""

from __future__ import annotations

import pytest

from ossl_handshake import (
    Connection,
    Context,
    NoProgressError,
    Role,
    certs,
    drive,
    handshake,
    memory_pair,
)
from ossl_handshake.tls.records import RecordStream, parse
from ossl_handshake.wire import BYTES, FLIGHTS, RECORDS, Coalesce, Policy, Split, Wire

VERSIONS = ["1.2", "1.3"]


def _records(wire: Wire, role: Role) -> list[str]:
    return [r.describe().split(" ", 2)[1] for r in wire.records[role]]


def test_wire_sees_tls13_flights_as_records(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    wire = Wire()
    handshake(client, server, wire=wire)
    assert _records(wire, Role.CLIENT) == [
        "handshake[ClientHello]",
        "change_cipher_spec",
        "application_data",
    ]
    server_recs = wire.records[Role.SERVER]
    assert server_recs[0].handshake_types == ("ServerHello",)
    assert server_recs[1].content_type_name == "change_cipher_spec"
    # EncryptedExtensions, Certificate, CertificateVerify, Finished, then the tickets
    assert all(r.encrypted for r in server_recs[2:])
    assert [len(f.records) for f in wire.flights[Role.SERVER]] == [6, 2]
    assert all(r.version_name in ("TLSv1", "TLSv1.2") for r in server_recs)
    # Every byte the sides wrote was delivered unchanged, flight by flight.
    for role in Role:
        sent = b"".join(f.data for f in wire.flights[role])
        got = b"".join(d for who, d in wire.deliveries if who is role)
        assert sent == got


def test_wire_names_plaintext_tls12_messages_and_the_encrypted_finished(
    clients: dict[str, Context], ossl_server_context: Context
) -> None:
    client, server = memory_pair(clients["1.2"], ossl_server_context, server_name="localhost")
    wire = Wire()
    handshake(client, server, wire=wire)
    assert _records(wire, Role.SERVER) == [
        "handshake[ServerHello]",
        "handshake[Certificate]",
        "handshake[ServerKeyExchange]",
        "handshake[ServerHelloDone]",
        "handshake[NewSessionTicket]",
        "change_cipher_spec",
        "handshake",  # the Finished, encrypted after ChangeCipherSpec
    ]
    assert wire.records[Role.SERVER][-1].encrypted
    assert _records(wire, Role.CLIENT) == [
        "handshake[ClientHello]",
        "handshake[ClientKeyExchange]",
        "change_cipher_spec",
        "handshake",
    ]


def test_record_stream_keeps_partial_records_until_complete() -> None:
    hello = bytes.fromhex("16030100080100000403030000")  # ClientHello header, 4-byte body
    stream = RecordStream(Role.CLIENT)
    assert stream.feed(hello[:3], 0) == []
    assert stream.feed(hello[3:9], 0) == []
    (rec,) = stream.feed(hello[9:] + b"\x15\x03\x03\x00\x02\x02\x28", 1)[:1]
    # A record belongs to the flight in which its last byte was written.
    assert rec.handshake_types == ("ClientHello",) and rec.length == 8 and rec.flight == 1
    alert = parse(b"\x15\x03\x03\x00\x02\x02\x28")[0]
    assert alert.alert == (2, 40)
    # Not TLS at all: still cut by the length field, never an exception.
    http = RecordStream(Role.CLIENT)
    assert http.feed(b"GET / HTTP/1.1\r\n", 0) == []  # "/ " read as a 12064-byte length
    assert bytes(http.partial) == b"GET / HTTP/1.1\r\n"
    junk = parse(b"GET\x00\x02ab")
    assert junk[0].content_type_name == "content_type_71" and junk[0].payload == b"ab"


def test_handshake_message_split_across_records_is_named_once() -> None:
    msg = b"\x0b\x00\x00\x06" + b"abcdef"  # a Certificate message, 10 bytes
    rec1 = b"\x16\x03\x03\x00\x03" + msg[:3]
    rec2 = b"\x16\x03\x03\x00\x07" + msg[3:] + b""
    rec3 = b"\x16\x03\x03\x00\x04" + b"\x0e\x00\x00\x00"  # ServerHelloDone
    recs = RecordStream(Role.SERVER).feed(rec1 + rec2 + rec3, 0)
    assert [r.handshake_types for r in recs] == [("Certificate",), (), ("ServerHelloDone",)]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "policy",
    [RECORDS, BYTES, Split(1, 5, 40), Coalesce(2)],
    ids=["records", "bytes", "split", "coalesce"],
)
def test_mtls_handshake_completes_under_every_delivery_policy(
    mtls_clients: dict[str, Context], mtls_server_context: Context, version: str, policy: Policy
) -> None:
    client, server = memory_pair(
        mtls_clients[version], mtls_server_context, server_name="localhost"
    )
    wire = Wire(policy=policy)
    result = handshake(client, server, wire=wire)
    result.expect(ok=True, version=f"TLSv{version}", error=None)
    assert result.server.peer_subject is not None  # the client certificate arrived
    total = sum(len(f) for role in Role for f in wire.flights[role])
    if policy is BYTES:
        assert len(wire.deliveries) == total  # every byte on its own
    elif policy is RECORDS:
        assert len(wire.deliveries) == sum(len(wire.records[r]) for r in Role)
    assert wire.pending == 0


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("policy", [RECORDS, BYTES], ids=["records", "bytes"])
def test_resumption_completes_record_and_byte_at_a_time(
    clients: dict[str, Context], ossl_server_context: Context, version: str, policy: Policy
) -> None:
    client, server = memory_pair(clients[version], ossl_server_context, server_name="localhost")
    handshake(client, server, wire=Wire(policy=policy))
    session = client.session
    assert session is not None and session.resumable
    client2, server2 = memory_pair(
        clients[version], ossl_server_context, server_name="localhost", session=session
    )
    wire = Wire(policy=policy)
    result = handshake(client2, server2, wire=wire)
    result.expect(ok=True, session_reused=True, version=f"TLSv{version}")
    # An abbreviated handshake: no Certificate crosses (TLS 1.2 shows it in plaintext).
    if version == "1.2":
        assert not any("Certificate" in r.handshake_types for r in wire.records[Role.SERVER])


def test_split_policy_cuts_each_record_at_the_offsets(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    wire = Wire(policy=Split(2, 5))
    handshake(client, server, wire=wire)
    first = [d for who, d in wire.deliveries if who is Role.CLIENT][:3]
    hello = wire.records[Role.CLIENT][0].data
    assert first == [hello[:2], hello[2:5], hello[5:]]


def test_client_and_server_policies_are_independent(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    wire = Wire(client_policy=BYTES)
    handshake(client, server, wire=wire).expect(ok=True)
    sizes = {who: {len(d) for w, d in wire.deliveries if w is who} for who in Role}
    assert sizes[Role.CLIENT] == {1}
    assert max(sizes[Role.SERVER]) > 1000  # the server's flight went whole


def test_tap_sees_exactly_the_delivered_bytes(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    seen: list[tuple[Role, bytes]] = []
    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    wire = Wire(policy=RECORDS, tap=lambda role, data: seen.append((role, data)))
    handshake(client, server, wire=wire)
    assert seen == wire.deliveries and len(seen) > 4


def test_a_small_receive_buffer_holds_bytes_in_flight_until_the_peer_reads(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    # 256-byte BIO pairs: the server's ~1.4 KB flight cannot be delivered at once;
    # the wire keeps the rest queued and the driver counts it as in flight.
    client, server = memory_pair(
        ossl_client_context, ossl_server_context, server_name="localhost", bio_size=256
    )
    wire = Wire()
    result = handshake(client, server, wire=wire)
    result.expect(ok=True)
    assert max(len(d) for _, d in wire.deliveries) <= 256
    assert len(wire.deliveries) > 6  # the 1.4 KB server flight went in pieces


def test_same_scenario_moves_the_same_record_layout_every_run(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    layouts = []
    for _ in range(3):
        client, server = memory_pair(
            ossl_client_context, ossl_server_context, server_name="localhost"
        )
        wire = Wire(policy=RECORDS)
        handshake(client, server, wire=wire)
        layouts.append(
            [(r.direction, r.flight, r.content_type) for role in Role for r in wire.records[role]]
        )
    assert layouts[0] == layouts[1] == layouts[2]


def test_step_budget_stops_a_byte_at_a_time_handshake_that_needs_more(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    result = drive(client, server, wire=Wire(policy=BYTES), max_steps=50)
    result.expect(ok=False, error=NoProgressError)
    assert result.error is not None and "step budget of 50" in str(result.error)


def _flights_per_delivery(wire: Wire, role: Role) -> list[set[int]]:
    """For each delivery from ``role``, the flights of the records it carried."""
    records = iter(wire.records[role])
    out = []
    for who, data in wire.deliveries:
        if who is not role:
            continue
        seen: set[int] = set()
        pos = 0
        while pos < len(data):
            rec = next(records)
            assert data[pos : pos + len(rec.data)] == rec.data  # whole records, in order
            seen.add(rec.flight)
            pos += len(rec.data)
        out.append(seen)
    return out


def test_coalesce_joins_flights_a_side_wrote_in_consecutive_steps(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    # A 300-byte BIO pair on the server makes it write its ~1.4 KB flight over
    # several steps (WANT_WRITE in between). Under the default policy each
    # delivery carries the records completed by one write; Coalesce(3) holds
    # three writes and delivers their records together.
    joined = {}
    for policy in (FLIGHTS, Coalesce(3)):
        client = Connection(ossl_client_context, Role.CLIENT, server_name="localhost")
        server = Connection(ossl_server_context, Role.SERVER, bio_size=300)
        wire = Wire(policy=policy)
        handshake(client, server, wire=wire).expect(ok=True)
        assert len(wire.flights[Role.SERVER]) >= 5
        joined[repr(policy)] = max(len(f) for f in _flights_per_delivery(wire, Role.SERVER))
    # (A write that completes no record, inside the 1.1 KB Certificate, adds none.)
    assert joined["Flights()"] == 1
    assert joined["Coalesce(3)"] >= 2


def test_selectors_and_faults_refuse_nonsense() -> None:
    from ossl_handshake.wire.faults import Inject, Select

    with pytest.raises(ValueError, match="unknown content type"):
        Select(content_type="handshakes")
    with pytest.raises(ValueError, match="where must be"):
        Inject(Select(), b"x", where="middle")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="faults must be Fault"):
        Wire([Select()])  # type: ignore[list-item]


def test_corrupting_a_byte_past_the_record_end_is_a_loud_test_error(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    from ossl_handshake.wire.faults import Corrupt, Select

    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    with pytest.raises(IndexError, match="Corrupt offset 100000 outside a"):
        drive(client, server, wire=Wire([Corrupt(Select(record=0), offset=100_000)]))


def test_hello_retry_request_is_named_and_the_second_hellos_stay_plaintext(
    ossl_client_context: Context,
) -> None:
    # The client sends an X25519 key share; a P-256-only server asks again.
    server_ctx = Context(
        Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.key, groups="P-256"
    )
    client, server = memory_pair(ossl_client_context, server_ctx, server_name="localhost")
    wire = Wire(policy=RECORDS)
    handshake(client, server, wire=wire).expect(ok=True, version="TLSv1.3")
    assert _records(wire, Role.SERVER)[:3] == [
        "handshake[HelloRetryRequest]",
        "change_cipher_spec",
        "handshake[ServerHello]",  # after the CCS, yet plaintext: TLS 1.3 was negotiated
    ]
    assert _records(wire, Role.CLIENT)[:3] == [
        "handshake[ClientHello]",
        "change_cipher_spec",
        "handshake[ClientHello]",
    ]


def test_a_wire_carries_one_pair_only(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    wire = Wire()
    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    handshake(client, server, wire=wire)
    client2, server2 = memory_pair(
        ossl_client_context, ossl_server_context, server_name="localhost"
    )
    with pytest.raises(ValueError, match="one connection pair"):
        handshake(client2, server2, wire=wire)
    direct = memory_pair(
        ossl_client_context, ossl_server_context, server_name="localhost", direct=True
    )
    with pytest.raises(ValueError, match="own BIO pairs"):
        handshake(*direct, wire=Wire())
