"""OCSP stapling: the client asks, the server staples, the client's callable judges.

The responses are the test PKI's (``certs/gen-ocsp-crl.sh``, made with the
``openssl ocsp`` command and signed by the intermediate): ``OCSP_GOOD`` for
the ECDSA server, ``OCSP_REVOKED`` for ``REVOKED_SERVER``, ``OCSP_EXPIRED``
(good, but its nextUpdate has passed). In memory, and over sockets against
``openssl s_server -status_file`` and ``openssl s_client -status``.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from ossl_handshake import (
    CallbackError,
    ClosedError,
    ConfigurationError,
    Connection,
    Context,
    OCSPRejected,
    OCSPStatus,
    ProtocolError,
    Role,
    certs,
    drive,
    handshake,
    inspect_ocsp,
    memory_pair,
)
from tests._contexts import client, run, server
from tests._openssl import STAPLES_FOREIGN_OCSP_RESPONSE
from tests._peers import SServer, openssl_cli, s_server_identity
from tests._peers import run as run_cmd

pytestmark = pytest.mark.timeout(60)

GOOD = certs.OCSP_GOOD.read_bytes()
REVOKED = certs.OCSP_REVOKED.read_bytes()
EXPIRED = certs.OCSP_EXPIRED.read_bytes()
VERSIONS = ["1.2", "1.3"]


class Verifier:
    """A client ``ocsp_verify`` that records what it saw and accepts only a good status."""

    def __init__(self) -> None:
        self.seen: list[bytes | None] = []
        self.status: list[OCSPStatus | None] = []

    def __call__(self, conn: Connection, response: bytes | None) -> bool:
        self.seen.append(response)
        status = conn.ocsp_status()  # a guarded read from inside the callback
        self.status.append(status)
        return status is not None and status.ok


@pytest.fixture(scope="module")
def stapling_server() -> Context:
    return server(ocsp_response=GOOD)


@pytest.mark.parametrize("version", VERSIONS)
def test_good_staple_reaches_the_client_verifier_and_the_result(
    stapling_server: Context, version: str
) -> None:
    verify = Verifier()
    result = run(client(max_version=version, ocsp_verify=verify), stapling_server)
    assert result.ok, result.error
    assert verify.seen == [GOOD]
    status = verify.status[0]
    assert status is not None
    assert (status.cert_status, status.current, status.signature_ok) == ("good", True, True)
    assert result.client.ocsp_response == GOOD
    assert result.server.ocsp_response == GOOD  # what the server stapled


@pytest.mark.parametrize("version", VERSIONS)
def test_revoked_staple_is_rejected_with_bad_certificate_status_response(version: str) -> None:
    verify = Verifier()
    srv = server(certs.REVOKED_SERVER, ocsp_response=REVOKED)
    result = run(client(max_version=version, ocsp_verify=verify), srv)
    result.expect(
        failed_side=Role.CLIENT,
        client_error=ProtocolError,
        client_alert_sent="bad_certificate_status_response",
    )
    status = verify.status[0]
    assert status is not None
    assert status.cert_status == "revoked"
    assert status.reason == 1  # keyCompromise, as gen-ocsp-crl.sh revoked it
    assert status.revoked_at is not None and status.signature_ok is True


def test_expired_staple_is_not_current_and_the_client_rejects_it() -> None:
    verify = Verifier()
    result = run(client(ocsp_verify=verify), server(ocsp_response=EXPIRED))
    result.expect(failed_side=Role.CLIENT, client_alert_sent="bad_certificate_status_response")
    status = verify.status[0]
    assert status is not None
    assert status.cert_status == "good" and status.current is False and not status.ok
    assert status.next_update is not None and status.this_update is not None
    assert status.next_update < status.this_update.replace(year=status.this_update.year + 1)


def test_staple_for_another_certificate_is_not_found_for_the_peer() -> None:
    # The ECDSA server staples the response about REVOKED_SERVER.
    verify = Verifier()
    result = run(client(ocsp_verify=verify), server(ocsp_response=REVOKED))
    result.expect(failed_side=Role.CLIENT, client_alert_sent="bad_certificate_status_response")
    if STAPLES_FOREIGN_OCSP_RESPONSE:
        status = verify.status[0]
        assert status is not None and status.found is False and status.cert_status is None
    else:  # 3.6+ does not staple a response about another certificate
        assert verify.seen == [None]


def test_server_callable_returning_none_staples_nothing() -> None:
    calls: list[Connection] = []

    def nothing(conn: Connection) -> bytes | None:
        calls.append(conn)
        return None

    verify = Verifier()
    result = run(client(ocsp_verify=verify), server(ocsp_response=nothing))
    # The client's verifier still runs, with None; it rejects (no staple).
    result.expect(failed_side=Role.CLIENT, client_alert_sent="bad_certificate_status_response")
    assert len(calls) == 1 and calls[0].role is Role.SERVER
    assert verify.seen == [None]


def test_client_accepting_no_staple_completes_without_a_response() -> None:
    seen: list[bytes | None] = []

    def accept_any(conn: Connection, response: bytes | None) -> bool:
        seen.append(response)
        return True

    result = run(client(ocsp_verify=accept_any), server(ocsp_response=lambda conn: None))
    assert result.ok
    assert seen == [None] and result.client.ocsp_response is None


def test_server_is_not_asked_when_the_client_does_not_request_status() -> None:
    calls: list[Connection] = []
    srv = server(ocsp_response=lambda conn: calls.append(conn) or GOOD)
    result = run(client(), srv)
    assert result.ok
    assert calls == [] and result.client.ocsp_response is None


@pytest.mark.parametrize("version", VERSIONS)
def test_server_refusing_with_ocsprejected_fails_with_internal_error(version: str) -> None:
    def refuse(conn: Connection) -> bytes:
        raise OCSPRejected("responder unreachable")

    result = run(client(max_version=version, ocsp=True), server(ocsp_response=refuse))
    result.expect(
        failed_side=Role.SERVER,
        server_error=ProtocolError,
        server_alert_sent="internal_error",
        client_alert_received="internal_error",
    )
    assert not isinstance(result.server.error, CallbackError)


def _callback_error(client_ctx: Context, server_ctx: Context) -> tuple[CallbackError, Any, Any]:
    c, s = memory_pair(client_ctx, server_ctx, server_name="localhost")
    with pytest.raises(CallbackError) as info:
        handshake(c, s)
    return info.value, c, s


def test_server_callable_raising_is_a_callback_error_with_its_cause() -> None:
    def broken(conn: Connection) -> bytes:
        raise RuntimeError("responder bug")

    err, _, s = _callback_error(client(ocsp=True), server(ocsp_response=broken))
    assert isinstance(err.__cause__, RuntimeError) and err.role is Role.SERVER
    assert s.alert_sent == "internal_error"


def test_server_callable_returning_text_is_a_callback_error() -> None:
    bad = server(ocsp_response=lambda conn: "good")  # type: ignore[arg-type,return-value]
    err, _, _ = _callback_error(client(ocsp=True), bad)
    assert isinstance(err.__cause__, TypeError) and err.role is Role.SERVER


def test_client_verifier_raising_is_a_callback_error() -> None:
    def broken(conn: Connection, response: bytes | None) -> bool:
        raise ValueError("verifier bug")

    err, c, _ = _callback_error(client(ocsp_verify=broken), server(ocsp_response=GOOD))
    assert isinstance(err.__cause__, ValueError) and err.role is Role.CLIENT
    assert c.alert_sent == "bad_certificate_status_response"


def test_client_verifier_returning_a_non_bool_is_a_callback_error() -> None:
    bad = client(ocsp_verify=lambda c, r: 1)  # type: ignore[arg-type,return-value]
    err, _, _ = _callback_error(bad, server(ocsp_response=GOOD))
    assert isinstance(err.__cause__, TypeError)


def test_request_on_one_connection_gets_the_staple_without_a_verifier(
    stapling_server: Context,
) -> None:
    c, s = memory_pair(client(), stapling_server, server_name="localhost")
    c.request_ocsp()
    result = drive(c, s)
    assert result.ok
    assert c.ocsp_response == GOOD
    status = c.ocsp_status()
    assert status is not None and status.ok
    # The other connections of that context did not ask.
    assert run(client(), stapling_server).client.ocsp_response is None


def test_inspect_ocsp_reads_the_test_pki_responses() -> None:
    good = inspect_ocsp(GOOD)
    assert (good.response_status, good.cert_status, good.signature_ok) == (0, "good", None)
    revoked = inspect_ocsp(REVOKED)
    assert revoked.cert_status == "revoked" and not revoked.ok
    leaf, issuer = _der_chain(certs.SERVER_ECDSA.cert)
    assert inspect_ocsp(GOOD, cert=leaf, issuer=issuer).found
    assert not inspect_ocsp(REVOKED, cert=leaf, issuer=issuer).found


def test_bad_ocsp_inputs_get_typed_errors() -> None:
    with pytest.raises(ConfigurationError, match="not a DER OCSPResponse"):
        inspect_ocsp(b"\x30\x03garbage")
    with pytest.raises(TypeError):
        inspect_ocsp("good")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        server(ocsp_response=b"")
    with pytest.raises(ValueError, match="both cert and issuer"):
        inspect_ocsp(GOOD, cert=b"x")
    with pytest.raises(ValueError, match="client contexts"):
        server(ocsp=True)
    with pytest.raises(ValueError, match="server contexts"):
        client(ocsp_response=GOOD)
    with pytest.raises(TypeError, match="callable"):
        client(ocsp_verify=True)  # type: ignore[arg-type]


def _der_chain(path: Any) -> tuple[bytes, bytes]:
    import ssl

    pem = path.read_text()
    blocks = pem.split("-----END CERTIFICATE-----")[:2]
    leaf, issuer = (
        ssl.PEM_cert_to_DER_cert(b.strip() + "\n-----END CERTIFICATE-----\n") for b in blocks
    )
    return leaf, issuer


# ---- over sockets, against the openssl command ----------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_our_client_gets_the_staple_of_openssl_s_server(version: str) -> None:
    openssl = openssl_cli()
    peer = SServer(
        openssl,
        *s_server_identity(certs.SERVER_ECDSA),
        "-status_file",
        str(certs.OCSP_GOOD),
        f"-tls{version.replace('.', '_')}",
    )
    verify = Verifier()
    try:
        sock = socket.create_connection(("127.0.0.1", peer.port), timeout=10)
        with Connection(client(ocsp_verify=verify), sock=sock, server_name="localhost") as conn:
            conn.do_handshake()
            assert conn.ocsp_response == GOOD
            status = conn.ocsp_status()
            assert status is not None and status.ok
    finally:
        peer.kill()
    assert verify.seen == [GOOD]


def test_our_client_rejects_the_revoked_staple_of_openssl_s_server() -> None:
    openssl = openssl_cli()
    peer = SServer(
        openssl,
        *s_server_identity(certs.REVOKED_SERVER),
        "-status_file",
        str(certs.OCSP_REVOKED),
    )
    try:
        sock = socket.create_connection(("127.0.0.1", peer.port), timeout=10)
        with Connection(client(ocsp_verify=Verifier()), sock=sock, server_name="localhost") as conn:
            with pytest.raises(ProtocolError) as info:
                conn.do_handshake()
            assert info.value.alert_sent == "bad_certificate_status_response"
    finally:
        peer.kill()


@pytest.mark.parametrize("version", VERSIONS)
def test_openssl_s_client_sees_our_staple(ossl_tls_server: Any, version: str) -> None:
    openssl = openssl_cli()
    srv = ossl_tls_server(server(ocsp_response=GOOD))
    host, port = srv.address
    rc, out, err = run_cmd(
        [
            openssl,
            "s_client",
            "-connect",
            f"{host}:{port}",
            "-servername",
            "localhost",
            "-CAfile",
            str(certs.CA),
            "-status",
            f"-tls{version.replace('.', '_')}",
        ]
    )
    assert rc == 0, err
    assert "OCSP Response Status: successful" in out
    assert "Cert Status: good" in out


@pytest.mark.parametrize("fast", [True, False], ids=["c-driver", "python-driver"])
def test_client_closed_by_its_own_ocsp_verify_makes_the_handshake_raise_closed_error(
    stapling_server: Context, fast: bool
) -> None:
    # The close takes effect when the step that ran the callback returns; the
    # handshake may then be complete, but no result is reported for a freed SSL.
    def close_me(conn: Connection, response: bytes | None) -> bool:
        conn.close()
        return True

    c, s = memory_pair(client(ocsp_verify=close_me), stapling_server, server_name="localhost")
    with pytest.raises(ClosedError, match=r"client was closed during the handshake|is closed"):
        drive(c, s, _fast=fast)
    assert c.closed and not s.closed
    s.close()
