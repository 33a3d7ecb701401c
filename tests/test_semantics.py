"""Every ``(ret, SSL_get_error)`` outcome the linked OpenSSL gives during a handshake.

Each test produces the outcome with a real handshake (memory BIO pairs, bytes
moved by hand where the scenario needs it) and asserts the whole mapping:
raw ``ret``, :class:`ReturnCode`, :class:`ErrorCode`, exception class and the
OpenSSL reason text. The man pages (SSL_do_handshake(3), SSL_get_error(3))
are the spec; where OpenSSL 3.0 behaves differently from a naive reading, the
test asserts what 3.0 really does and says so. Outcomes 3.0 cannot produce
(ret 0) are unit-tested in ``test_error_mapping.py``.
"""

from __future__ import annotations

import struct

import pytest

from ossl_handshake import (
    CertificateVerifyError,
    Connection,
    Context,
    ErrorCode,
    Options,
    ProtocolError,
    ReturnCode,
    Role,
    SSLError,
    Step,
    UnexpectedEOFError,
    WantReadError,
    WantWriteError,
    ZeroReturnError,
    certs,
    drive,
    handshake,
    lib,
    memory_pair,
)
from tests._openssl import EOF_IN_HANDSHAKE, VERIFY_TEXT, alert_reason, reasons_of, requires

VERSIONS = ["1.2", "1.3"]

#: A plaintext close_notify alert record (level warning, description 0).
CLOSE_NOTIFY = b"\x15\x03\x03\x00\x02\x01\x00"
#: A plaintext fatal handshake_failure alert record (level 2, description 40).
FATAL_HANDSHAKE_FAILURE = b"\x15\x03\x03\x00\x02\x02\x28"


@pytest.fixture(scope="module")
def clients() -> dict[str, Context]:
    return {v: Context(Role.CLIENT, cafile=certs.CA, max_version=v) for v in VERSIONS}


@pytest.fixture(scope="module")
def server_ctx() -> Context:
    return Context(Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.key)


def first_record(flight: bytes) -> bytes:
    """The first TLS record of a flight (header + body)."""
    (length,) = struct.unpack(">H", flight[3:5])
    return flight[: 5 + length]


def assert_step(
    step: Step,
    ret: int,
    code: ErrorCode,
    exc_type: type[SSLError] | None,
    reason: str | None = None,
) -> None:
    assert step.ret == ret
    assert step.return_code is ReturnCode.of(ret)
    assert step.error_code is code
    if exc_type is None:
        assert step.error is None
        return
    assert type(step.error) is exc_type
    assert step.error is not None
    assert step.error.code is code
    assert step.error.ret == ret
    assert step.error.role is step.role
    if reason is not None:
        assert step.error.reasons == reasons_of(reason)


@pytest.mark.parametrize("version", VERSIONS)
def test_handshake_steps_are_want_read_until_success(
    version: str, clients: dict[str, Context], server_ctx: Context
) -> None:
    client, server = memory_pair(clients[version], server_ctx, server_name="localhost")
    result = handshake(client, server)
    assert result.client.version == f"TLSv{version}"
    finals = {r.step.role: r.step for r in result.steps if r.step.done}
    for step in finals.values():
        assert_step(step, 1, ErrorCode.NONE, None)
        assert step.return_code is ReturnCode.SUCCESS
    assert set(finals) == {Role.CLIENT, Role.SERVER}
    for rec in result.steps:
        if not rec.step.done:
            assert_step(rec.step, -1, ErrorCode.WANT_READ, WantReadError)
            assert rec.step.wants and not rec.step.failed


@pytest.mark.parametrize("version", VERSIONS)
def test_client_wants_read_after_sending_client_hello(
    version: str, clients: dict[str, Context]
) -> None:
    client = Connection(clients[version], server_name="localhost")
    step = client.step()
    assert_step(step, -1, ErrorCode.WANT_READ, WantReadError)
    assert step.state == "SSLv3/TLS write client hello"
    assert client.bio_pending > 0
    with pytest.raises(WantReadError):
        client.do_handshake()


@pytest.mark.parametrize("version", VERSIONS)
def test_client_wants_write_when_its_bio_pair_is_full(
    version: str, clients: dict[str, Context]
) -> None:
    # A 64-byte pair cannot hold a ClientHello, and nobody drains it.
    client = Connection(clients[version], server_name="localhost", bio_size=64)
    step = client.step()
    assert_step(step, -1, ErrorCode.WANT_WRITE, WantWriteError)
    assert step.state == "SSLv3/TLS write client hello"
    assert client.bio_pending == 64
    # Draining the buffer lets the same handshake continue: it is retryable.
    client.bio_read()
    assert client.step().error_code in (ErrorCode.WANT_WRITE, ErrorCode.WANT_READ)


@pytest.mark.parametrize("version", VERSIONS)
def test_peer_eof_mid_handshake_is_unexpected_eof(
    version: str, clients: dict[str, Context]
) -> None:
    client = Connection(clients[version], server_name="localhost")
    client.step()
    client.bio_shutdown_wr()
    step = client.step()
    # OpenSSL 3.0+: SSL_ERROR_SSL with ret -1; 1.1.1: SYSCALL, an empty queue.
    ret, code, reasons, alert = EOF_IN_HANDSHAKE
    assert_step(step, ret, ErrorCode[code], UnexpectedEOFError, (reasons or [None])[0])
    assert isinstance(step.error, ProtocolError)
    assert step.error is not None and step.error.reasons == reasons
    # 3.0+ answers the EOF with a fatal decode_error alert (into the closed pipe).
    assert client.alert_sent == alert
    assert step.failed


@requires("ignore_unexpected_eof")
@pytest.mark.parametrize("version", VERSIONS)
def test_peer_eof_with_ignore_unexpected_eof_is_zero_return(
    version: str, clients: dict[str, Context]
) -> None:
    client = Connection(
        clients[version], server_name="localhost", options=Options.IGNORE_UNEXPECTED_EOF
    )
    client.step()
    client.bio_shutdown_wr()
    step = client.step()
    # SSL_OP_IGNORE_UNEXPECTED_EOF turns it into ZERO_RETURN with ret -1 and no queue entry.
    assert_step(step, -1, ErrorCode.ZERO_RETURN, ZeroReturnError)
    assert step.error is not None and step.error.errors == ()
    assert client.alert_sent is None


@pytest.mark.parametrize("version", VERSIONS)
def test_close_notify_before_server_hello_is_zero_return(
    version: str, clients: dict[str, Context]
) -> None:
    client = Connection(clients[version], server_name="localhost")
    client.step()
    client.bio_write(CLOSE_NOTIFY)
    step = client.step()
    assert_step(step, -1, ErrorCode.ZERO_RETURN, ZeroReturnError)
    assert client.alert_received == "close_notify"
    assert step.error is not None and step.error.alert_received == "close_notify"


def test_close_notify_after_server_hello_is_zero_return_in_tls12(
    clients: dict[str, Context], server_ctx: Context
) -> None:
    client, server = memory_pair(clients["1.2"], server_ctx, server_name="localhost")
    client.step()
    server.bio_write(client.bio_read())
    server.step()
    client.bio_write(first_record(server.bio_read()) + CLOSE_NOTIFY)
    step = client.step()
    assert_step(step, -1, ErrorCode.ZERO_RETURN, ZeroReturnError)
    assert step.state == "SSLv3/TLS read server hello"


def test_plaintext_close_notify_after_tls13_server_hello_is_a_bad_record(
    clients: dict[str, Context], server_ctx: Context
) -> None:
    # After a TLS 1.3 ServerHello every record is encrypted; a cleartext alert is refused.
    client, server = memory_pair(clients["1.3"], server_ctx, server_name="localhost")
    client.step()
    server.bio_write(client.bio_read())
    server.step()
    client.bio_write(first_record(server.bio_read()) + CLOSE_NOTIFY)
    step = client.step()
    assert_step(step, -1, ErrorCode.SSL, ProtocolError, "bad record type")
    assert client.alert_sent == "unexpected_message"


def test_close_notify_as_first_record_to_a_server_is_unexpected_message(
    server_ctx: Context,
) -> None:
    server = Connection(server_ctx)
    server.bio_write(CLOSE_NOTIFY)
    assert_step(server.step(), -1, ErrorCode.SSL, ProtocolError, "unexpected message")


@pytest.mark.parametrize("version", VERSIONS)
def test_shutdown_while_in_handshake_is_refused(
    version: str, clients: dict[str, Context], server_ctx: Context
) -> None:
    # SSL_shutdown(3) in 3.0 refuses to send close_notify mid-handshake.
    client, server = memory_pair(clients[version], server_ctx, server_name="localhost")
    client.step()
    server.bio_write(client.bio_read())
    server.step()
    with pytest.raises(ProtocolError) as info:
        server.shutdown()
    assert info.value.reasons == ["shutdown while in init"]
    assert (info.value.ret, info.value.code) == (-1, ErrorCode.SSL)
    assert info.value.operation == "SSL_shutdown"


@pytest.mark.parametrize("version", VERSIONS)
def test_fatal_alert_from_peer_is_protocol_error_with_alert_name(
    version: str, clients: dict[str, Context]
) -> None:
    client = Connection(clients[version], server_name="localhost")
    client.step()
    client.bio_write(FATAL_HANDSHAKE_FAILURE)
    step = client.step()
    assert_step(step, -1, ErrorCode.SSL, ProtocolError, alert_reason("handshake failure"))
    assert step.error is not None
    assert step.error.errors[0].reason_code == 1000 + 40
    assert step.error.errors[0].alert == "handshake_failure"
    assert step.error.alert_received == "handshake_failure"


@pytest.mark.parametrize("version", VERSIONS)
def test_no_shared_cipher_fails_server_and_client_sees_its_alert(version: str) -> None:
    if version == "1.2":
        cctx = Context(
            Role.CLIENT, cafile=certs.CA, max_version="1.2", ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"
        )
        sctx = Context(
            Role.SERVER,
            cert=certs.SERVER_ECDSA.cert,
            key=certs.SERVER_ECDSA.key,
            ciphers="ECDHE-ECDSA-AES256-GCM-SHA384",
        )
    else:
        cctx = Context(Role.CLIENT, cafile=certs.CA, ciphersuites="TLS_AES_128_GCM_SHA256")
        sctx = Context(
            Role.SERVER,
            cert=certs.SERVER_ECDSA.cert,
            key=certs.SERVER_ECDSA.key,
            ciphersuites="TLS_AES_256_GCM_SHA384",
        )
    client, server = memory_pair(cctx, sctx, server_name="localhost")
    result = drive(client, server)
    assert result.failed_side is Role.SERVER
    assert type(result.error) is ProtocolError
    assert result.error.reasons == ["no shared cipher"]
    assert result.error.alert_sent == "handshake_failure"
    assert result.server.group is None  # 3.0 would crash reading it without a session
    assert type(client.failed) is ProtocolError
    assert client.failed.reasons == [alert_reason("handshake failure")]
    assert client.failed.alert_received == "handshake_failure"


def test_http_request_to_a_server_is_http_request_error(server_ctx: Context) -> None:
    server = Connection(server_ctx)
    server.bio_write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    step = server.step()
    assert_step(step, -1, ErrorCode.SSL, ProtocolError, "http request")
    assert step.error is not None and step.error.errors[0].library == "SSL routines"


def test_random_garbage_to_a_client_is_a_protocol_error(clients: dict[str, Context]) -> None:
    client = Connection(clients["1.3"], server_name="localhost")
    client.step()
    client.bio_write(b"\x00" * 64)
    step = client.step()
    assert_step(step, -1, ErrorCode.SSL, ProtocolError, "wrong version number")


VERIFY_CASES = [
    # (server identity, name the client checks, verify code, message, alert the client sends)
    ("wrong_host", certs.SERVER_ECDSA, "example.com", 62, VERIFY_TEXT[62], "bad_certificate"),
    ("wrong_host_cert", certs.WRONG_HOST, "localhost", 62, VERIFY_TEXT[62], "bad_certificate"),
    ("expired", certs.EXPIRED, "localhost", 10, "certificate has expired", "certificate_expired"),
    # The untrusted server sends its chain without a root we know: 20, not 19.
    (
        "untrusted_ca",
        certs.UNTRUSTED_SERVER,
        "localhost",
        20,
        "unable to get local issuer certificate",
        "unknown_ca",
    ),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("ident", "host", "vcode", "vmessage", "alert"),
    [c[1:] for c in VERIFY_CASES],
    ids=[c[0] for c in VERIFY_CASES],
)
def test_client_rejects_bad_server_certificate_with_verify_code(
    version: str,
    clients: dict[str, Context],
    ident: certs.Identity,
    host: str,
    vcode: int,
    vmessage: str,
    alert: str,
) -> None:
    sctx = Context(Role.SERVER, cert=ident.cert, key=ident.key)
    client, server = memory_pair(clients[version], sctx, server_name=host)
    result = drive(client, server)
    err = result.error
    assert result.failed_side is Role.CLIENT
    assert type(err) is CertificateVerifyError
    assert (err.ret, err.code) == (-1, ErrorCode.SSL)
    assert err.reasons == ["certificate verify failed"]
    assert (err.verify_code, err.verify_message) == (vcode, vmessage)
    assert client.verify_result == vcode
    assert err.alert_sent == alert
    # The server sees the client's alert in its own queue as reason 1000 + alert.
    assert type(server.failed) is ProtocolError
    assert server.failed.alert_received == alert
    assert server.failed.errors[0].reason_code > 1000


def test_verify_codes_match_the_linked_openssl_constants() -> None:
    assert lib.X509_V_ERR_HOSTNAME_MISMATCH == 62
    assert lib.X509_V_ERR_CERT_HAS_EXPIRED == 10
    assert lib.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY == 20


@pytest.mark.parametrize("version", VERSIONS)
def test_repeated_step_on_failed_connection_returns_same_step(
    version: str, clients: dict[str, Context]
) -> None:
    client = Connection(clients[version], server_name="localhost")
    client.step()
    client.bio_write(FATAL_HANDSHAKE_FAILURE)
    first = client.step()
    again = client.step()
    assert again is first
    assert client.failed is first.error
    with pytest.raises(ProtocolError) as info:
        client.do_handshake()
    assert info.value is first.error


def test_repeated_step_after_eof_keeps_reporting_eof(clients: dict[str, Context]) -> None:
    client = Connection(clients["1.3"], server_name="localhost")
    client.step()
    client.bio_shutdown_wr()
    steps = [client.step() for _ in range(3)]
    assert all(s is steps[0] for s in steps)
    assert isinstance(steps[0].error, UnexpectedEOFError)
