"""Breaking the wire on purpose: each fault gives the exact error and alert libssl produces.

Every expectation here was measured against the linked OpenSSL (3.0) and is
asserted exactly: the reason text of the error queue and the alert each side
sent and received.
"""

from __future__ import annotations

import pytest

from ossl_handshake import (
    CertificateVerifyError,
    Context,
    NoProgressError,
    ProtocolError,
    Role,
    SSLError,
    UnexpectedEOFError,
    drive,
    handshake,
    memory_pair,
)
from ossl_handshake.pair.result import HandshakeResult
from ossl_handshake.wire import Wire
from ossl_handshake.wire.faults import (
    ANY,
    CloseAfter,
    Corrupt,
    Delay,
    Drop,
    Duplicate,
    FaultNotFiredError,
    Inject,
    Reorder,
    Select,
    Truncate,
)
from tests._openssl import (
    EOF_ALERT,
    EOF_REASONS,
    OVERLONG_RECORD_REASON,
    SERVERHELLO_TLS11,
    SSLV2_HELLO,
    alert_reason,
    reasons_of,
)

VERSIONS = ["1.2", "1.3"]
CLIENT_HELLO = Select(direction=Role.CLIENT, record=0)
SERVER_HELLO = Select(direction=Role.SERVER, record=0)
BAD_MAC = "decryption failed or bad record mac"


@pytest.fixture(scope="module")
def run(clients: dict[str, Context], ossl_server_context: Context):  # type: ignore[no-untyped-def]
    """``run(version, *faults)``: one fresh pair, driven over a faulty wire; the result."""

    def go(version: str, *faults: object, **wire_kw: object) -> HandshakeResult:
        client, server = memory_pair(clients[version], ossl_server_context, server_name="localhost")
        return drive(client, server, wire=Wire(faults, **wire_kw))  # type: ignore[arg-type]

    return go


def _reference(clients: dict[str, Context], ossl_server_context: Context, version: str) -> Wire:
    client, server = memory_pair(clients[version], ossl_server_context, server_name="localhost")
    wire = Wire()
    handshake(client, server, wire=wire)
    return wire


# -- encrypted records ---------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_one_flipped_byte_in_any_encrypted_record_is_a_bad_record_mac(
    clients: dict[str, Context], ossl_server_context: Context, run, version: str
) -> None:
    ref = _reference(clients, ossl_server_context, version)
    targets = [r for role in Role for r in ref.records[role] if r.encrypted]
    assert len(targets) >= (2 if version == "1.2" else 7)
    for rec in targets:
        sender, receiver = rec.direction, rec.direction.peer
        result = run(version, Corrupt(Select(direction=sender, record=rec.index), offset=-1))
        result.expect(
            ok=False,
            failed_side=receiver,
            error=ProtocolError,
            reason=BAD_MAC,
            **{f"{receiver.value}_alert_sent": "bad_record_mac"},
        )
        post_handshake_ticket = version == "1.3" and sender is Role.SERVER and rec.flight == 1
        if not post_handshake_ticket:  # a finished server never reads again
            result.expect(**{f"{sender.value}_alert_received": "bad_record_mac"})


def test_corrupting_the_client_key_exchange_breaks_the_next_record_mac(run) -> None:
    # The premaster secret differs, so the server cannot decrypt the Finished.
    kex = Select(direction=Role.CLIENT, handshake_type="ClientKeyExchange")
    run("1.2", Corrupt(kex, offset=-1)).expect(
        failed_side=Role.SERVER, server_alert="bad_record_mac", reason=BAD_MAC
    )


# -- plaintext handshake bytes ---------------------------------------------------

# (version, target, offset, failing side, reason, alert it sends, alert the peer reads)
PLAINTEXT_CASES = [
    ("1.2", CLIENT_HELLO, 5, Role.SERVER, "unexpected message", "unexpected_message", True),
    ("1.3", CLIENT_HELLO, 5, Role.SERVER, "unexpected message", "unexpected_message", True),
    # legacy_version 0x0303 -> 0x0203: the server's alert record carries that
    # version too, so the client drops it as "wrong version number" unread.
    ("1.2", CLIENT_HELLO, 9, Role.SERVER, "version too low", "protocol_version", False),
    ("1.3", CLIENT_HELLO, 9, Role.SERVER, "bad legacy version", "protocol_version", False),
    # A client that saw no valid ServerHello sends its alert in a record the
    # server (which already chose the version) rejects unread.
    ("1.2", SERVER_HELLO, 5, Role.CLIENT, "unexpected message", "unexpected_message", False),
    ("1.3", SERVER_HELLO, 5, Role.CLIENT, "unexpected message", "unexpected_message", False),
    ("1.2", SERVER_HELLO, 8, Role.CLIENT, "bad length", "decode_error", True),
    # ServerHello legacy_version 0x0303 -> 0x0302: TLS 1.1 cannot use the GCM suite
    ("1.2", SERVER_HELLO, 10, Role.CLIENT, *SERVERHELLO_TLS11),
]


@pytest.mark.parametrize(
    ("version", "target", "offset", "side", "reason", "alert", "peer_reads"),
    PLAINTEXT_CASES,
    ids=[f"{c[0]}-{c[1].direction.value}hello-byte{c[2]}" for c in PLAINTEXT_CASES],  # type: ignore[union-attr]
)
def test_corrupted_plaintext_hello_gets_a_precise_alert(
    run,
    version: str,
    target: Select,
    offset: int,
    side: Role,
    reason: str,
    alert: str,
    peer_reads: bool,
) -> None:
    result = run(version, Corrupt(target, offset=offset))
    result.expect(
        ok=False,
        failed_side=side,
        error=ProtocolError,
        reason=reason,
        **{f"{side.value}_alert_sent": alert},
    )
    result.expect(**{f"{side.peer.value}_alert_received": alert if peer_reads else None})


@pytest.mark.parametrize("version", VERSIONS)
def test_server_hello_cipher_suite_flip(
    clients: dict[str, Context], ossl_server_context: Context, run, version: str
) -> None:
    hello = _reference(clients, ossl_server_context, version).records[Role.SERVER][0].data
    cipher_lo = 5 + 4 + 2 + 32 + 1 + hello[5 + 4 + 2 + 32] + 1
    result = run(version, Corrupt(SERVER_HELLO, offset=cipher_lo))
    if version == "1.2":
        # 0xC02C -> 0xC02D: a suite the client never offered
        result.expect(client_alert="illegal_parameter", reason="unknown cipher returned")
    else:
        # TLS_AES_256_GCM_SHA384 -> TLS_CHACHA20_POLY1305_SHA256: offered, so the
        # client accepts it and derives other keys than the server.
        result.expect(client_alert="bad_record_mac", reason=BAD_MAC)


def test_corrupted_tls12_certificate_fails_verification(run) -> None:
    cert = Select(direction=Role.SERVER, handshake_type="Certificate")
    run("1.2", Corrupt(cert, offset=100)).expect(
        failed_side=Role.CLIENT,
        client_error=CertificateVerifyError,
        verify_code=20,  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: the issuer name changed
        client_alert="unknown_ca",
        server_alert_received="unknown_ca",
    )


def test_corrupted_tls12_server_key_exchange_signature(run) -> None:
    ske = Select(direction=Role.SERVER, handshake_type="ServerKeyExchange")
    run("1.2", Corrupt(ske, offset=-1)).expect(
        failed_side=Role.CLIENT, client_alert="decrypt_error", reason="bad signature"
    )


# -- dropped, reordered, delayed, duplicated -------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_dropping_the_client_finished_leaves_the_server_waiting(run, version: str) -> None:
    finished = Select(direction=Role.CLIENT, flight=1, encrypted=True)
    drop = Drop(finished)
    result = run(version, drop)
    result.expect(ok=False, error=NoProgressError, client_alert_sent=None, server_alert_sent=None)
    assert drop.fired == 1
    message = str(result.error)
    assert "server waits for WANT_READ" in message
    if version == "1.3":  # the TLS 1.3 client is done once it sent its Finished
        result.expect(failed_side=Role.SERVER)
        assert "client waits for done" in message
    else:  # the TLS 1.2 client still waits for the server's Finished
        assert "client waits for WANT_READ" in message


def test_delaying_the_client_finished_behind_a_server_flight_stalls_with_held_bytes(run) -> None:
    finished = Select(direction=Role.CLIENT, flight=1, encrypted=True)
    result = run("1.3", Delay(finished, after=Role.SERVER))
    result.expect(error=NoProgressError, failed_side=Role.SERVER)
    assert "the wire holds back 74 bytes from the client" in str(result.error)


def test_change_cipher_spec_after_finished(run) -> None:
    ccs = Select(direction=Role.CLIENT, content_type="change_cipher_spec")
    # TLS 1.2 needs the CCS first: the Finished arrives unencrypted-expected.
    run("1.2", Delay(ccs, flights=0)).expect(
        failed_side=Role.SERVER, server_alert="unexpected_message", reason="unexpected message"
    )
    # TLS 1.3's CCS is a middlebox decoy: the server finishes on the Finished
    # and the late CCS just sits unread.
    run("1.3", Delay(ccs, flights=0)).expect(ok=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_swapping_the_first_two_server_records(run, version: str) -> None:
    result = run(version, Reorder(SERVER_HELLO))
    result.expect(failed_side=Role.CLIENT, client_alert="unexpected_message")


@pytest.mark.parametrize(
    ("version", "reason", "alert"),
    [("1.2", "wrong version number", "protocol_version"), ("1.3", "bad record type", None)],
)
def test_a_duplicated_client_hello(run, version: str, reason: str, alert: str | None) -> None:
    run(version, Duplicate(CLIENT_HELLO)).expect(
        failed_side=Role.SERVER, server_alert_sent=alert or "unexpected_message", reason=reason
    )


def test_a_truncated_server_hello_record_swallows_the_next_records(run) -> None:
    # The header still says 70 bytes: the client reads the start of the
    # Certificate record as the rest of the ServerHello.
    run("1.2", Truncate(SERVER_HELLO, at=20)).expect(
        failed_side=Role.CLIENT, client_alert="decode_error", reason="length mismatch"
    )


def test_a_truncated_last_record_leaves_the_receiver_waiting(run) -> None:
    # The server's Finished (its flight's last record) cut short: the client
    # waits for the bytes its header announced, the server waits for the
    # client's Finished.
    fin = Select(direction=Role.SERVER, flight=0, record=5)
    result = run("1.3", Truncate(fin, at=20))
    result.expect(error=NoProgressError, failed_side=Role.CLIENT, client_alert=None)
    assert "client waits for WANT_READ" in str(result.error)


def test_closing_the_client_direction_before_any_byte(run) -> None:
    close = CloseAfter(Role.CLIENT, 0)
    run("1.3", close).expect(
        failed_side=Role.SERVER,
        server_error=UnexpectedEOFError,
        reason=(EOF_REASONS or [None])[0],
        server_alert=EOF_ALERT,
    )
    assert close.fired == 1


# -- non-TLS and malformed input --------------------------------------------------


def _sslv2_client_hello() -> bytes:
    # SSLv2-format ClientHello (as old clients sent) asking for TLS 1.0 with
    # AES128-SHA, AES256-SHA and the renegotiation SCSV.
    body = bytes.fromhex("01030100090000001000002f0000350000ff")
    body += bytes(range(16))
    return bytes([0x80 | (len(body) >> 8), len(body) & 0xFF]) + body


GARBAGE_CASES = [
    ("http-request", b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "http request", None),
    ("http-connect", b"CONNECT localhost:443 HTTP/1.1\r\n\r\n", "https proxy request", None),
    ("zeros", bytes(64), "wrong version number", None),
    ("sslv2-hello", _sslv2_client_hello(), *SSLV2_HELLO),
    ("length-0xffff", b"\x16\x03\x01\xff\xff", OVERLONG_RECORD_REASON, "record_overflow"),
    (
        "length-16k+1",
        b"\x16\x03\x01\x40\x01" + bytes(0x4001),
        "data length too long",
        "record_overflow",
    ),
    ("empty-app-data", b"\x17\x03\x01\x00\x00", "unexpected message", "unexpected_message"),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("data", "reason", "alert"), [c[1:] for c in GARBAGE_CASES], ids=[c[0] for c in GARBAGE_CASES]
)
def test_server_given_non_tls_input_reports_the_exact_reason(
    run, version: str, data: bytes, reason: str, alert: str | None
) -> None:
    result = run(version, Inject(CLIENT_HELLO, data, where="instead"))
    result.expect(
        ok=False,
        failed_side=Role.SERVER,
        server_error=ProtocolError,
        reason=reason,
        server_alert_sent=alert,
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_empty_handshake_record_before_the_client_hello_is_tolerated(run, version: str) -> None:
    # OpenSSL skips zero-length handshake fragments before the version is known.
    run(version, Inject(CLIENT_HELLO, b"\x16\x03\x01\x00\x00", where="before")).expect(ok=True)


@pytest.mark.parametrize(
    ("version", "record", "reason"),
    [("1.2", 1, "data length too long"), ("1.3", 2, "encrypted length too long")],
)
def test_oversized_server_record_is_a_record_overflow(
    run, version: str, record: int, reason: str
) -> None:
    big = b"\x17\x03\x03\x41\x01" + bytes(0x4101)
    run(version, Inject(Select(direction=Role.SERVER, record=record), big, where="instead")).expect(
        failed_side=Role.CLIENT, client_alert="record_overflow", reason=reason
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_forged_fatal_alert_instead_of_the_server_hello(run, version: str) -> None:
    forged = b"\x15\x03\x03\x00\x02\x02\x28"  # fatal handshake_failure
    run(version, Inject(SERVER_HELLO, forged, where="instead")).expect(
        failed_side=Role.CLIENT,
        client_alert_received="handshake_failure",
        client_alert_sent=None,
        reason=alert_reason("handshake failure"),
    )


# -- replay ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "reason", "alert"),
    [("1.2", "bad signature", "decrypt_error"), ("1.3", "invalid session id", "illegal_parameter")],
)
def test_replayed_client_hello_into_a_fresh_server_cannot_complete(
    clients: dict[str, Context],
    ossl_server_context: Context,
    run,
    version: str,
    reason: str,
    alert: str,
) -> None:
    old = _reference(clients, ossl_server_context, version).records[Role.CLIENT][0].data
    # A fresh server answers the old hello; the new client sees a ServerHello for
    # someone else's hello (TLS 1.2: the signature covers the old client random;
    # TLS 1.3: the legacy session id echo differs) and aborts.
    result = run(version, Inject(CLIENT_HELLO, old, where="instead"))
    result.expect(failed_side=Role.CLIENT, client_alert=alert, reason=reason)


REPLAY_CASES = [
    ("1.2", 0, "wrong version number", "protocol_version"),
    ("1.2", 1, BAD_MAC, "bad_record_mac"),
    ("1.3", 0, "bad record type", "unexpected_message"),
    ("1.3", 1, "bad record type", "unexpected_message"),
]


@pytest.mark.parametrize(("version", "flight", "reason", "alert"), REPLAY_CASES)
def test_old_client_flight_replayed_into_an_established_server_is_rejected(
    clients: dict[str, Context],
    ossl_server_context: Context,
    version: str,
    flight: int,
    reason: str,
    alert: str,
) -> None:
    old = _reference(clients, ossl_server_context, version).flights[Role.CLIENT][flight].data
    client, server = memory_pair(clients[version], ossl_server_context, server_name="localhost")
    handshake(client, server, wire=Wire())
    assert server.bio_write(old) == len(old)
    with pytest.raises(ProtocolError) as info:
        server.process_pending()  # SSL_peek_ex reads the replayed records
    assert reason in info.value.reasons
    assert server.alert_sent == alert


# -- faults must fire; faults compose; failures explain themselves ----------------


def test_a_fault_that_never_fires_fails_the_drive(run) -> None:
    # In TLS 1.3 the Certificate is encrypted: a handshake_type selector cannot see it.
    miss = Corrupt(Select(direction=Role.SERVER, handshake_type="Certificate"))
    with pytest.raises(FaultNotFiredError) as info:
        run("1.3", miss)
    assert info.value.faults == [miss]
    assert "never fired" in str(info.value) and "Certificate" in str(info.value)
    assert info.value.result.ok  # the handshake itself went through untouched
    run("1.3", Corrupt(Select(handshake_type="Certificate"), optional=True)).expect(ok=True)


def test_faults_compose_in_order_and_count_their_firings(run) -> None:
    dup = Duplicate(Select(content_type="change_cipher_spec"), times=None)
    corrupt = Corrupt(Select(direction=Role.SERVER, encrypted=True), times=None)
    result = run("1.3", dup, corrupt)
    assert dup.fired == 1  # the server's CCS; the client fails before it sends one
    assert corrupt.fired == 4  # EncryptedExtensions, Certificate, CertificateVerify, Finished
    result.expect(failed_side=Role.CLIENT, client_alert="bad_record_mac")


def test_any_alert_selector_sees_the_alert_a_failing_side_sends(run) -> None:
    watch = Drop(Select(content_type="alert"))
    result = run("1.2", Corrupt(Select(direction=Role.SERVER, record=0), offset=5), watch)
    assert watch.fired == 1  # the client's unexpected_message alert never reached the server
    result.expect(client_alert="unexpected_message", server_alert_received=None)


def test_failed_expectation_prints_the_steps_and_the_records(run) -> None:
    result = run("1.3", Corrupt(Select(direction=Role.SERVER, record=3)))
    with pytest.raises(AssertionError) as info:
        result.expect(ok=True, client_alert="decode_error")
    text = str(info.value)
    assert "ok: expected True, got False" in text
    assert "client_alert_sent: expected 'decode_error', got 'bad_record_mac'" in text
    assert "SSL_get_error" in text and "WANT_READ" in text  # the step table
    assert "handshake[ServerHello]" in text  # the wire's records


def test_failed_expectation_uses_the_ladder_when_traced(
    clients: dict[str, Context], ossl_server_context: Context
) -> None:
    pytest.importorskip("ossl_handshake.observe.ladder", reason="ladder module not installed")
    client, server = memory_pair(clients["1.3"], ossl_server_context, server_name="localhost")
    wire = Wire([Corrupt(Select(direction=Role.SERVER, record=3))])
    result = drive(client, server, wire=wire, trace=True)
    assert result.trace is not None
    with pytest.raises(AssertionError) as info:
        result.expect(ok=True)
    assert "client" in str(info.value) and "server" in str(info.value)
    assert "ServerHello" in str(info.value)


def test_handshake_raises_the_first_error_with_the_result_attached(
    clients: dict[str, Context], ossl_server_context: Context
) -> None:
    client, server = memory_pair(clients["1.3"], ossl_server_context, server_name="localhost")
    with pytest.raises(SSLError) as info:
        handshake(client, server, wire=Wire([Drop(ANY)]))
    assert isinstance(info.value, NoProgressError)
    info.value.result.expect(error=NoProgressError, failed_side=Role.CLIENT)


def test_expect_checks_the_verify_code_of_a_hostname_mismatch(
    clients: dict[str, Context], ossl_server_context: Context
) -> None:
    client, server = memory_pair(clients["1.3"], ossl_server_context, server_name="wrong.example")
    watch = Drop(Select(content_type="alert"), optional=True)
    result = drive(client, server, wire=Wire([watch]))
    result.expect(
        ok=False,
        failed_side=Role.CLIENT,
        client_error=CertificateVerifyError,
        verify_code=62,  # X509_V_ERR_HOSTNAME_MISMATCH
        client_alert="bad_certificate",
        server_alert_received=None,  # the wire dropped the client's alert
        reason="certificate verify failed",
    )
    assert watch.fired == 1


def test_a_forged_warning_alert_after_the_server_hello(run) -> None:
    warning = b"\x15\x03\x03\x00\x02\x01\x70"  # warning unrecognized_name
    after_hello = Inject(SERVER_HELLO, warning, where="after")
    # TLS 1.2 lets a warning alert pass: noted, and the handshake goes on.
    run("1.2", after_hello).expect(ok=True, client_alert_received="unrecognized_name")
    # TLS 1.3 has no warning alerts in plaintext after the ServerHello.
    run("1.3", Inject(SERVER_HELLO, warning, where="after")).expect(
        failed_side=Role.CLIENT, client_alert="unexpected_message", reason="bad record type"
    )


@pytest.mark.parametrize(
    ("version", "record", "reason", "alert"),
    [
        # NewSessionTicket moved behind CCS + Finished
        ("1.2", 4, "unexpected message", "unexpected_message"),
        # the first ticket moved behind the second: the record sequence numbers
        # (AEAD nonces) no longer match
        ("1.3", 6, BAD_MAC, "bad_record_mac"),
    ],
)
def test_delaying_a_record_to_the_end_of_its_flight(
    run, version: str, record: int, reason: str, alert: str
) -> None:
    late = Delay(Select(direction=Role.SERVER, flight=1, record=record), flights=0)
    result = run(version, late)
    result.expect(failed_side=Role.CLIENT, client_alert=alert, reason=reason)
    delivered = b"".join(d for who, d in result.wire.deliveries if who is Role.SERVER)
    moved = result.wire.records[Role.SERVER][record].data
    assert delivered.endswith(moved)


def test_the_wire_keeps_working_after_the_handshake_for_application_data(
    clients: dict[str, Context], ossl_server_context: Context
) -> None:
    # Faults aimed at a later flight hit application data moved by hand. The
    # handshake alone never reaches flight 2, so the fault is optional for it
    # and the test checks the firing itself.
    flip = Corrupt(Select(direction=Role.CLIENT, flight=2), offset=-1, optional=True)
    client, server = memory_pair(clients["1.3"], ossl_server_context, server_name="localhost")
    wire = Wire([flip])
    handshake(client, server, wire=wire)
    assert flip.fired == 0
    client.write(b"ping")
    assert wire.transfer(client, server) == 4 + 5 + 1 + 16  # payload, header, type, tag
    assert flip.fired == 1
    with pytest.raises(ProtocolError) as info:
        server.read()
    assert info.value.reasons == reasons_of(BAD_MAC)
    assert server.alert_sent == "bad_record_mac"
