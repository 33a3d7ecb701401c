"""Deferred certificate verification: a verify callback that answers later.

A client's verify callback (``SSL_CTX_set_verify``) may return
:data:`~ossl_handshake.core.pauses.PAUSE`: the trampoline calls
``SSL_set_retry_verify`` and returns 1 (SSL_set_retry_verify(3), OpenSSL
3.0.2+), libssl finishes the chain walk and ``SSL_do_handshake`` returns
``SSL_ERROR_WANT_RETRY_VERIFY``. The next ``SSL_do_handshake`` walks the
chain again from the start; the answer given to :meth:`VerifyPause.resume`
then applies to every certificate of that walk (and of the rest of the
handshake), so the callable is not asked again. Only a pause this
connection asked for is a pause: any other ``WANT_RETRY_VERIFY`` is fatal
(CVE-2021-4044, ``core/errors.py``).

Used by ``core/callbacks.py:py_verify_cb``; this module imports no callback
plumbing, so there is no cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ossl_handshake._native import FEATURES, lib
from ossl_handshake.core import pauses
from ossl_handshake.core.errors import ErrorCode
from ossl_handshake.tls.roles import Role

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection
    from ossl_handshake.core.context import Hooks

__all__ = ["VerifyPause", "before", "defer"]


class VerifyPause(pauses.Pause, kind=ErrorCode.WANT_RETRY_VERIFY):
    """The verify callback deferred its answer (``SSL_set_retry_verify``).

    ``resume(accept=True)`` accepts the peer's chain, ``resume(accept=False)``
    rejects it (``X509_V_ERR_APPLICATION_VERIFICATION`` unless OpenSSL had an
    error), ``resume()`` asks the callback again, certificate by certificate.
    """

    callback = "verify"

    def _check(self, answer: dict[str, Any]) -> dict[str, Any]:
        extra = set(answer) - {"accept"}
        if extra:
            raise TypeError(f"VerifyPause.resume() got unexpected {sorted(extra)}")
        if "accept" in answer and not isinstance(answer["accept"], bool):
            raise TypeError(f"accept must be a bool, not {answer['accept']!r}")
        return answer


def available(conn: Connection) -> bool:
    """Whether this connection can defer verification: a client on OpenSSL 3.0.2+."""
    return conn.role is Role.CLIENT and FEATURES["retry_verify"]


def _retry(conn: Connection, ssl: Any) -> bool:
    if lib.ossl_set_retry_verify(ssl) != 1:
        raise RuntimeError("SSL_set_retry_verify failed")
    return True


def before(conn: Connection, ssl: Any) -> bool | None:
    """Before the callable runs: the decision for this certificate, or None to ask it.

    A pending pause answers "retry" again; an answer given to ``resume``
    holds for the rest of the handshake; pause mode pauses once first.
    """
    decided: bool | None = conn._verify_answer
    if decided is not None:
        return decided
    status, answer = pauses.consult(conn, "verify")
    if status is pauses.Consult.WAITING:
        return _retry(conn, ssl)
    if status is pauses.Consult.ANSWERED:
        conn._verify_answer = bool(answer["accept"])
        return conn._verify_answer
    if status is pauses.Consult.FRESH and available(conn) and pauses.auto_pause(conn, "verify"):
        pauses.begin(conn, VerifyPause(conn, auto=True))
        return _retry(conn, ssl)
    return None


def defer(conn: Connection, ssl: Any, hooks: Hooks | None) -> int:
    """The callable returned PAUSE: ask libssl to suspend after this chain walk."""
    if not available(conn):
        why = "on a server" if conn.role is Role.SERVER else "before OpenSSL 3.0.2 (FEATURES)"
        raise TypeError(
            f"verify_callback returned PAUSE {why}: SSL_set_retry_verify is client-only"
        )
    if hooks is None or not hooks.verify_may_pause:
        raise TypeError(
            "verify_callback returned PAUSE but the Context was not built with "
            "verify_may_pause=True (the C fast path cannot resume it)"
        )
    pauses.begin(conn, VerifyPause(conn))
    _retry(conn, ssl)
    return 1
