"""Decrypted TLS 1.3 flights: the wire reads, aims at and rewrites encrypted handshake messages.

Both peers log their secrets into one :class:`KeyLog` (``Context.set_keylog``)
that the :class:`Wire` is given; a C server's ``SSLKEYLOGFILE`` serves the same
purpose for a peer in another process.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from ossl_handshake import Connection, Role, Select, Wire, certs, drive, memory_pair
from ossl_handshake.core.record_crypto import SUITES, RecordCipher
from ossl_handshake.observe.decrypt import KeyLog
from ossl_handshake.pair.result import HandshakeResult
from ossl_handshake.wire import (
    Corrupt,
    CorruptMessage,
    Drop,
    Duplicate,
    EditMessage,
    TruncateMessage,
)
from tests._contexts import client, server
from tests._peers import TIMEOUT, EchoServer

pytestmark = pytest.mark.timeout(60)

SERVER_FLIGHT = [
    "ServerHello",
    "EncryptedExtensions",
    "Certificate",
    "CertificateVerify",
    "Finished",
]


def keyed_pair(keys: KeyLog, **server_kw: object) -> tuple[Connection, Connection]:
    """A TLS 1.3 pair whose two contexts log every secret into ``keys``."""
    sctx = server(**server_kw)
    cctx = client(max_version="1.3")
    sctx.set_keylog(keys.add_line)
    cctx.set_keylog(keys.add_line)
    return memory_pair(cctx, sctx, server_name="localhost")


def run_keyed(
    *faults: object, resequence: bool = True, **server_kw: object
) -> tuple[HandshakeResult, Wire]:
    keys = KeyLog()
    wire = Wire(faults, keys=keys, resequence=resequence)  # type: ignore[arg-type]
    c, s = keyed_pair(keys, **server_kw)
    return drive(c, s, wire=wire), wire


def names(wire: Wire, role: Role) -> list[str]:
    return [n for r in wire.records[role] for n in r.handshake_types]


def test_hkdf_expand_label_derives_the_rfc8448_handshake_key_and_iv() -> None:
    # RFC 8448 section 3 ("Simple 1-RTT Handshake"), server handshake traffic secret.
    secret = bytes.fromhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
    cipher = RecordCipher(SUITES[0x1301], secret)
    assert cipher.key.hex() == "3fce516009c21727d0f2e4e86ee403bc"
    assert cipher.iv == int("5d313eb2671276ee13000b30", 16)
    record = cipher.seal(3, b"hello\x17")
    assert cipher.open(3, record) == b"hello\x17"
    assert cipher.open(4, record) is None  # the nonce is IV xor the sequence number


@pytest.mark.parametrize(
    "suite", ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
)
def test_each_aead_suite_decrypts_the_whole_handshake_and_application_data(suite: str) -> None:
    keys = KeyLog()
    wire = Wire(keys=keys)
    c, s = keyed_pair(keys, ciphersuites=suite)
    result = drive(c, s, wire=wire)
    assert result.error is None and result.client.cipher == suite
    assert names(wire, Role.SERVER)[:5] == SERVER_FLIGHT
    assert "NewSessionTicket" in names(wire, Role.SERVER)[5:]
    assert names(wire, Role.CLIENT) == ["ClientHello", "Finished"]
    epochs = {r.epoch for r in wire.records[Role.SERVER] if r.decrypted}
    assert epochs == {"SERVER_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0"}
    c.write(b"GET / over a decrypted wire")
    wire.transfer(c, s)
    assert s.read(100) == b"GET / over a decrypted wire"
    last = wire.records[Role.CLIENT][-1]
    assert last.plaintext == b"GET / over a decrypted wire" and last.inner_type == 23
    assert last.epoch == "CLIENT_TRAFFIC_SECRET_0" and last.seq == 0
    assert "(decrypted)" in wire.describe()


def test_without_keys_the_encrypted_messages_stay_unnamed() -> None:
    c, s = memory_pair(client(max_version="1.3"), server(), server_name="localhost")
    wire = Wire()
    assert drive(c, s, wire=wire).error is None
    assert names(wire, Role.SERVER) == ["ServerHello"]
    assert not any(r.decrypted for r in wire.records[Role.SERVER])


def test_a_selector_aims_at_an_encrypted_message_by_its_handshake_type() -> None:
    drop = Drop(Select(direction=Role.SERVER, handshake_type="CertificateVerify"))
    result, wire = run_keyed(drop)
    assert drop.fired == 1
    target = [r for r in wire.records[Role.SERVER] if "CertificateVerify" in r.handshake_types]
    assert len(target) == 1 and target[0].encrypted
    # The Finished behind it was sealed again with the number the client expects,
    # so the client sees a Finished where a CertificateVerify belongs.
    assert result.client.alert_sent == "unexpected_message"
    assert wire._resealer is not None and wire._resealer.resealed[Role.SERVER] >= 1


def test_a_truncated_encrypted_extensions_is_a_decode_error_on_the_client() -> None:
    cut = TruncateMessage(
        Select(direction=Role.SERVER, handshake_type="EncryptedExtensions"), keep=1
    )
    result, _ = run_keyed(cut)
    assert cut.fired == 1
    assert result.failed_side is Role.CLIENT
    assert result.client.alert_sent == "decode_error"
    assert result.server.alert_received == "decode_error"


def test_the_same_cut_as_a_byte_fault_is_only_a_bad_record_mac() -> None:
    # The byte-level counterpart of the test above: the tag no longer verifies.
    corrupt = Corrupt(Select(direction=Role.SERVER, record=2))
    result, _ = run_keyed(corrupt)
    assert result.client.alert_sent == "bad_record_mac"


def test_a_corrupt_certificate_message_gets_the_clients_message_level_alert() -> None:
    # Byte 0 of the body is the certificate_request_context length: 0 becomes 1,
    # so every length after it is off by one.
    bad = CorruptMessage(Select(direction=Role.SERVER, handshake_type="Certificate"), offset=0)
    result, _ = run_keyed(bad)
    assert bad.fired == 1
    assert result.client.alert_sent == "decode_error"


def leaf_only(body: bytes) -> bytes:
    """A Certificate message body with only its first entry (the leaf) kept."""
    pos = 1 + body[0]  # certificate_request_context
    first = pos + 3
    cert_len = int.from_bytes(body[first : first + 3], "big")
    ext_at = first + 3 + cert_len
    end = ext_at + 2 + int.from_bytes(body[ext_at : ext_at + 2], "big")
    entry = body[first:end]
    return body[:pos] + len(entry).to_bytes(3, "big") + entry


def test_an_edit_that_parses_breaks_the_transcript_signature(tmp_path: Path) -> None:
    # The client trusts the intermediate too, so a leaf-only Certificate is a
    # valid message; but the transcript the server signed in CertificateVerify
    # is not the one the client hashed.
    anchors = tmp_path / "root-and-intermediate.pem"
    anchors.write_bytes(certs.CA.read_bytes() + certs.INTERMEDIATE.read_bytes())
    keys = KeyLog()
    sctx, cctx = server(), client(cafile=anchors, max_version="1.3")
    for ctx in (sctx, cctx):
        ctx.set_keylog(keys.add_line)
    edit = EditMessage(Select(direction=Role.SERVER, handshake_type="Certificate"), leaf_only)
    wire = Wire([edit], keys=keys)
    result = drive(*memory_pair(cctx, sctx, server_name="localhost"), wire=wire)
    assert edit.fired == 1
    assert result.client.verify_result == 0  # the chain itself was fine
    assert result.client.alert_sent == "decrypt_error"


def test_a_dropped_ticket_keeps_later_records_readable_with_resequencing() -> None:
    keys = KeyLog()
    drop = Drop(Select(direction=Role.SERVER, handshake_type="NewSessionTicket"))
    wire = Wire([drop], keys=keys)
    c, s = keyed_pair(keys)
    assert drive(c, s, wire=wire).error is None and drop.fired == 1
    s.write(b"after the dropped ticket")
    wire.transfer(s, c)
    assert c.read(100) == b"after the dropped ticket"
    data = wire.records[Role.SERVER][-1]
    sent = wire.deliveries[-1][1]
    assert data.seq is not None and sent != data.data  # sealed again, one number lower


def test_without_resequencing_a_dropped_record_breaks_the_next_one() -> None:
    keys = KeyLog()
    drop = Drop(Select(direction=Role.SERVER, handshake_type="NewSessionTicket"))
    wire = Wire([drop], keys=keys, resequence=False)
    c, s = keyed_pair(keys)
    result = drive(c, s, wire=wire)
    # The second ticket still carries the sender's number, one past what the
    # client expects: its tag fails while the driver settles the tickets.
    assert drop.fired == 1
    assert result.client.alert_sent == "bad_record_mac"


def test_a_duplicated_certificate_is_sealed_anew_and_read_as_a_second_certificate() -> None:
    dup = Duplicate(Select(direction=Role.SERVER, handshake_type="Certificate"))
    result, wire = run_keyed(dup)
    assert dup.fired == 1
    # The copy carries the next sequence number, so the client decrypts it and
    # rejects a Certificate where the CertificateVerify belongs: a message
    # error, not a record error.
    assert result.client.alert_sent == "unexpected_message"
    assert wire._resealer is not None and wire._resealer.resealed[Role.SERVER] >= 1


def test_a_duplicated_last_record_of_an_epoch_cannot_be_read_under_the_next_key() -> None:
    # After the server's Finished the client reads with the application key:
    # a copy of the Finished, sealed with the handshake key, fails its tag.
    dup = Duplicate(Select(direction=Role.SERVER, handshake_type="Finished"))
    result, _ = run_keyed(dup)
    assert dup.fired == 1
    assert result.client.alert_sent == "bad_record_mac"


def test_a_key_update_moves_the_direction_to_the_next_secret() -> None:
    keys = KeyLog()
    wire = Wire(keys=keys)
    c, s = keyed_pair(keys)
    assert drive(c, s, wire=wire).error is None
    c.key_update()
    c.write(b"under the updated key")
    wire.transfer(c, s)
    assert s.read(100) == b"under the updated key"
    tail = wire.records[Role.CLIENT][-2:]
    assert tail[0].handshake_types == ("KeyUpdate",)
    assert tail[0].epoch == "CLIENT_TRAFFIC_SECRET_0"
    assert tail[1].epoch == "CLIENT_TRAFFIC_SECRET_1" and tail[1].seq == 0


def test_a_message_edit_of_a_record_the_wire_cannot_read_is_refused() -> None:
    c, s = memory_pair(client(max_version="1.3"), server(), server_name="localhost")
    edit = TruncateMessage(Select(direction=Role.SERVER, record=2), keep=0)
    with pytest.raises(ValueError, match="needs the plaintext"):
        drive(c, s, wire=Wire([edit]))


def test_key_log_input_is_checked() -> None:
    keys = KeyLog(["# a comment", "CLIENT_RANDOM nothex zz", ""])
    assert len(keys) == 0
    with pytest.raises(TypeError):
        keys.add_line(b"CLIENT_RANDOM 00 00")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        EditMessage(Select(), "not callable")


# ---- a key log written by a C program ----------------------------------------------


def test_records_from_a_c_server_decrypt_with_its_sslkeylogfile(
    keylogged_echo_server: Callable[..., EchoServer],
) -> None:
    port, keylog = keylogged_echo_server().address
    keys = KeyLog(path=keylog)  # read incrementally, as the C server appends
    wire = Wire(keys=keys)
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.settimeout(10)
    with (
        sock,
        Connection(client(), sock=sock, server_name="localhost", visible=True, wire=wire) as conn,
    ):
        conn.do_handshake()
        conn.write(b"echo me")
        assert conn.read(100) == b"echo me"
        conn.shutdown()
    assert names(wire, Role.SERVER)[:5] == SERVER_FLIGHT
    assert names(wire, Role.CLIENT) == ["ClientHello", "Finished"]
    echoed = [r.plaintext for r in wire.records[Role.SERVER] if r.inner_type == 23]
    assert echoed == [b"echo me"]
    assert len(keys) >= 5  # the C server's own lines: handshake, traffic, exporter


def test_client_authentication_messages_are_named_both_ways() -> None:
    keys = KeyLog()
    sctx = server(cafile=certs.CA, client_auth="require")
    cctx = client(max_version="1.3", cert=certs.CLIENT.cert, key=certs.CLIENT.key)
    for ctx in (sctx, cctx):
        ctx.set_keylog(keys.add_line)
    wire = Wire(keys=keys)
    assert drive(*memory_pair(cctx, sctx, server_name="localhost"), wire=wire).error is None
    assert names(wire, Role.SERVER)[:6] == [
        "ServerHello",
        "EncryptedExtensions",
        "CertificateRequest",
        "Certificate",
        "CertificateVerify",
        "Finished",
    ]
    assert names(wire, Role.CLIENT) == [
        "ClientHello",
        "Certificate",
        "CertificateVerify",
        "Finished",
    ]


def test_a_record_sent_before_its_key_line_arrived_keeps_the_numbering() -> None:
    """A peer's key line can arrive after its first records (another process's key log file).

    Those records pass sealed as they were; the next record the wire can open
    must not be renumbered from 0 (the receiver has counted the ones before):
    it goes through unchanged, and the server reads it.
    """
    keys = KeyLog()
    held: list[str] = []

    def lines(line: str) -> None:  # both peers log the client's traffic secret
        if line.startswith("CLIENT_TRAFFIC_SECRET_0"):
            held.append(line)
        else:
            keys.add_line(line)

    sctx, cctx = server(), client(max_version="1.3")
    sctx.set_keylog(lines)
    cctx.set_keylog(lines)
    c, s = memory_pair(cctx, sctx, server_name="localhost")
    wire = Wire(keys=keys)
    with c, s:
        drive(c, s, wire=wire).expect(ok=True)
        assert held, "the client logged its application traffic secret"
        c.write(b"first")
        wire.transfer(c, s)
        assert s.read(100) == b"first"
        for line in held:  # the key line shows up late
            keys.add_line(line)
        c.write(b"second")
        wire.transfer(c, s)
        assert s.read(100) == b"second"
        assert wire._resealer is not None and wire._resealer.resealed[Role.CLIENT] == 0
