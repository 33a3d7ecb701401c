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
from ossl_handshake.core.errors import ErrorCode, PauseError, ReturnCode, SSLError, error_for
from ossl_handshake.tls.names import packed_alert_name
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
        """The step needs more I/O (WANT_READ/WANT_WRITE/...) or paused; call again later."""
        return self.error_code.retryable or isinstance(self.error, PauseError)

    @property
    def failed(self) -> bool:
        """The handshake failed for good in this step."""
        return (
            self.ret != 1
            and not self.error_code.retryable
            and not isinstance(self.error, PauseError)
        )

    @property
    def pause(self) -> Any:
        """The :class:`~ossl_handshake.core.pauses.Pause` this step stopped at, or None.

        Set for a step whose ``SSL_get_error`` is a pause code (a callback
        asked to be called again, an async job paused): answer it with
        ``step.pause.resume(...)``, then step again.
        """
        err = self.error
        return err.pause if isinstance(err, PauseError) else None


def step_from(
    role: Role,
    res: Any,
    alert_sent: int,
    alert_received: int,
    operation: str = "SSL_do_handshake",
    requested: ErrorCode | None = None,
) -> Step:
    """The :class:`Step` of a captured ``ossl_result`` (``res``) of ``operation``.

    ``alert_sent``/``alert_received`` are the C info callback's packed values
    (``(level << 8) | code``, -1 for none). ``requested``: see
    :func:`~ossl_handshake.core.errors.error_for`.
    """
    ret = int(res.ret)
    error = error_for(
        res,
        role=role,
        operation=operation,
        alert_sent=packed_alert_name(alert_sent),
        alert_received=packed_alert_name(alert_received),
        requested=requested,
    )
    code = error.error_code if error is not None else ErrorCode.NONE
    return Step(role, ret, ReturnCode.of(ret), code, text(res.state), error)
