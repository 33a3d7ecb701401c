"""Return codes, ``SSL_get_error`` codes, the exception tree and error-queue capture.

Every libssl call that can fail goes through one C helper
(``_build/glue/step.c``) that clears the queue and ``errno``, makes the call,
then captures the return value, ``SSL_get_error``, ``errno``, the state, the
verify result and the whole error queue before anything else can run
(docs/architecture.md, "The error mapping"). :func:`error_for` turns that
capture into the exception a caller sees, in the spirit of CPython's
``PySSL_SetError``: the ``SSL_get_error`` code picks the class, the queue
supplies the reasons.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ossl_handshake._native import ffi, lib, text
from ossl_handshake.tls.names import alert_name, packed_alert_name

if TYPE_CHECKING:
    from ossl_handshake.tls.roles import Role

#: Error-code layout and the reasons the mapping looks for, from the linked
#: OpenSSL's headers (glue/compat.c gives 1.1.1 values that match nothing).
ERR_LIB_SSL = int(lib.ERR_LIB_SSL)
_SYSTEM_FLAG = int(lib.ERR_SYSTEM_FLAG)
#: ``ERR_GET_REASON`` keeps the reason flags (ERR_RFLAG_FATAL, ERR_RFLAG_COMMON)
#: of OpenSSL 3; this mask drops them.
_REASON_NUMBER = ((1 << int(lib.ERR_RFLAGS_OFFSET)) - 1) & int(lib.ERR_REASON_MASK)
#: Received alerts are queued as SSL reasons ``SSL_AD_REASON_OFFSET`` + the alert number.
ALERT_REASON_OFFSET = int(lib.SSL_AD_REASON_OFFSET)
#: ``SSL_R_UNEXPECTED_EOF_WHILE_READING`` (OpenSSL 3.0+; -1 before, where EOF is SYSCALL).
REASON_UNEXPECTED_EOF = int(lib.SSL_R_UNEXPECTED_EOF_WHILE_READING)
REASON_CERTIFICATE_VERIFY_FAILED = int(lib.SSL_R_CERTIFICATE_VERIFY_FAILED)


def ssl_reason(code: int) -> int | None:
    """The ``SSL_R_*`` reason number of a packed error code, flags masked off;
    None unless the entry is from libssl (system errors never are)."""
    if code & _SYSTEM_FLAG or lib.ERR_GET_LIB(code) != ERR_LIB_SSL:
        return None
    return int(lib.ERR_GET_REASON(code)) & _REASON_NUMBER


def alert_number(code: int) -> int | None:
    """The alert a packed error code reports as received from the peer, else None.

    Only libssl reasons ``SSL_AD_REASON_OFFSET`` + 1..255 are alerts
    (``SSL_R_SSLV3_ALERT_BAD_RECORD_MAC`` is 1020); ``ERR_R_INTERNAL_ERROR``
    with its flags is a large number, not ``alert_785691``.
    """
    reason = ssl_reason(code)
    if reason is None or not 0 < reason - ALERT_REASON_OFFSET <= 255:
        return None
    return reason - ALERT_REASON_OFFSET


class ReturnCode(enum.IntEnum):
    """What an ``SSL_do_handshake``/``SSL_shutdown`` return value means (SSL_do_handshake(3))."""

    SUCCESS = 1
    SHUTDOWN = 0
    FATAL = -1

    @classmethod
    def of(cls, ret: int) -> ReturnCode:
        """Map a raw return value: 1 success, 0 controlled shutdown, any negative value fatal."""
        if ret > 0:
            return cls.SUCCESS
        if ret == 0:
            return cls.SHUTDOWN
        return cls.FATAL


class ErrorCode(enum.IntEnum):
    """``SSL_get_error`` results (SSL_get_error(3)), values read from the linked OpenSSL.

    ``WANT_RETRY_VERIFY`` is -1 when the linked OpenSSL predates 3.0 and cannot return it.
    """

    NONE = lib.SSL_ERROR_NONE
    SSL = lib.SSL_ERROR_SSL
    WANT_READ = lib.SSL_ERROR_WANT_READ
    WANT_WRITE = lib.SSL_ERROR_WANT_WRITE
    WANT_X509_LOOKUP = lib.SSL_ERROR_WANT_X509_LOOKUP
    SYSCALL = lib.SSL_ERROR_SYSCALL
    ZERO_RETURN = lib.SSL_ERROR_ZERO_RETURN
    WANT_CONNECT = lib.SSL_ERROR_WANT_CONNECT
    WANT_ACCEPT = lib.SSL_ERROR_WANT_ACCEPT
    WANT_ASYNC = lib.SSL_ERROR_WANT_ASYNC
    WANT_ASYNC_JOB = lib.SSL_ERROR_WANT_ASYNC_JOB
    WANT_CLIENT_HELLO_CB = lib.SSL_ERROR_WANT_CLIENT_HELLO_CB
    WANT_RETRY_VERIFY = lib.SSL_ERROR_WANT_RETRY_VERIFY

    @property
    def retryable(self) -> bool:
        """True for the codes a caller answers by retrying the same call.

        Read from the C driver's ``ossl_retryable`` (glue/drive.c), the one
        definition: ``WANT_RETRY_VERIFY`` is not retryable, it is only
        legitimate when a verify callback asked for it (CVE-2021-4044); such
        a requested one is mapped to :class:`WantRetryVerifyError`, a pause
        (``error_for(..., requested=)``, core/verify_pause.py).
        """
        return self in _RETRYABLE


#: The ErrorCodes ``ossl_retryable`` says yes to, read once at import.
_RETRYABLE: frozenset[ErrorCode] = frozenset(c for c in ErrorCode if lib.ossl_retryable(c))


@dataclass(frozen=True)
class ErrorRecord:
    """One entry of the OpenSSL error queue (ERR_get_error_all(3))."""

    code: int
    library: str
    library_code: int
    reason: str
    reason_code: int
    file: str
    line: int
    function: str
    data: str

    @property
    def alert(self) -> str | None:
        """Name of the alert received from the peer when this entry reports one
        (see :func:`alert_number`)."""
        n = alert_number(self.code)
        return alert_name(n) if n is not None else None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file else ""
        if self.function:
            where = f"{where} {self.function}".strip()
        extra = f" ({self.data})" if self.data else ""
        return f"{self.library}: {self.reason}{extra} [{where}]"


_record_cache: dict[tuple[int, str, int, str, str], ErrorRecord] = {}


def _record(entry: Any) -> ErrorRecord:
    code = int(entry.code)
    file = text(entry.file)
    line = int(entry.line)
    func = text(entry.func)
    data = text(entry.data)
    key = (code, file, line, func, data)
    rec = _record_cache.get(key)
    if rec is None:
        reason_code = int(lib.ERR_GET_REASON(code))
        reason = text(lib.ERR_reason_error_string(code)) or f"reason({reason_code})"
        rec = ErrorRecord(
            code=code,
            library=text(lib.ERR_lib_error_string(code)) or f"lib({lib.ERR_GET_LIB(code)})",
            library_code=int(lib.ERR_GET_LIB(code)),
            reason=reason,
            reason_code=reason_code,
            file=file,
            line=line,
            function=func,
            data=data,
        )
        if len(_record_cache) < 4096:
            _record_cache[key] = rec
    return rec


def records(result: Any) -> tuple[ErrorRecord, ...]:
    """The error-queue entries captured in an ``ossl_result``."""
    n = int(result.nerr)
    if n == 0:
        return ()
    return tuple(_record(result.entries[i]) for i in range(n))


def drain() -> tuple[ErrorRecord, ...]:
    """Empty this thread's error queue into records (after a configuration call)."""
    res = ffi.new("ossl_result *")
    lib.ossl_take_errors(res)
    return records(res)


class SSLError(Exception):
    """A libssl call failed. Base of every error this binding raises for TLS.

    ``error_code`` is the ``SSL_get_error`` result (the same word as
    :attr:`Step.error_code <ossl_handshake.Step.error_code>`), ``ret`` the raw
    return value, ``errors`` the drained error queue, ``state``
    ``SSL_state_string_long`` at the time, ``role`` the side that failed (when
    known), ``alert_sent`` and ``alert_received`` the names of the last alerts
    that crossed the wire (from the info callback), ``verify_result``
    ``SSL_get_verify_result`` (as :attr:`SideResult.verify_result`) when the
    failure is a verification failure, ``verify_message`` its text.
    """

    error_code: ErrorCode
    ret: int
    errors: tuple[ErrorRecord, ...]
    state: str
    role: Role | None
    alert_sent: str | None
    alert_received: str | None
    verify_result: int
    verify_message: str
    operation: str
    result: Any

    def __init__(
        self,
        message: str = "",
        *,
        error_code: ErrorCode = ErrorCode.SSL,
        ret: int = -1,
        errors: Sequence[ErrorRecord] = (),
        state: str = "",
        role: Role | None = None,
        alert_sent: str | None = None,
        alert_received: str | None = None,
        verify_result: int = 0,
        verify_message: str = "",
        operation: str = "SSL_do_handshake",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.ret = ret
        self.errors = tuple(errors)
        self.state = state
        self.role = role
        self.alert_sent = alert_sent
        self.alert_received = alert_received
        self.verify_result = verify_result
        self.verify_message = verify_message
        self.operation = operation
        self.result = None

    @property
    def code(self) -> ErrorCode:
        """Old name of :attr:`error_code` (read-only alias)."""
        return self.error_code

    @property
    def verify_code(self) -> int:
        """Old name of :attr:`verify_result` (read-only alias)."""
        return self.verify_result

    @property
    def reasons(self) -> list[str]:
        """The reason texts of the queue, oldest first (``["certificate verify failed"]``)."""
        return [r.reason for r in self.errors]

    @property
    def reason(self) -> str | None:
        """The first reason text, or None when the queue was empty."""
        return self.errors[0].reason if self.errors else None

    @property
    def return_code(self) -> ReturnCode:
        return ReturnCode.of(self.ret)

    def __str__(self) -> str:
        who = f"{self.role.value} " if self.role is not None else ""
        head = self.message or f"{who}{self.operation} failed"
        parts = [f"{head}: SSL_ERROR_{self.error_code.name} (ret={self.ret})"]
        if self.state:
            parts.append(f"in state {self.state!r}")
        text_ = " ".join(parts)
        if self.errors:
            text_ += ": " + "; ".join(str(r) for r in self.errors)
        if self.verify_result:
            text_ += f"; verify error {self.verify_result}: {self.verify_message}"
        if self.alert_sent:
            text_ += f"; sent alert {self.alert_sent}"
        if self.alert_received:
            text_ += f"; received alert {self.alert_received}"
        return text_


class WantError(SSLError):
    """The call needs the peer or the transport to make progress; retry it later."""


class WantReadError(WantError):
    """SSL_ERROR_WANT_READ: more bytes from the peer are needed."""


class WantWriteError(WantError):
    """SSL_ERROR_WANT_WRITE: the transport cannot take the bytes we have to send."""


class PauseError(WantError):
    """The handshake paused in a callback (or an async job) and waits for the application.

    Not a transport wait: moving bytes does not help. ``pause`` is the
    :class:`~ossl_handshake.core.pauses.Pause` to answer (``pause.resume(...)``
    or ``conn.resume(...)``), then call the same function again. One subclass
    per ``SSL_get_error`` code (:data:`PAUSE_CLASSES`).
    """

    pause: Any = None


class WantX509LookupError(PauseError):
    """SSL_ERROR_WANT_X509_LOOKUP: a certificate callback (``SSL_CTX_set_cert_cb``,
    ``SSL_CTX_set_client_cert_cb``) asked to be called again."""


class WantClientHelloError(PauseError):
    """SSL_ERROR_WANT_CLIENT_HELLO_CB: the ClientHello callback returned
    ``SSL_CLIENT_HELLO_RETRY``."""


class WantRetryVerifyError(PauseError):
    """SSL_ERROR_WANT_RETRY_VERIFY requested by a verify callback (``SSL_set_retry_verify``).

    Only when this connection's callback asked for it: an unrequested one is
    a :class:`ProtocolError` (CVE-2021-4044).
    """


class WantAsyncError(PauseError):
    """SSL_ERROR_WANT_ASYNC: an asynchronous crypto job paused (``SSL_MODE_ASYNC``)."""


class WantAsyncJobError(PauseError):
    """SSL_ERROR_WANT_ASYNC_JOB: no asynchronous job was available (the pool limit)."""


# --- connect/accept BIOs (core/bio_transports.py) ---


class WantConnectError(WantError):
    """SSL_ERROR_WANT_CONNECT: a connect BIO's non-blocking ``connect`` has not completed."""


class WantAcceptError(WantError):
    """SSL_ERROR_WANT_ACCEPT: an accept BIO has no connection to accept yet."""


class ZeroReturnError(SSLError):
    """SSL_ERROR_ZERO_RETURN: the peer sent close_notify."""


class SyscallError(SSLError):
    """SSL_ERROR_SYSCALL: the transport failed; ``errno`` holds the OS error (0 if none)."""

    errno: int

    def __init__(self, message: str = "", *, errno: int = 0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.errno = errno

    def __str__(self) -> str:
        base = super().__str__()
        if self.errno:
            import os

            return f"{base}; errno {self.errno}: {os.strerror(self.errno)}"
        return base


class ProtocolError(SSLError):
    """SSL_ERROR_SSL: a TLS protocol failure; the reasons are in ``errors``."""


class CertificateVerifyError(ProtocolError):
    """Certificate verification failed (``verify_result``/``verify_message`` say why)."""


class UnexpectedEOFError(ProtocolError):
    """The peer closed the transport without close_notify.

    OpenSSL 3.0 reports it as SSL_ERROR_SSL with the libssl reason
    ``SSL_R_UNEXPECTED_EOF_WHILE_READING``; 1.1.1 as SSL_ERROR_SYSCALL with
    ret -1 (or 0), errno 0 and an empty queue. Both map here.
    """


class ConfigurationError(SSLError, ValueError):
    """A configuration call was refused (bad file, key mismatch, bad cipher string...).

    ``operation`` names the OpenSSL function; ``errors`` holds what it queued.
    """


class ContextInUseError(ConfigurationError):
    """The ``SSL_CTX`` setting cannot change while connections made from it are alive.

    OpenSSL copies some settings into each ``SSL`` at ``SSL_new`` and reads
    others from the ``SSL_CTX`` during the handshake, so changing them under
    live connections is undefined (SSL_CTX_new(3)). Close the connections, or
    build another :class:`~ossl_handshake.Context`.
    """


class ClosedError(ValueError):
    """The object was closed (``close()``), or closed while this call waited."""


class TransportClosedError(ClosedError):
    """The socket under a connection was closed or replaced by another one (same fd)."""


class BusyError(RuntimeError):
    """Another thread is inside a libssl call on this object, or a callback of the
    object re-entered it: libssl objects and BIO pairs have no locking of their own."""


class CallbackError(SSLError):
    """A Python callback raised; the original exception is ``__cause__``."""


class NoProgressError(SSLError):
    """Neither peer can move: both wait for bytes and none are in flight."""


#: The pause classes by code (core/pauses.py builds the ``Pause`` each carries).
PAUSE_CLASSES: dict[ErrorCode, type[PauseError]] = {
    ErrorCode.WANT_X509_LOOKUP: WantX509LookupError,
    ErrorCode.WANT_CLIENT_HELLO_CB: WantClientHelloError,
    ErrorCode.WANT_RETRY_VERIFY: WantRetryVerifyError,
    ErrorCode.WANT_ASYNC: WantAsyncError,
    ErrorCode.WANT_ASYNC_JOB: WantAsyncJobError,
}

_WANT_CLASSES: dict[ErrorCode, type[SSLError]] = {
    ErrorCode.WANT_READ: WantReadError,
    ErrorCode.WANT_WRITE: WantWriteError,
    ErrorCode.WANT_X509_LOOKUP: WantX509LookupError,
    ErrorCode.WANT_CLIENT_HELLO_CB: WantClientHelloError,
    ErrorCode.WANT_ASYNC: WantAsyncError,
    ErrorCode.WANT_ASYNC_JOB: WantAsyncJobError,
    ErrorCode.WANT_CONNECT: WantConnectError,
    ErrorCode.WANT_ACCEPT: WantAcceptError,
}

_ERROR_BY_VALUE = {int(c): c for c in ErrorCode}  # a dict lookup, not EnumMeta.__call__

#: Calls ``SSL_get_error`` does not classify: it is documented for the I/O and
#: handshake calls only, and OpenSSL 4.0 no longer reads the queue for others
#: (so a refused ``SSL_key_update`` would look like SSL_ERROR_SYSCALL).
#: :func:`error_code_for` classifies them from ``ret`` and the queue instead.
UNCLASSIFIED_OPERATIONS = frozenset(
    {
        "SSL_key_update",
        "SSL_renegotiate",
        "SSL_renegotiate_abbreviated",
        "SSL_verify_client_post_handshake",
    }
)


def error_code_for(operation: str, ret: int, err: int, errors: Sequence[ErrorRecord]) -> ErrorCode:
    """The :class:`ErrorCode` of one captured call.

    ``err`` (``SSL_get_error``) for the calls it is defined for; for the
    :data:`UNCLASSIFIED_OPERATIONS`: ret 1 is NONE, a non-empty queue SSL,
    anything else SYSCALL.
    """
    if operation in UNCLASSIFIED_OPERATIONS:
        if ret == 1:
            return ErrorCode.NONE
        return ErrorCode.SSL if errors else ErrorCode.SYSCALL
    known = _ERROR_BY_VALUE.get(err)
    return known if known is not None else ErrorCode(err)


def _text_or_empty(p: Any) -> str:
    return text(p) if p != ffi.NULL else ""


def error_for(
    result: Any,
    *,
    role: Role | None = None,
    operation: str = "SSL_do_handshake",
    alert_sent: str | None = None,
    alert_received: str | None = None,
    errors: tuple[ErrorRecord, ...] | None = None,
    requested: ErrorCode | None = None,
) -> SSLError | None:
    """The exception for a captured ``ossl_result``; None for success.

    The one mapping from a C capture to an exception. Everything it needs is in
    the capture (ret, ``SSL_get_error``, errno, the queue, the state and the
    verify result, read in the same C call); the caller adds who (``role``),
    what (``operation``) and the alerts its info callback saw. ``errors``
    passes records already decoded from this capture. ``requested`` is the
    pause code a callback of this connection asked for during the call
    (``SSL_set_retry_verify``): only then is ``WANT_RETRY_VERIFY`` a pause.
    """
    recs = records(result) if errors is None else errors
    return _map(
        int(result.ret),
        int(result.err),
        int(result.sys_errno),
        recs,
        _text_or_empty(result.state),
        int(result.verify),
        role,
        operation,
        alert_sent,
        alert_received,
        requested,
    )


def error_for_step(
    rec: Any, *, role: Role | None = None, errors: tuple[ErrorRecord, ...] = ()
) -> SSLError | None:
    """The exception for a C driver record (``ossl_step_rec``); None for success.

    The same mapping as :func:`error_for` (one ``SSL_do_handshake`` call); the
    record carries the alerts too. Its queue is only kept for the driver's
    last record (the ``ossl_result`` it stopped with): pass it as ``errors``.
    """
    return _map(
        int(rec.ret),
        int(rec.err),
        int(rec.sys_errno),
        errors,
        _text_or_empty(rec.state),
        int(rec.verify),
        role,
        "SSL_do_handshake",
        packed_alert_name(int(rec.alert_sent)),
        packed_alert_name(int(rec.alert_received)),
    )


def _map(
    ret: int,
    err: int,
    sys_errno: int,
    recs: tuple[ErrorRecord, ...],
    state: str,
    verify: int,
    role: Role | None,
    operation: str,
    alert_sent: str | None,
    alert_received: str | None,
    requested: ErrorCode | None = None,
) -> SSLError | None:
    code = error_code_for(operation, ret, err, recs)
    if code is ErrorCode.NONE:
        return None
    if alert_received is None:
        for rec in recs:
            if rec.alert:
                alert_received = rec.alert
                break
    kw: dict[str, Any] = {
        "error_code": code,
        "ret": ret,
        "errors": recs,
        "state": state,
        "role": role,
        "alert_sent": alert_sent,
        "alert_received": alert_received,
        "operation": operation,
    }
    # The verify result only explains an SSL_ERROR_SSL failure.
    if code is ErrorCode.SSL and verify != X509_V_OK:
        kw["verify_result"] = verify
        kw["verify_message"] = verify_message(verify)
    cls: type[SSLError]
    if code in _WANT_CLASSES:
        cls = _WANT_CLASSES[code]
    elif code is ErrorCode.WANT_RETRY_VERIFY:
        if requested is ErrorCode.WANT_RETRY_VERIFY:
            return WantRetryVerifyError(**kw)
        return ProtocolError("unrequested SSL_ERROR_WANT_RETRY_VERIFY (treated as fatal)", **kw)
    elif code.retryable:
        cls = WantError
    elif code is ErrorCode.ZERO_RETURN:
        cls = ZeroReturnError
    elif code is ErrorCode.SYSCALL:
        # OpenSSL 1.1.1's EOF: ret -1 from SSL_do_handshake (0 from the _ex
        # calls and SSL_shutdown), no errno, nothing queued. Not for calls
        # that do no I/O (their SYSCALL only means "refused, nothing queued").
        eof_possible = operation not in UNCLASSIFIED_OPERATIONS
        if eof_possible and ret <= 0 and not sys_errno and not recs:
            cls = UnexpectedEOFError
        else:
            return SyscallError(errno=sys_errno, **kw)
    else:
        reasons = {ssl_reason(r.code) for r in recs}
        if REASON_UNEXPECTED_EOF in reasons:
            cls = UnexpectedEOFError
        elif REASON_CERTIFICATE_VERIFY_FAILED in reasons or "verify_result" in kw:
            cls = CertificateVerifyError
        else:
            cls = ProtocolError
    return cls(**kw)


X509_V_OK = int(lib.X509_V_OK)


def verify_message(code: int) -> str:
    """``X509_verify_cert_error_string``: ``"hostname mismatch"`` for 62."""
    return text(lib.X509_verify_cert_error_string(code))


def ensure(
    fn: Any,
    *args: Any,
    ok: Any = 1,
    operation: str = "",
    what: str = "",
    raising: type[SSLError] = ConfigurationError,
    steps: Mapping[int, str] | None = None,
) -> Any:
    """Call ``fn(*args)`` on an empty error queue; raise ``raising`` unless it returned ``ok``.

    The one helper for setup calls (PyNaCl's ``ensure()`` is the model): the
    queue is cleared before the call (set aside, if we are inside a callback
    of another libssl call) and drained into the exception after it, which
    names the OpenSSL function (``operation``, default ``fn.__name__``).
    ``ok`` is the success value, or a predicate on the return value. A glue
    function that makes several libssl calls returns which one failed (0 for
    none); ``steps`` names them by that code.
    """
    lib.ossl_clear_errors()
    try:
        ret = fn(*args)
        passed = ok(ret) if callable(ok) else ret == ok
    finally:
        # Take what the call queued, which also puts back the entries of an
        # outer call that ossl_clear_errors set aside (a callback's setup call).
        errors = drain()
    if passed:
        return ret
    name = steps.get(ret, "") if steps else ""
    name = name or operation or str(getattr(fn, "__name__", "libssl call"))
    head = f"{name} failed" + (f": {what}" if what else "")
    raise raising(head, errors=errors, operation=name, ret=int(ret) if isinstance(ret, int) else -1)
