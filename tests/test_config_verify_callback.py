"""Server verification: off, on with hostname/IP checks, and a Python verify callable."""

from __future__ import annotations

import pytest

from ossl_handshake import (
    CallbackError,
    CertificateVerifyError,
    Connection,
    Context,
    Role,
    certs,
    handshake,
    lib,
    memory_pair,
)
from tests._contexts import client, run
from tests._openssl import VERIFY_TEXT

Seen = list[tuple[bool, int, int, int]]


def server(identity: certs.Identity = certs.SERVER_ECDSA) -> Context:
    return Context(Role.SERVER, cert=identity.cert, key=identity.key)


@pytest.mark.parametrize(
    ("identity", "code", "message", "alert"),
    [
        (
            certs.WRONG_HOST,
            lib.X509_V_ERR_HOSTNAME_MISMATCH,
            VERIFY_TEXT[62],
            "bad_certificate",
        ),
        (
            certs.EXPIRED,
            lib.X509_V_ERR_CERT_HAS_EXPIRED,
            "certificate has expired",
            "certificate_expired",
        ),
        (
            certs.UNTRUSTED_SERVER,
            lib.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
            "unable to get local issuer certificate",
            "unknown_ca",
        ),
    ],
    ids=["wrong-hostname", "expired", "untrusted-ca"],
)
def test_client_rejects_a_bad_server_certificate(
    identity: certs.Identity, code: int, message: str, alert: str
) -> None:
    result = run(client(), server(identity))
    err = result.error
    assert type(err) is CertificateVerifyError
    assert result.failed_side is Role.CLIENT and err.role is Role.CLIENT
    assert err.reasons == ["certificate verify failed"]
    assert (err.verify_code, err.verify_message) == (code, message)
    assert err.alert_sent == alert
    assert result.server.alert_received == alert
    assert result.client.verify_result == code


def test_ip_address_is_checked_against_the_ip_san(ossl_server_context: Context) -> None:
    assert run(client(), ossl_server_context, name="127.0.0.1").ok
    failed = run(client(), ossl_server_context, name="10.1.2.3")
    assert isinstance(failed.error, CertificateVerifyError)
    assert failed.error.verify_message == "IP address mismatch"


def test_verify_host_false_accepts_any_name_but_still_checks_the_chain(
    ossl_server_context: Context,
) -> None:
    assert run(client(), ossl_server_context, name="wrong.example", verify_host=False).ok
    bad = run(client(), server(certs.UNTRUSTED_SERVER), verify_host=False)
    assert isinstance(bad.error, CertificateVerifyError)


def test_verify_off_completes_but_reports_the_verify_result() -> None:
    result = run(client(verify=False), server(certs.EXPIRED))
    assert result.ok
    assert result.client.verify_result == lib.X509_V_ERR_CERT_HAS_EXPIRED
    assert result.client.verify_message == "certificate has expired"


def test_verify_callable_sees_every_certificate_root_first() -> None:
    seen: Seen = []

    def record(conn: Connection, ok: bool, depth: int, error: int, der: bytes) -> bool:
        assert conn.role is Role.CLIENT
        seen.append((ok, depth, error, der[0]))
        return ok

    result = run(client(verify_callback=record), server())
    assert result.ok and result.client.verify_result == 0
    assert [(ok, depth, error) for ok, depth, error, _ in seen] == [
        (True, 2, 0),
        (True, 1, 0),
        (True, 0, 0),
    ]
    assert {tag for *_, tag in seen} == {0x30}


def test_verify_callable_that_rejects_fails_with_application_verification() -> None:
    result = run(client(verify_callback=lambda c, ok, depth, err, der: depth != 0), server())
    err = result.error
    assert type(err) is CertificateVerifyError
    assert result.failed_side is Role.CLIENT
    assert err.verify_code == lib.X509_V_ERR_APPLICATION_VERIFICATION
    assert err.verify_message == "application verification failure"
    assert err.alert_sent == "handshake_failure"
    assert result.server.alert_received == "handshake_failure"


def test_rejecting_an_already_failed_certificate_keeps_openssl_error() -> None:
    result = run(client(verify_callback=lambda c, ok, d, e, der: ok), server(certs.EXPIRED))
    assert isinstance(result.error, CertificateVerifyError)
    assert result.error.verify_code == lib.X509_V_ERR_CERT_HAS_EXPIRED


def test_verify_callable_can_accept_an_expired_certificate() -> None:
    seen: Seen = []

    def accept_expired(conn: Connection, ok: bool, depth: int, error: int, der: bytes) -> bool:
        seen.append((ok, depth, error, len(der)))
        return ok or error == lib.X509_V_ERR_CERT_HAS_EXPIRED

    result = run(client(verify_callback=accept_expired), server(certs.EXPIRED))
    assert result.ok
    assert (False, 0, lib.X509_V_ERR_CERT_HAS_EXPIRED) in [s[:3] for s in seen]
    # As in C: accepting does not clear the error recorded for the chain.
    assert result.client.verify_result == lib.X509_V_ERR_CERT_HAS_EXPIRED


def test_exception_in_verify_callable_fails_the_handshake_and_is_chained() -> None:
    def broken(conn: Connection, ok: bool, depth: int, error: int, der: bytes) -> bool:
        raise LookupError("pin store unavailable")

    c, s = memory_pair(client(verify_callback=broken), server(), server_name="localhost")
    with pytest.raises(CallbackError) as info:
        handshake(c, s)
    assert isinstance(info.value.__cause__, LookupError)
    assert info.value.role is Role.CLIENT
    assert not c.is_init_finished
    assert c.alert_sent == "handshake_failure"
    assert c.verify_result == lib.X509_V_ERR_APPLICATION_VERIFICATION


def test_verify_callable_returning_a_non_bool_is_a_callback_error() -> None:
    c, s = memory_pair(
        client(verify_callback=lambda *a: "yes"),  # type: ignore[arg-type,return-value]
        server(),
        server_name="localhost",
    )
    with pytest.raises(CallbackError) as info:
        handshake(c, s)
    assert isinstance(info.value.__cause__, TypeError)


def test_server_verify_callable_sees_the_client_chain() -> None:
    depths: list[int] = []

    def record(conn: Connection, ok: bool, depth: int, error: int, der: bytes) -> bool:
        assert conn.role is Role.SERVER
        depths.append(depth)
        return ok

    srv = Context(
        Role.SERVER,
        cert=certs.SERVER_ECDSA.cert,
        key=certs.SERVER_ECDSA.key,
        cafile=certs.CA,
        client_auth="require",
        verify_callback=record,
    )
    cli = client(cert=certs.CLIENT.cert, key=certs.CLIENT.key)
    assert run(cli, srv).ok
    assert depths == [2, 1, 0]


def test_set_verify_callback_later_and_remove_it() -> None:
    ctx = client()
    calls: list[int] = []
    ctx.set_verify_callback(lambda c, ok, depth, e, der: calls.append(depth) is None and ok)
    assert ctx.verify
    assert run(ctx, server()).ok and calls == [2, 1, 0]
    ctx.set_verify_callback(None)
    assert run(ctx, server()).ok and calls == [2, 1, 0]
    with pytest.raises(TypeError):
        ctx.set_verify_callback("not callable")  # type: ignore[arg-type]


def test_with_verify_off_a_rejection_is_recorded_but_not_enforced() -> None:
    calls: list[int] = []

    def reject(conn: Connection, ok: bool, depth: int, error: int, der: bytes) -> bool:
        calls.append(depth)
        return False

    result = run(client(verify=False, verify_callback=reject), server())
    assert result.ok
    assert calls == [2]  # the first rejection ends the chain walk
    assert result.client.verify_result == lib.X509_V_ERR_APPLICATION_VERIFICATION
