"""``Step``: what one ``SSL_do_handshake`` call did, and the one way to build it.

A step is built only by :func:`step_from` from the ``ossl_result`` that the C
glue filled in the same call as libssl (ret, ``SSL_get_error``, errno, state,
verify result, the error queue), and its exception only by
:func:`~ossl_handshake.core.errors.error_for` (docs/architecture.md, "The
error mapping").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ossl_handshake._native import text
from ossl_handshake.core.errors import ErrorCode, ReturnCode, SSLError, error_for
from ossl_handshake.tls.names import alert_name
from ossl_handshake.tls.roles import Role


@dataclass(frozen=True, slots=True)
class Step:
    """One ``SSL_do_handshake`` call: raw ``ret``, its meaning, ``SSL_get_error``, state after.

    ``error`` holds the mapped exception (not raised) for anything but
    success, ``WANT_*`` steps included (they are retryable, see :attr:`wants`).
    """

    role: Role
    ret: int
    return_code: ReturnCode
    error_code: ErrorCode
    state: str
    error: SSLError | None = None

    @property
    def done(self) -> bool:
        """The handshake finished in this step (ret 1)."""
        return self.ret == 1

    @property
    def wants(self) -> bool:
        """The step needs more I/O (WANT_READ/WANT_WRITE/...); call again later."""
        return self.error_code.retryable

    @property
    def failed(self) -> bool:
        """The handshake failed for good in this step."""
        return self.ret != 1 and not self.error_code.retryable


def alert_text(value: int) -> str | None:
    """The name of an alert recorded by the C info callback (``(level << 8) | code``, -1 none)."""
    return alert_name(value & 0xFF) if value >= 0 else None


def step_from(
    role: Role,
    res: Any,
    alert_sent: int,
    alert_received: int,
    operation: str = "SSL_do_handshake",
    state: str | None = None,
) -> Step:
    """The :class:`Step` of a captured ``ossl_result`` (``res``) of ``operation``.

    ``state`` overrides the capture's own (records of the C driver keep theirs).
    """
    ret = int(res.ret)
    if state is None:
        state = text(res.state)
    verify = int(res.verify) if int(res.err) == int(ErrorCode.SSL) else 0
    error = error_for(
        res,
        state=state,
        role=role,
        alert_sent=alert_text(alert_sent),
        alert_received=alert_text(alert_received),
        verify_code=verify,
        operation=operation,
    )
    code = error.code if error is not None else ErrorCode.NONE
    return Step(role, ret, ReturnCode.of(ret), code, state, error)
