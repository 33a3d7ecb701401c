"""Return codes, ``SSL_get_error`` codes, the exception tree and error-queue capture.

Every libssl call that can fail goes through one C helper (``_glue.c``) that
clears the queue and ``errno``, makes the call, then captures the return
value, ``SSL_get_error``, ``errno`` and the whole error queue before anything
else can run (DESIGN.md rule 1). :func:`error_for` turns that capture into the
exception a caller sees, in the spirit of CPython's ``PySSL_SetError``: the
``SSL_get_error`` code picks the class, the queue supplies the reasons.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ossl_handshake._native import ffi, lib, text
from ossl_handshake.tls.names import alert_name

if TYPE_CHECKING:
    from ossl_handshake.tls.roles import Role

#: ``ERR_GET_REASON`` values of received alerts are 1000 + the alert number.
ALERT_REASON_OFFSET = 1000
#: ``SSL_R_UNEXPECTED_EOF_WHILE_READING`` (OpenSSL 3.0+).
REASON_UNEXPECTED_EOF = 294
#: ``SSL_R_CERTIFICATE_VERIFY_FAILED``.
REASON_CERTIFICATE_VERIFY_FAILED = 134
ERR_LIB_SSL = 20


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
        """True for the ``WANT_*`` codes a caller answers by retrying the same call.

        ``WANT_RETRY_VERIFY`` is excluded: it is only legitimate when a verify
        callback asked for it, which this binding never does (CVE-2021-4044).
        """
        return self.name.startswith("WANT_") and self is not ErrorCode.WANT_RETRY_VERIFY


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
        """Name of the alert received from the peer when this entry reports one."""
        if self.library_code == ERR_LIB_SSL and self.reason_code > ALERT_REASON_OFFSET:
            return alert_name(self.reason_code - ALERT_REASON_OFFSET)
        return None

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

    ``code`` is the ``SSL_get_error`` result, ``ret`` the raw return value,
    ``errors`` the drained error queue, ``state`` ``SSL_state_string_long`` at
    the time, ``role`` the side that failed (when known), ``alert_sent`` and
    ``alert_received`` the names of the last alerts that crossed the wire
    (from the info callback), ``verify_code`` ``SSL_get_verify_result``.
    """

    code: ErrorCode
    ret: int
    errors: tuple[ErrorRecord, ...]
    state: str
    role: Role | None
    alert_sent: str | None
    alert_received: str | None
    verify_code: int
    verify_message: str
    operation: str
    result: Any

    def __init__(
        self,
        message: str = "",
        *,
        code: ErrorCode = ErrorCode.SSL,
        ret: int = -1,
        errors: Sequence[ErrorRecord] = (),
        state: str = "",
        role: Role | None = None,
        alert_sent: str | None = None,
        alert_received: str | None = None,
        verify_code: int = 0,
        verify_message: str = "",
        operation: str = "SSL_do_handshake",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.ret = ret
        self.errors = tuple(errors)
        self.state = state
        self.role = role
        self.alert_sent = alert_sent
        self.alert_received = alert_received
        self.verify_code = verify_code
        self.verify_message = verify_message
        self.operation = operation
        self.result = None

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
        parts = [f"{head}: SSL_ERROR_{self.code.name} (ret={self.ret})"]
        if self.state:
            parts.append(f"in state {self.state!r}")
        text_ = " ".join(parts)
        if self.errors:
            text_ += ": " + "; ".join(str(r) for r in self.errors)
        if self.verify_code:
            text_ += f"; verify error {self.verify_code}: {self.verify_message}"
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
    """Certificate verification failed (``verify_code``/``verify_message`` say why)."""


class UnexpectedEOFError(ProtocolError):
    """The peer closed the transport without close_notify.

    OpenSSL 3.0 reports it as SSL_ERROR_SSL "unexpected eof while reading";
    1.1.1 as SSL_ERROR_SYSCALL with ret 0 and errno 0. Both map here.
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


_WANT_CLASSES: dict[ErrorCode, type[SSLError]] = {
    ErrorCode.WANT_READ: WantReadError,
    ErrorCode.WANT_WRITE: WantWriteError,
}


_ERROR_BY_VALUE = {int(c): c for c in ErrorCode}  # a dict lookup, not EnumMeta.__call__


def error_for(
    result: Any,
    *,
    state: str = "",
    role: Role | None = None,
    alert_sent: str | None = None,
    alert_received: str | None = None,
    verify_code: int = 0,
    operation: str = "SSL_do_handshake",
    errors: tuple[ErrorRecord, ...] | None = None,
) -> SSLError | None:
    """Build the exception for a captured ``ossl_result``; None for SSL_ERROR_NONE."""
    err = int(result.err)
    known = _ERROR_BY_VALUE.get(err)
    code = known if known is not None else ErrorCode(err)  # NONE is 0: test for None
    if code is ErrorCode.NONE:
        return None
    recs = records(result) if errors is None else errors
    ret = int(result.ret)
    kw: dict[str, Any] = {
        "code": code,
        "ret": ret,
        "errors": recs,
        "state": state,
        "role": role,
        "alert_sent": alert_sent,
        "alert_received": alert_received,
        "operation": operation,
    }
    if alert_received is None:
        for rec in recs:
            if rec.alert:
                kw["alert_received"] = rec.alert
                break
    if verify_code:
        kw["verify_code"] = verify_code
        kw["verify_message"] = verify_message(verify_code)
    cls: type[SSLError]
    if code in _WANT_CLASSES:
        cls = _WANT_CLASSES[code]
    elif code is ErrorCode.WANT_RETRY_VERIFY:
        cls = ProtocolError
        kw["errors"] = recs
        return cls("unrequested SSL_ERROR_WANT_RETRY_VERIFY (treated as fatal)", **kw)
    elif code.retryable:
        cls = WantError
    elif code is ErrorCode.ZERO_RETURN:
        cls = ZeroReturnError
    elif code is ErrorCode.SYSCALL:
        sys_errno = int(result.sys_errno)
        if ret == 0 and not sys_errno and not recs:
            cls = UnexpectedEOFError
        else:
            return SyscallError(errno=sys_errno, **kw)
    else:
        reason_codes = {r.reason_code for r in recs if r.library_code == ERR_LIB_SSL}
        if REASON_UNEXPECTED_EOF in reason_codes:
            cls = UnexpectedEOFError
        elif REASON_CERTIFICATE_VERIFY_FAILED in reason_codes or verify_code:
            cls = CertificateVerifyError
        else:
            cls = ProtocolError
    return cls(**kw)


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
) -> Any:
    """Call ``fn(*args)`` on an empty error queue; raise ``raising`` unless it returned ``ok``.

    The one helper for setup calls (PyNaCl's ``ensure()`` is the model): the
    queue is cleared before the call (set aside, if we are inside a callback
    of another libssl call) and drained into the exception after it, which
    names the OpenSSL function (``operation``, default ``fn.__name__``).
    ``ok`` is the success value, or a predicate on the return value.
    """
    lib.ossl_clear_errors()
    ret = fn(*args)
    passed = ok(ret) if callable(ok) else ret == ok
    if passed:
        return ret
    errors = drain()
    name = operation or getattr(fn, "__name__", "libssl call")
    head = f"{name} failed" + (f": {what}" if what else "")
    raise raising(head, errors=errors, operation=name, ret=int(ret) if isinstance(ret, int) else -1)
