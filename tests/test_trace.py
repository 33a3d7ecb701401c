"""Trace events of real in-memory handshakes: steps, messages, info, transfers, keylog."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ossl_handshake import Connection, Context, Role, certs, handshake, memory_pair
from ossl_handshake.observe.trace import InfoEvent, MessageEvent, StepEvent, Trace, TransferEvent
from ossl_handshake.testing.plugin import make_client_context
from ossl_handshake.tls.names import HRR_RANDOM
from tests._openssl import VERIFY_TEXT

TLS13_SERVER_FLIGHT = [
    "ServerHello",
    "EncryptedExtensions",
    "Certificate",
    "CertificateVerify",
    "Finished",
]


# The clients are this module's own, not the session's: the tests set a keylog
# callback on them. The server is the plugin's ``ossl_server_context``.


@pytest.fixture(scope="module")
def client_ctx() -> Context:
    return make_client_context()


@pytest.fixture(scope="module")
def tls12_client_ctx() -> Context:
    return make_client_context(max_version="1.2")


def traced(
    client_ctx: Context, ossl_server_context: Context, server_name: str = "localhost"
) -> tuple[Trace, Connection, Connection, Callable[[], None]]:
    trace = Trace()
    client_ctx.set_keylog(trace.keylog_line)

    client, server = memory_pair(client_ctx, ossl_server_context, server_name=server_name)

    def done() -> None:
        client_ctx.set_keylog(None)
        client.close()
        server.close()

    return trace, client, server, done


def split_records(data: bytes) -> list[bytes]:
    """The 5-byte TLS record headers in a byte stream."""
    headers, i = [], 0
    while i + 5 <= len(data):
        n = int.from_bytes(data[i + 3 : i + 5], "big")
        headers.append(data[i : i + 5])
        i += 5 + n
    assert i == len(data), "a flight must hold whole records"
    return headers


def test_tls13_handshake_trace_lists_each_flight_message_by_name(
    client_ctx: Context, ossl_server_context: Context
) -> None:
    trace, client, server, done = traced(client_ctx, ossl_server_context)
    try:
        result = handshake(client, server, trace=trace)
        assert result.trace is trace
        assert trace.handshake_messages(Role.CLIENT) == ["ClientHello", "Finished"]
        sent = trace.handshake_messages(Role.SERVER)
        assert sent[:5] == TLS13_SERVER_FLIGHT
        assert sent[5:] and set(sent[5:]) == {"NewSessionTicket"}
        # What one side sent, the other received, in the same order.
        assert trace.handshake_messages(Role.CLIENT, "received") == sent
        assert trace.handshake_messages(Role.SERVER, "received") == ["ClientHello", "Finished"]
        versions = {m.version for m in trace.messages if m.handshake_type == "Finished"}
        assert versions == {"TLSv1.3"}
    finally:
        done()


def test_step_events_match_the_driver_steps_and_the_bytes_on_the_wire(
    client_ctx: Context, ossl_server_context: Context
) -> None:
    trace, client, server, done = traced(client_ctx, ossl_server_context)
    try:
        result = handshake(client, server, trace=trace)
        steps = trace.steps
        assert [(s.side, s.ret, s.error_code) for s in steps] == [
            (r.role, r.step.ret, r.step.error_code.name) for r in result.steps
        ]
        assert [s.index for s in steps] == list(range(len(steps)))
        assert steps[0].state_before == "before SSL initialization"
        assert steps[0].state_after == "SSLv3/TLS write client hello"
        assert [s.state_after for s in steps] == [r.step.state for r in result.steps]
        assert [s.side for s in steps if s.done] == [Role.CLIENT, Role.SERVER]
        for side in Role:
            wire_out = sum(t.length for t in trace.transfers if t.side is side)
            wire_in = sum(t.length for t in trace.transfers if t.to is side)
            assert sum(s.bytes_written for s in steps if s.side is side) == wire_out
            # The client reads the tickets after its last step (settle).
            if side is Role.SERVER:
                assert sum(s.bytes_read for s in steps if s.side is side) == wire_in
        assert steps[0].bytes_read == 0 and steps[0].bytes_written == trace.transfers[0].length
    finally:
        done()


def test_record_header_events_are_the_headers_that_crossed_the_wire(
    client_ctx: Context, ossl_server_context: Context
) -> None:
    trace, client, server, done = traced(client_ctx, ossl_server_context)
    try:
        handshake(client, server, trace=trace)
        for side in Role:
            on_wire = [h for t in trace.transfers if t.side is side for h in split_records(t.data)]
            seen = [
                m.data
                for m in trace.messages
                if m.side is side and m.sent and m.content_type == "record_header"
            ]
            assert seen == on_wire
            received = [
                m.data
                for m in trace.messages
                if m.side is not side and not m.sent and m.content_type == "record_header"
            ]
            assert received == on_wire
        first = next(m for m in trace.messages if m.content_type == "record_header")
        assert (first.record_type, first.record_length) == (
            "handshake",
            trace.transfers[0].length - 5,
        )
    finally:
        done()


def test_info_events_show_handshake_start_and_done_on_both_sides(
    client_ctx: Context, ossl_server_context: Context
) -> None:
    trace, client, server, done = traced(client_ctx, ossl_server_context)
    try:
        handshake(client, server, trace=trace)
        for side in Role:
            flags = [i.flags for i in trace.of(InfoEvent, side)]
            assert flags[0] == ("handshake_start",)
            assert ("handshake_done",) in flags
            loop = "connect" if side is Role.CLIENT else "accept"
            assert any(loop in f and "loop" in f for f in flags)
        seqs = [e.seq for e in trace]
        assert seqs == sorted(seqs) == list(range(len(seqs)))
        times = [e.time for e in trace]
        assert times == sorted(times)
    finally:
        done()


def test_client_keylog_lines_name_the_client_random_of_the_hello(
    client_ctx: Context, ossl_server_context: Context
) -> None:
    trace, client, server, done = traced(client_ctx, ossl_server_context)
    try:
        handshake(client, server, trace=trace)
        hello = next(m for m in trace.messages if m.handshake_type == "ClientHello")
        client_random = hello.data[6:38].hex()
        labels = {line.split()[0] for line in trace.keylog_lines}
        assert {
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_TRAFFIC_SECRET_0",
            "SERVER_TRAFFIC_SECRET_0",
        } <= labels
        assert all(line.split()[1] == client_random for line in trace.keylog_lines)
    finally:
        done()


def test_sslkeylogfile_is_ignored_unless_the_trace_opts_in(
    client_ctx: Context,
    ossl_server_context: Context,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keyfile = tmp_path / "env.keys"
    monkeypatch.setenv("SSLKEYLOGFILE", str(keyfile))
    for opt_in in (False, True):
        trace = Trace(keylog_env=opt_in)
        client_ctx.set_keylog(trace.keylog_line)
        client, server = memory_pair(client_ctx, ossl_server_context, server_name="localhost")
        try:
            handshake(client, server, trace=trace)
        finally:
            client_ctx.set_keylog(None)
            client.close()
            server.close()
        if not opt_in:
            assert not keyfile.exists()
        else:
            assert keyfile.read_text().splitlines() == trace.keylog_lines


def test_tls12_trace_shows_the_classic_flights(
    tls12_client_ctx: Context, ossl_server_context: Context
) -> None:
    trace, client, server, done = traced(tls12_client_ctx, ossl_server_context)
    try:
        handshake(client, server, trace=trace)
        assert trace.handshake_messages(Role.CLIENT) == [
            "ClientHello",
            "ClientKeyExchange",
            "Finished",
        ]
        assert trace.handshake_messages(Role.SERVER) == [
            "ServerHello",
            "Certificate",
            "ServerKeyExchange",
            "ServerHelloDone",
            "NewSessionTicket",
            "Finished",
        ]
        ccs = [m.side for m in trace.messages if m.sent and m.content_type == "change_cipher_spec"]
        assert ccs == [Role.CLIENT, Role.SERVER]
        assert {"CLIENT_RANDOM"} == {line.split()[0] for line in trace.keylog_lines}
    finally:
        done()


def test_hello_retry_request_is_named_from_the_server_hello_random(
    ossl_server_context: Context,
) -> None:
    client_ctx = Context(Role.CLIENT, cafile=certs.CA, groups="X25519:P-256")
    p256_server = Context(
        Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.key, groups="P-256"
    )
    trace = Trace()
    client, server = memory_pair(client_ctx, p256_server, server_name="localhost")
    result = handshake(client, server, trace=trace)
    assert result.client.hello_retry_request
    sent = trace.handshake_messages(Role.SERVER)
    assert sent[0] == "HelloRetryRequest" and sent[1] == "ServerHello"
    hrr = next(m for m in trace.messages if m.handshake_type == "HelloRetryRequest")
    assert hrr.data[6:38] == HRR_RANDOM
    assert trace.handshake_messages(Role.CLIENT)[:2] == ["ClientHello", "ClientHello"]


def test_wrong_hostname_trace_shows_the_alert_the_client_sent(
    client_ctx: Context, ossl_server_context: Context
) -> None:
    trace, client, server, done = traced(
        client_ctx, ossl_server_context, server_name="wrong.example"
    )
    try:
        result = handshake(client, server, trace=trace, check=False)
        assert result.failed_side is Role.CLIENT
        [alert] = trace.alerts()
        assert (alert.side, alert.alert_level, alert.alert_description) == (
            Role.CLIENT,
            "fatal",
            "bad_certificate",
        )
        received = [
            m for m in trace.of(MessageEvent, Role.SERVER) if m.alert_description and not m.sent
        ]
        assert [m.alert_description for m in received] == ["bad_certificate"]
        written = [i for i in trace.of(InfoEvent, Role.CLIENT) if "alert" in i.flags]
        assert [(i.alert, i.alert_level, "write" in i.flags) for i in written] == [
            ("bad certificate", "fatal", True)
        ]
        failed = [s for s in trace.steps if s.failed]
        assert failed[0].side is Role.CLIENT
        assert failed[0].reason is not None and "certificate verify failed" in failed[0].reason
        assert VERIFY_TEXT[62] in failed[0].reason
        assert trace.transfers[-1].side is Role.CLIENT and trace.transfers[-1].length == 7
    finally:
        done()


def test_trace_attaches_to_a_single_connection_driven_by_hand(
    client_ctx: Context, ossl_server_context: Context
) -> None:
    trace = Trace()
    client = trace.attach(Connection(client_ctx, server_name="localhost"))
    server = Connection(ossl_server_context)
    try:
        before = client.state
        step = client.step()
        trace.record_step(client, step, before)
        server.bio_write(client.bio_read())
        server.step()  # not attached: no events from the server
        assert {e.side for e in trace} == {Role.CLIENT}
        assert trace.handshake_messages(Role.CLIENT) == ["ClientHello"]
        assert trace.steps[0].bytes_written > 0
        trace.detach(client)
        assert client.on_info is None and client.on_message is None
        n = len(trace)
        client.bio_write(server.bio_read())
        client.step()
        assert len(trace) == n
    finally:
        client.close()
        server.close()


def test_untraced_handshake_installs_no_python_observers(
    client_ctx: Context, ossl_server_context: Context
) -> None:
    client, server = memory_pair(client_ctx, ossl_server_context, server_name="localhost")
    try:
        result = handshake(client, server)
        assert result.trace is None
        assert client.on_info is None and client.on_message is None
        assert server.on_info is None and server.on_message is None
    finally:
        client.close()
        server.close()


def test_application_data_flights_after_the_handshake_are_traced(
    client_ctx: Context, ossl_server_context: Context
) -> None:
    trace, client, server, done = traced(client_ctx, ossl_server_context)
    try:
        handshake(client, server, trace=trace)
        n = len(trace.transfers)
        client.write(b"ping")
        assert trace.transfer(client, server) > 4
        assert server.read(10) == b"ping"
        flight = trace.transfers[n]
        assert (flight.side, flight.to, flight.direction) == (
            Role.CLIENT,
            Role.SERVER,
            "client->server",
        )
        inner = [m for m in trace.messages[-4:] if m.content_type == "inner_content_type"]
        assert inner and inner[-1].record_type == "application_data"
    finally:
        done()


class _TappedWire:
    """A minimal wire: moves bytes, calls ``tap`` for each delivery (like wire.Wire)."""

    def __init__(self) -> None:
        self.tap: Callable[[Role, bytes], None] | None = None

    def transfer(self, src: Connection, dst: Connection) -> int:
        data = src.bio_read()
        if data:
            dst.bio_write(data)
            if self.tap is not None:
                self.tap(src.role, data)
        return len(data)


def test_a_wire_with_a_tap_reports_its_deliveries_to_the_trace(
    client_ctx: Context, ossl_server_context: Context
) -> None:
    trace, client, server, done = traced(client_ctx, ossl_server_context)
    wire = _TappedWire()
    try:
        result = handshake(client, server, trace=trace, wire=wire)
        assert wire.tap == trace.on_transfer
        assert [t.side for t in trace.transfers] == [
            Role.CLIENT,
            Role.SERVER,
            Role.CLIENT,
            Role.SERVER,
        ]
        assert sum(r.sent for r in result.steps) == sum(t.length for t in trace.transfers)
    finally:
        done()


def test_trace_to_dict_is_json_with_every_event_kind(
    client_ctx: Context, ossl_server_context: Context, tmp_path: Path
) -> None:
    trace, client, server, done = traced(client_ctx, ossl_server_context)
    try:
        handshake(client, server, trace=trace)
        path = tmp_path / "trace.json"
        trace.write_json(path)
        loaded = json.loads(path.read_text())
        kinds = {e["kind"] for e in loaded["events"]}
        assert kinds == {"step", "message", "info", "transfer"}
        assert len(loaded["events"]) == len(trace)
        assert loaded["keylog"] == trace.keylog_lines
        step = next(e for e in loaded["events"] if e["kind"] == "step")
        assert step["side"] == "client" and step["error_code"] == "WANT_READ"
        assert isinstance(trace.events[0], InfoEvent)
        assert any(isinstance(e, StepEvent) for e in trace)
        assert any(isinstance(e, TransferEvent) for e in trace)
    finally:
        done()


def test_the_record_aware_wire_feeds_its_deliveries_to_the_trace(
    client_ctx: Context, ossl_server_context: Context
) -> None:
    from ossl_handshake.wire import Wire

    trace, client, server, done = traced(client_ctx, ossl_server_context)
    wire = Wire()
    try:
        handshake(client, server, trace=trace, wire=wire)
        assert [(t.side, t.data) for t in trace.transfers] == wire.deliveries
        assert trace.handshake_messages(Role.SERVER)[:5] == TLS13_SERVER_FLIGHT
    finally:
        done()


def test_a_traced_connection_is_freed_without_the_cycle_collector(
    client_ctx: Context, ossl_server_context: Context
) -> None:
    import gc
    import weakref

    trace = Trace()
    client, server = memory_pair(client_ctx, ossl_server_context, server_name="localhost")
    handshake(client, server, trace=trace)
    ref = weakref.ref(client)
    gc.disable()
    try:
        del client
        assert ref() is None
    finally:
        gc.enable()
        server.close()
    trace.detach_all()  # nothing left to detach; no error
