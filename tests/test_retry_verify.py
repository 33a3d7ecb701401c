"""Deferred verification: a client's verify callback answers after the handshake paused.

The callback returns ``PAUSE`` (``SSL_set_retry_verify``, OpenSSL 3.0.2+),
the step returns ``WANT_RETRY_VERIFY``, and the application resumes with
accept or reject, in memory and over a socket against ``openssl s_server``.
A ``WANT_RETRY_VERIFY`` nobody asked for stays fatal (CVE-2021-4044).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from ossl_handshake import (
    PAUSE,
    CallbackError,
    CertificateVerifyError,
    Connection,
    ErrorCode,
    Role,
    WantRetryVerifyError,
    certs,
    drive,
    handshake,
    memory_pair,
)
from ossl_handshake.core.verify_pause import VerifyPause
from tests._contexts import client, server
from tests._openssl import requires
from tests._pause_sockets import connect_to
from tests._peers import SServer, openssl_cli, s_server_identity

pytestmark = pytest.mark.timeout(60)

APPLICATION_VERIFICATION = 50


class Verifier:
    """A verify callback that records its calls and plays scripted answers."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[int] = []

    def __call__(self, conn: Connection, ok: bool, depth: int, error: int, der: bytes) -> Any:
        self.calls.append(depth)
        return self.answers.pop(0) if self.answers else ok


def _pair(verifier: Verifier, **kw: Any) -> Any:
    ctx = client(verify_callback=verifier, verify_may_pause=True, **kw)
    return memory_pair(ctx, server(), server_name="localhost")


@requires("retry_verify")
def test_a_deferred_verification_pauses_the_client_and_accept_resumes_it() -> None:
    verifier = Verifier(PAUSE)
    c, s = _pair(verifier)
    result = drive(c, s)
    pause = result.paused
    assert isinstance(pause, VerifyPause)
    assert (pause.kind, pause.role, pause.callback) == (
        ErrorCode.WANT_RETRY_VERIFY,
        Role.CLIENT,
        "verify",
    )
    assert isinstance(result.error, WantRetryVerifyError)
    assert not result.steps[-1].step.failed
    asked = len(verifier.calls)
    assert c.step().error_code is ErrorCode.WANT_RETRY_VERIFY  # not resumed: pauses again
    assert len(verifier.calls) == asked
    c.resume(accept=True)
    final = drive(c, s)
    assert final.ok and final.client.verify_result == 0
    assert len(verifier.calls) == asked  # the resume's answer, not a second walk


@requires("retry_verify")
def test_a_deferred_verification_rejected_on_resume_fails_as_a_verify_error() -> None:
    c, s = _pair(Verifier(PAUSE))
    result = drive(c, s, on_pause=lambda p: p.resume(accept=False))
    assert isinstance(result.error, CertificateVerifyError)
    assert result.failed_side is Role.CLIENT
    assert result.client.verify_result == APPLICATION_VERIFICATION
    assert result.server.alert_received is not None


@requires("retry_verify")
def test_a_resume_without_answer_walks_the_chain_through_the_callback_again() -> None:
    verifier = Verifier(PAUSE)
    result = handshake(*_pair(verifier), on_pause=lambda p: p.resume())
    assert result.ok
    # Paused at the root, then the whole chain again: root, intermediate, leaf.
    assert verifier.calls[0] == verifier.calls[1] == 2
    assert verifier.calls[-1] == 0


@requires("retry_verify")
def test_do_handshake_raises_the_typed_pause() -> None:
    c, s = _pair(Verifier(PAUSE))
    drive(c, s)
    with pytest.raises(WantRetryVerifyError) as info:
        c.do_handshake()
    assert info.value.pause is c.pause
    c.resume(accept=True)
    assert handshake(c, s).ok


def test_a_verify_callback_returning_minus_one_fails_the_handshake_cleanly() -> None:
    # CVE-2021-4044: -1 is not "retry"; only SSL_set_retry_verify asks for one.
    c, s = memory_pair(client(verify_callback=Verifier(-1)), server(), server_name="localhost")
    with pytest.raises(CallbackError) as info:
        drive(c, s)
    assert isinstance(info.value.__cause__, TypeError)
    assert c.pause is None
    assert c.failed is not None and c.failed.error_code is not ErrorCode.WANT_RETRY_VERIFY


def test_pause_without_verify_may_pause_is_refused() -> None:
    c, s = memory_pair(client(verify_callback=Verifier(PAUSE)), server(), server_name="localhost")
    with pytest.raises(CallbackError) as info:
        drive(c, s)
    assert isinstance(info.value.__cause__, TypeError)
    assert c.pause is None
    with pytest.raises(ValueError, match="needs a verify_callback"):
        client(verify_may_pause=True)


def test_a_server_verify_callback_cannot_defer() -> None:
    ctx = server(
        cafile=certs.CA,
        client_auth="require",
        verify_callback=Verifier(PAUSE),
        verify_may_pause=True,
    )
    c, s = memory_pair(
        client(cert=certs.CLIENT.cert, key=certs.CLIENT.key), ctx, server_name="localhost"
    )
    with pytest.raises(CallbackError) as info:
        drive(c, s)
    assert "client-only" in str(info.value.__cause__)


@contextlib.contextmanager
def _deferred_against_s_server(printed: list[tuple[str, str]]) -> Iterator[Connection]:
    """Our client, its verification deferred, paused in its handshake with s_server;
    what s_server printed (stdout, stderr) is appended to ``printed`` at the end."""
    proc = SServer(openssl_cli(), *s_server_identity(certs.SERVER_ECDSA))
    ctx = client(verify_callback=Verifier(PAUSE), verify_may_pause=True)
    try:
        with connect_to(ctx, proc.port) as conn:
            with pytest.raises(WantRetryVerifyError):
                conn.do_handshake()
            yield conn
    finally:
        _rc, out, err = proc.finish()
        printed.append((out, err))


@requires("retry_verify")
def test_over_a_socket_our_deferred_client_completes_against_openssl_s_server() -> None:
    printed: list[tuple[str, str]] = []
    with _deferred_against_s_server(printed) as conn:
        conn.resume(accept=True)
        conn.do_handshake()
        assert conn.version == "TLSv1.3"
    assert "BEGIN SSL SESSION PARAMETERS" in printed[0][0]  # s_server finished its handshake too


@requires("retry_verify")
def test_over_a_socket_a_deferred_rejection_fails_our_client_and_alerts_s_server() -> None:
    printed: list[tuple[str, str]] = []
    with _deferred_against_s_server(printed) as conn:
        conn.resume(accept=False)
        with pytest.raises(CertificateVerifyError) as info:
            conn.do_handshake()
        assert info.value.verify_result == APPLICATION_VERIFICATION
        assert info.value.alert_sent is not None
    assert "alert" in "".join(printed[0]).lower()
