"""Ladder diagrams (text and SVG) of real traced handshakes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ossl_handshake import Context, Role, certs, handshake, memory_pair
from ossl_handshake.observe import ladder
from ossl_handshake.observe.trace import Trace
from tests._openssl import VERIFY_TEXT

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def server_ctx() -> Context:
    return Context(Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.key)


@pytest.fixture(scope="module")
def client_ctx() -> Context:
    return Context(Role.CLIENT, cafile=certs.CA)


def traced(client_ctx: Context, server_ctx: Context, server_name: str = "localhost") -> Trace:
    trace = Trace()
    client, server = memory_pair(client_ctx, server_ctx, server_name=server_name)
    try:
        result = handshake(client, server, trace=trace, check=False)
        if result.ok:
            client.write(b"ping")
            trace.transfer(client, server)
            server.read(10)
    finally:
        client.close()
        server.close()
    return trace


@pytest.fixture(scope="module")
def tls13_trace(client_ctx: Context, server_ctx: Context) -> Trace:
    return traced(client_ctx, server_ctx)


@pytest.fixture(scope="module")
def wrong_host_trace(client_ctx: Context, server_ctx: Context) -> Trace:
    return traced(client_ctx, server_ctx, "wrong.example")


def test_text_ladder_draws_one_arrow_per_flight_with_its_messages(tls13_trace: Trace) -> None:
    text = ladder.render_text(tls13_trace)
    lines = text.splitlines()
    assert lines[0].split() == ["client", "server"]
    right = [i for i, line in enumerate(lines) if "->|" in line]
    left = [i for i, line in enumerate(lines) if "|<-" in line]
    flights = tls13_trace.transfers
    assert len(right) == sum(t.side is Role.CLIENT for t in flights)
    assert len(left) == sum(t.side is Role.SERVER for t in flights)
    # Each arrow ends with its byte count; its label sits right above it.
    for i, t in zip(sorted(right + left), flights, strict=True):
        assert lines[i].endswith(f"{t.length} B")
    first = sorted(right + left)[0]
    assert "ClientHello" in lines[first - 1]
    server_flight = " ".join(lines[first + 1 : sorted(right + left)[1]])
    for name in ("ServerHello", "EncryptedExtensions", "Certificate", "CertificateVerify"):
        assert name in server_flight
    assert "NewSessionTicket" in text and "application_data (1 record)" in text


def test_text_ladder_marks_the_step_where_each_side_finished(tls13_trace: Trace) -> None:
    text = ladder.render_text(tls13_trace)
    done = {s.side: s.index for s in tls13_trace.steps if s.done}
    assert f"* client done (step {done[Role.CLIENT]})" in text
    assert f"server done (step {done[Role.SERVER]}) *" in text
    lines = text.splitlines()
    client_mark = next(i for i, line in enumerate(lines) if "client done" in line)
    # TLS 1.3: the client finishes before it sends its Finished flight.
    after = lines[client_mark + 1 : client_mark + 3]
    assert "Finished" in after[0] and after[1].rstrip().endswith("B") and "->|" in after[1]


def test_wrong_hostname_ladder_draws_the_alert_in_its_own_style(wrong_host_trace: Trace) -> None:
    text = ladder.render_text(wrong_host_trace)
    lines = text.splitlines()
    alert_label = next(
        i for i, line in enumerate(lines) if "alert: bad_certificate (fatal)" in line
    )
    assert lines[alert_label + 1].lstrip().startswith("|x- - ")
    assert lines[alert_label + 1].rstrip().endswith(">|  7 B")
    assert "! client FAILED" in text and VERIFY_TEXT[62] in text
    assert "server FAILED" in text and "alert bad certificate" in text
    assert "done (step" not in text


def test_svg_is_valid_xml_with_one_line_per_flight(tls13_trace: Trace) -> None:
    svg = ladder.render_svg(tls13_trace, title="TLS 1.3 <full>")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    flights = [e for e in root.iter(f"{SVG}line") if "flight" in e.get("class", "").split()]
    transfers = tls13_trace.transfers
    assert len(flights) == len(transfers)
    for el, t in zip(flights, transfers, strict=True):
        assert (el.get("data-from"), el.get("data-to")) == (t.side.value, t.to.value)
        assert el.get("data-bytes") == str(t.length)
        going_right = float(el.get("x2", 0)) > float(el.get("x1", 0))
        assert going_right == (t.side is Role.CLIENT)
        assert el.get("marker-end") == "url(#head)"
    labels = [e.text for e in root.iter(f"{SVG}text") if e.get("class") == "label"]
    assert labels[0] == "ClientHello"
    assert labels[1:5] == ["ServerHello", "ChangeCipherSpec", "EncryptedExtensions", "Certificate"]
    titles = [e.text for e in root.iter(f"{SVG}text") if e.get("class") == "title"]
    assert titles == ["TLS 1.3 <full>"]
    markers = [e.text for e in root.iter(f"{SVG}text") if "marker" in e.get("class", "")]
    assert [m.split()[0] for m in markers if m] == ["client", "server"]


def test_svg_of_a_failed_handshake_draws_the_alert_flight(wrong_host_trace: Trace) -> None:
    root = ET.fromstring(ladder.render_svg(wrong_host_trace))
    lines = [e for e in root.iter(f"{SVG}line") if "flight" in e.get("class", "").split()]
    assert len(lines) == len(wrong_host_trace.transfers)
    alert_lines = [e for e in lines if "alert" in e.get("class", "").split()]
    assert len(alert_lines) == 1 and alert_lines[0].get("data-from") == "client"
    assert alert_lines[0].get("marker-end") == "url(#head-alert)"
    alert_labels = [e.text for e in root.iter(f"{SVG}text") if e.get("class") == "label alert"]
    assert alert_labels == ["alert: bad_certificate (fatal)"]
    failed = [e.text or "" for e in root.iter(f"{SVG}text") if e.get("class") == "marker failed"]
    assert len(failed) == 2 and failed[0].startswith("client FAILED")


def test_flights_groups_messages_by_sender_in_order(tls13_trace: Trace) -> None:
    rows = [r for r in ladder.flights(tls13_trace) if isinstance(r, ladder.Flight)]
    assert [r.labels for r in rows[:3]] == [
        ("ClientHello",),
        (
            "ServerHello",
            "ChangeCipherSpec",
            "EncryptedExtensions",
            "Certificate",
            "CertificateVerify",
            "Finished",
        ),
        ("ChangeCipherSpec", "Finished"),
    ]
    assert not any(r.alert for r in rows)


def test_flight_labels_keep_key_updates_between_application_data_records(
    client_ctx: Context, server_ctx: Context
) -> None:
    trace = Trace()
    client, server = memory_pair(client_ctx, server_ctx, server_name="localhost")
    try:
        handshake(client, server, trace=trace)
        client.write(b"one")
        client.write(b"two")
        client.key_update(request_peer=True)
        client.write(b"three")
        trace.transfer(client, server)
        assert b"".join(server.read(100) for _ in range(3)) == b"onetwothree"
    finally:
        client.close()
        server.close()
    last = [r for r in ladder.flights(trace) if isinstance(r, ladder.Flight)][-1]
    assert last.labels == (
        "application_data (2 records)",
        "KeyUpdate",
        "application_data (1 record)",
    )


def test_direct_mode_ladder_draws_a_flight_per_writing_step(
    client_ctx: Context, server_ctx: Context
) -> None:
    client, server = memory_pair(client_ctx, server_ctx, server_name="localhost", direct=True)
    try:
        trace = handshake(client, server, trace=True).trace
    finally:
        client.close()
        server.close()
    assert trace.transfers == []  # bytes never crossed Python
    rows = [r for r in ladder.flights(trace) if isinstance(r, ladder.Flight)]
    writing = [s for s in trace.steps if s.bytes_written]
    assert [(r.side, r.length) for r in rows] == [(s.side, s.bytes_written) for s in writing]
    assert rows[0].labels == ("ClientHello",)
    assert "EncryptedExtensions" in rows[1].labels
    text = ladder.render_text(trace)
    assert text.count("->|") + text.count("|<-") == len(rows)
