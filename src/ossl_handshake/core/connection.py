"""``Connection``: owns an ``SSL``; handshake steps, data, shutdown, negotiated results.

Transport is either memory (a BIO pair per connection: the SSL holds one
half, Python reads and writes the other with :meth:`Connection.bio_read` /
:meth:`Connection.bio_write`; or one pair shared by two connections, see
:func:`join`) or a socket (``SSL_set_fd``). The memory pair is the whole
protocol engine with no I/O; sockets are adapters around it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from typing import Any

from ossl_handshake._native import ffi, lib, text
from ossl_handshake.core import callbacks as _callbacks  # noqa: F401 - registers def_extern
from ossl_handshake.core.constants import Options
from ossl_handshake.core.context import Context, _as_pointer, encode_alpn
from ossl_handshake.core.errors import (
    CallbackError,
    ErrorCode,
    ReturnCode,
    SSLError,
    WantError,
    WantReadError,
    WantWriteError,
    ZeroReturnError,
    drain,
    error_for,
    verify_message,
)
from ossl_handshake.core.session import Session
from ossl_handshake.tls.names import alert_name
from ossl_handshake.tls.roles import Role

InfoObserver = Callable[["Connection", int, int], None]
MessageObserver = Callable[["Connection", bool, int, int, bytes], None]

_NULL = ffi.NULL
_do_handshake = lib.ossl_do_handshake
_state_string_long = lib.SSL_state_string_long
_string = ffi.string
_ERROR_NONE = int(lib.SSL_ERROR_NONE)
_RETRYABLE = {int(c) for c in ErrorCode if c.retryable}
_WANT_CLASSES: dict[ErrorCode, type[SSLError]] = {
    ErrorCode.WANT_READ: WantReadError,
    ErrorCode.WANT_WRITE: WantWriteError,
}
_ERROR_CODES = {int(c): c for c in ErrorCode}  # a dict lookup, not EnumMeta.__call__
_FATAL_CODES = {int(c) for c in ErrorCode if not c.retryable and c is not ErrorCode.NONE}
#: Largest BIO pair buffer accepted (bytes per direction) and the most one
#: read() asks libssl for: more only allocates scratch memory for nothing.
_MAX_BIO_SIZE = 1 << 30
_MAX_READ = 1 << 20
_results = threading.local()


def _thread_result() -> Any:
    """The ``ossl_result`` the C helpers fill, one per thread instead of per connection.

    Each call's result is read in the same thread before its next libssl call
    (a callback's nested call finishes before the outer one writes), so one
    ~7 KB struct per thread serves every connection: 14 KB less per pair.
    """
    try:
        return _results.res
    except AttributeError:
        res = _results.res = ffi.new("ossl_result *")
        return res


_host_names: dict[str, tuple[bool, bytes]] = {}


def _host_name(name: str) -> tuple[bool, bytes]:
    """``(is an IP literal, IDNA-encoded name)``, cached: ``ipaddress`` and the
    ``idna`` codec are pure Python and tests reuse a handful of names."""
    hit = _host_names.get(name)
    if hit is None:
        try:
            ipaddress.ip_address(name)
            is_ip = True
        except ValueError:
            is_ip = False
        hit = (is_ip, name.encode("idna"))
        if len(_host_names) < 1024:
            _host_names[name] = hit
    return hit


_BUSY = "Connection is in use by another thread (or re-entered from one of its callbacks)"
#: ``OSSL_HANDSHAKE_STATE`` values in which no version is negotiated yet.
_PRE_VERSION_STATES = frozenset(
    {int(lib.TLS_ST_BEFORE), int(lib.TLS_ST_CW_CLNT_HELLO), int(lib.TLS_ST_SR_CLNT_HELLO)}
)


class Step:
    """One ``SSL_do_handshake`` call: raw ``ret``, its meaning, ``SSL_get_error``, state after.

    ``error`` holds the mapped exception (not raised) for anything but success.
    For a ``WANT_*`` step with an empty error queue it is built on first read
    (from the values captured at the step), so the usual steps cost no
    exception object. Immutable, compared and hashed by its six fields.
    """

    __slots__ = ("_alerts", "_error", "error_code", "ret", "return_code", "role", "state")

    role: Role
    ret: int
    return_code: ReturnCode
    error_code: ErrorCode
    state: str
    _error: SSLError | None
    _alerts: tuple[int, int] | None

    def __init__(
        self,
        role: Role,
        ret: int,
        return_code: ReturnCode,
        error_code: ErrorCode,
        state: str,
        error: SSLError | None = None,
    ) -> None:
        _set = object.__setattr__
        _set(self, "role", role)
        _set(self, "ret", ret)
        _set(self, "return_code", return_code)
        _set(self, "error_code", error_code)
        _set(self, "state", state)
        _set(self, "_error", error)
        _set(self, "_alerts", None)

    @classmethod
    def _want(
        cls, role: Role, ret: int, code: ErrorCode, state: str, alert_sent: int, alert_received: int
    ) -> Step:
        """A retryable step whose (queue-less) error is made when :attr:`error` is read."""
        self = cls.__new__(cls)
        _set = object.__setattr__
        _set(self, "role", role)
        _set(self, "ret", ret)
        _set(self, "return_code", ReturnCode.of(ret))
        _set(self, "error_code", code)
        _set(self, "state", state)
        _set(self, "_error", None)
        _set(self, "_alerts", (alert_sent, alert_received))
        return self

    @property
    def error(self) -> SSLError | None:
        """The mapped exception (what :func:`~ossl_handshake.errors.error_for` builds)."""
        err = self._error
        if err is None and self._alerts is not None:
            sent, received = self._alerts
            cls = _WANT_CLASSES.get(self.error_code, WantError)
            err = cls(
                error_code=self.error_code,
                ret=self.ret,
                errors=(),
                state=self.state,
                role=self.role,
                alert_sent=alert_name(sent & 0xFF) if sent >= 0 else None,
                alert_received=alert_name(received & 0xFF) if received >= 0 else None,
                operation="SSL_do_handshake",
            )
            object.__setattr__(self, "_error", err)
            object.__setattr__(self, "_alerts", None)
        return err

    def _key(self) -> tuple[Any, ...]:
        return (self.role, self.ret, self.return_code, self.error_code, self.state, self.error)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Step)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __repr__(self) -> str:
        return (
            f"Step(role={self.role!r}, ret={self.ret!r}, return_code={self.return_code!r}, "
            f"error_code={self.error_code!r}, state={self.state!r}, error={self.error!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (Step, self._key())

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


class Connection:
    """One TLS endpoint (``SSL_new``) in the client or server role.

    ``Connection(context, role=None, *, sock=None, server_name=None, ...)``:
    the role defaults to the context's and selects ``SSL_set_connect_state``
    or ``SSL_set_accept_state``. With ``sock`` the SSL runs on that socket
    (``SSL_set_fd``; the connection keeps the socket alive); otherwise it gets
    its own BIO pair of ``bio_size`` bytes per direction (0: OpenSSL's 17 KiB
    default; None: none yet, :func:`join` gives it one). ``server_name`` sets
    SNI (``SSL_set_tlsext_host_name``, not for IP literals) and the name the
    certificate must match (``SSL_set1_host``), unless ``verify_host``
    overrides the latter (``False`` disables it).
    """

    #: The context a server's servername callback switched to (kept alive here).
    _sni_context: Context | None = None
    #: An ALPN choice the client did not offer; OpenSSL keeps only a pointer to it.
    _alpn_buffer: Any = None
    # Defaults every connection starts with, as class attributes: an instance
    # gets its own value only when one changes (construction is per handshake).
    _ssl: Any = _NULL
    _net: Any = _NULL
    _failed: Step | None = None
    _callback_error: BaseException | None = None
    _on_info: InfoObserver | None = None
    _on_message: MessageObserver | None = None
    _sock: socket.socket | None = None
    #: Seconds a socket call may wait (from ``sock.gettimeout()`` when the
    #: socket is attached; assignable). None: blocking or no socket; 0.0:
    #: non-blocking (WANT_* surface).
    timeout: float | None = None
    _peer: Connection | None = None
    _owned = True
    _borrowed = False
    _buf: Any = None
    _bufsize = 0

    @property
    def _res(self) -> Any:
        """This thread's ``ossl_result`` (see :func:`_thread_result`)."""
        return _thread_result()

    def __init__(
        self,
        context: Context,
        role: Role | str | None = None,
        *,
        sock: socket.socket | None = None,
        server_name: str | None = None,
        verify_host: str | bool | None = None,
        session: Session | None = None,
        alpn: list[str] | None = None,
        options: Options | int = Options.NONE,
        bio_size: int | None = 0,
    ) -> None:
        if not isinstance(context, Context):
            raise TypeError(f"context must be a Context, not {type(context).__name__}")
        # One caller at a time: libssl objects and BIO pairs have no locking.
        # Taken without blocking by every call that enters libssl for this SSL.
        self._lock = threading.Lock()
        self.context = context
        # A Role is used as is: Role(role) runs EnumMeta.__call__ in Python.
        r = role if role.__class__ is Role else (Role(role) if role is not None else context.role)
        self.role = r
        self._state = state = ffi.new("ossl_conn_state *")
        self._handle = state.handle = ffi.new_handle(weakref.ref(self))
        # SSL_new + ossl_attach + SSL_set_connect_state/SSL_set_accept_state.
        ssl = context._open_ssl(state, r is Role.SERVER)
        if ssl == _NULL:
            raise SSLError("SSL_new failed", errors=drain(), operation="SSL_new")
        self._ssl = ssl
        if options:
            lib.SSL_set_options(ssl, int(options))
        if server_name is not None:
            self._set_server_name(server_name, verify_host)
        elif isinstance(verify_host, str):
            self._set_verify_host(verify_host)
        if session is not None:
            self.set_session(session)
        if alpn is not None:
            wire = encode_alpn(alpn)
            if lib.SSL_set_alpn_protos(ssl, wire, len(wire)) != 0:
                raise SSLError("SSL_set_alpn_protos failed", errors=drain())
        if sock is not None:
            self._attach_socket(sock)
        elif bio_size is not None:
            self._make_bio_pair(bio_size)

    # -- construction helpers ----------------------------------------------

    def _set_server_name(self, name: str, verify_host: str | bool | None) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"server_name must be a non-empty str, not {name!r}")
        if "\x00" in name:  # C would silently cut the name at the NUL
            raise ValueError(f"server_name contains a NUL character: {name!r}")
        is_ip, encoded = _host_name(name)
        if not is_ip and lib.SSL_set_tlsext_host_name(self._ssl, encoded) != 1:
            raise SSLError(f"SSL_set_tlsext_host_name({name!r}) failed", errors=drain())
        if verify_host is None or verify_host is True:
            self._set_verify_host(name)
        elif isinstance(verify_host, str):
            self._set_verify_host(verify_host)

    def _set_verify_host(self, host: str) -> None:
        if "\x00" in host:
            raise ValueError(f"verify_host contains a NUL character: {host!r}")
        if lib.SSL_set1_host(self._ssl, _host_name(host)[1]) != 1:
            raise SSLError(f"SSL_set1_host({host!r}) failed", errors=drain())

    def _make_bio_pair(self, size: int) -> None:
        if not isinstance(size, int) or not 0 <= size <= _MAX_BIO_SIZE:
            raise ValueError(f"bio_size must be an int in 0..{_MAX_BIO_SIZE}, not {size!r}")
        pair = ffi.new("BIO *[2]")
        if lib.BIO_new_bio_pair(pair, size, pair + 1, size) != 1:
            raise SSLError("BIO_new_bio_pair failed", errors=drain())
        lib.SSL_set_bio(self._ssl, pair[0], pair[0])
        self._net = pair[1]

    def _attach_socket(self, sock: socket.socket) -> None:
        if not isinstance(sock, socket.socket):
            raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
        fd = sock.fileno()
        if fd < 0:
            raise ValueError("socket is closed")
        if lib.SSL_set_fd(self._ssl, fd) != 1:
            raise SSLError("SSL_set_fd failed", errors=drain())
        self._sock = sock
        # Python already keeps a socket with a timeout O_NONBLOCK underneath;
        # we honour the timeout with poll (rule 3) and leave the socket's own
        # setting as the caller made it. Assign ``timeout`` to change it later.
        self.timeout = sock.gettimeout()

    @classmethod
    def adopt(
        cls, pointer: Any, role: Role | str | None = None, *, owned: bool = False
    ) -> Connection:
        """Wrap an ``SSL *`` created by other code in this process.

        ``pointer`` is cffi cdata or an integer address. ``owned=False`` takes
        a reference (``SSL_up_ref``) and drops only that; ``owned=True``
        takes over the caller's reference and frees it once. Either way a
        not-owned SSL is never freed by us, and its shutdown flags are left
        alone. The SSL keeps whatever BIOs and callbacks its creator set; we
        attach our state (ex_data) and, only when neither the SSL nor its
        ``SSL_CTX`` has an info callback, ours for alert bookkeeping
        (:attr:`alert_sent`/:attr:`alert_received`). Use :meth:`set_bio_pair`
        to give it a memory transport. The role is read with
        ``SSL_is_server`` when not given. The ``SSL_CTX`` is wrapped with
        :meth:`Context.adopt` unless a live :class:`Context` already owns it.
        The pointer must come from the same libssl as this module (README,
        "Testing a C program").
        """
        from ossl_handshake.core.handles import connection_of, context_of

        ptr = _as_pointer(pointer, "SSL *")
        if connection_of(ptr) is not None:
            raise ValueError("this SSL * already belongs to a live Connection: use that object")
        ctx_ptr = lib.SSL_get_SSL_CTX(ptr)
        if ctx_ptr == _NULL:
            raise ValueError("SSL * has no SSL_CTX: not a live SSL object")
        r = (
            Role(role)
            if role is not None
            else (Role.SERVER if lib.SSL_is_server(ptr) else Role.CLIENT)
        )
        self = cls.__new__(cls)  # the class attributes hold every other default
        self._lock = threading.Lock()
        # We always hold exactly one reference (_owned) and drop it once; a
        # borrowed SSL's shutdown flags stay its creator's business.
        self._borrowed = not owned
        self.role = r
        existing = context_of(ctx_ptr)
        self.context = existing if existing is not None else Context.adopt(ctx_ptr, r)
        if not owned and lib.SSL_up_ref(ptr) != 1:
            raise SSLError("SSL_up_ref failed", errors=drain(), operation="SSL_up_ref")
        self._state = ffi.new("ossl_conn_state *")
        self._handle = ffi.new_handle(weakref.ref(self))
        self._state.handle = self._handle
        if not lib.ossl_attach_adopted(ptr, self._state):
            if not owned:
                lib.SSL_free(ptr)  # our up_ref only
            raise SSLError("SSL_set_ex_data failed", errors=drain(), operation="SSL_set_ex_data")
        self._ssl = ptr
        return self

    def set_bio_pair(self, size: int = 0) -> None:
        """Give an adopted SSL its own memory BIO pair (``BIO_new_bio_pair`` + ``SSL_set_bio``)."""
        self._live()
        if self._net != _NULL:
            raise ValueError("connection already has a BIO pair")
        self._make_bio_pair(size)

    # -- lifetime ------------------------------------------------------------

    @property
    def ptr(self) -> Any:
        """The raw ``SSL *`` for C code in this process (still owned here)."""
        return self._live()

    def _live(self) -> Any:
        ssl = self._ssl
        if ssl == _NULL:
            raise ValueError("Connection is closed")
        return ssl

    @property
    def closed(self) -> bool:
        return bool(self._ssl == _NULL)

    def close(self) -> None:
        """Free the SSL and our BIO half. Idempotent; the socket is left to its owner.

        A client that never shut down would have its session marked not
        resumable by ``SSL_free``; we set ``SSL_SENT_SHUTDOWN`` first so a
        session taken from it stays usable (DESIGN.md rule 7).
        """
        if self._ssl == _NULL:
            return
        if not self._lock.acquire(False):
            raise RuntimeError(_BUSY)  # freeing it under a running call would crash
        try:
            self._close_locked()
        finally:
            self._lock.release()

    def _close_locked(self) -> None:
        ssl, self._ssl = self._ssl, _NULL
        if ssl == _NULL:
            return
        # SSL_SENT_SHUTDOWN if finished (not on a borrowed SSL), ossl_detach, SSL_free.
        lib.ossl_close_ssl(ssl, not self._borrowed, self._owned)
        if self._net != _NULL:
            lib.BIO_free(self._net)
            self._net = _NULL
        self._peer = None
        self._sock = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return f"<Connection {self.role.value} closed>"
        return f"<Connection {self.role.value} {self.state!r}>"

    # -- observers -------------------------------------------------------

    @property
    def on_info(self) -> InfoObserver | None:
        """Callable ``(conn, where, ret)`` for every info callback (``SSL_set_info_callback``)."""
        return self._on_info

    @on_info.setter
    def on_info(self, fn: InfoObserver | None) -> None:
        if fn is not None and not callable(fn):
            raise TypeError(f"on_info must be callable or None, not {fn!r}")
        self._live()
        self._on_info = fn
        self._state.want_info = 1 if fn is not None else 0

    @property
    def on_message(self) -> MessageObserver | None:
        """Callable ``(conn, sent, version, content_type, data)`` per protocol message.

        Fed by ``SSL_set_msg_callback``: records headers (``SSL3_RT_HEADER``),
        handshake messages, alerts, CCS, inner content types.
        """
        return self._on_message

    @on_message.setter
    def on_message(self, fn: MessageObserver | None) -> None:
        if fn is not None and not callable(fn):
            raise TypeError(f"on_message must be callable or None, not {fn!r}")
        self._live()
        self._on_message = fn
        self._state.want_msg = 1 if fn is not None else 0

    # -- handshake -----------------------------------------------------------

    def step(self) -> Step:
        """Make exactly one ``SSL_do_handshake`` call and report it without raising.

        Returns a :class:`Step`. A failed connection keeps returning the step
        it failed with (OpenSSL may report something else, or nothing, on a
        second call). Only an exception raised by a Python callback during the
        call propagates (as :class:`CallbackError` chained to the original).
        """
        ssl = self._live()
        if self._failed is not None:
            return self._failed
        lock = self._lock
        if not lock.acquire(False):
            raise RuntimeError(_BUSY)
        try:
            res = self._res
            ret = _do_handshake(ssl, res)
            err = res.err
        finally:
            lock.release()
        if self._callback_error is not None:
            self._raise_callback_error(ret)
        if err == _ERROR_NONE:
            return Step(self.role, ret, ReturnCode.SUCCESS, ErrorCode.NONE, self._state_str(ssl))
        state = self._state_str(ssl)
        if err in _RETRYABLE and not res.nerr:
            cs = self._state
            return Step._want(
                self.role, ret, _ERROR_CODES[err], state, cs.alert_sent, cs.alert_received
            )
        exc = self._error(res, state, "SSL_do_handshake")
        code = _ERROR_CODES.get(err)
        step = Step(
            self.role,
            ret,
            ReturnCode.of(ret),
            code if code is not None else ErrorCode(err),
            state,
            exc,
        )
        if err not in _RETRYABLE:
            self._failed = step
        return step

    def _locked(self, fn: Any, *args: Any) -> int:
        """``fn(*args, self._res)`` while holding the connection's lock (no waiting)."""
        lock = self._lock
        if not lock.acquire(False):
            raise RuntimeError(_BUSY)
        try:
            return int(fn(*args, self._res))
        finally:
            lock.release()

    def _state_str(self, ssl: Any) -> str:
        return str(_string(_state_string_long(ssl)).decode())

    def _raise_callback_error(self, ret: int) -> None:
        cause, self._callback_error = self._callback_error, None
        self._state.cb_error = 0
        assert cause is not None
        if not isinstance(cause, Exception):
            raise cause  # KeyboardInterrupt, SystemExit: deliver as is
        state = self._state_str(self._ssl)
        exc = CallbackError(
            f"{self.role.value} callback raised {type(cause).__name__}: {cause}",
            error_code=ErrorCode(int(self._res.err)) if ret != 1 else ErrorCode.SSL,
            ret=ret,
            errors=(),
            state=state,
            role=self.role,
        )
        exc.__cause__ = cause
        self._failed = Step(self.role, ret, ReturnCode.of(ret), exc.error_code, state, exc)
        raise exc

    def _error(self, res: Any, state: str, operation: str) -> SSLError | None:
        # errors.error_for reads the state and verify result from the capture.
        return error_for(
            res,
            role=self.role,
            alert_sent=self.alert_sent,
            alert_received=self.alert_received,
            operation=operation,
        )

    def do_handshake(self, *, on_step: Callable[[Step, str], None] | None = None) -> None:
        """Run ``SSL_do_handshake`` until it succeeds or raises the mapped exception.

        Memory transport and non-blocking sockets: one call; ``WantReadError``
        / ``WantWriteError`` mean "move bytes and call again". A blocking
        socket blocks in C without the GIL. A socket with a timeout waits
        with poll between calls and raises ``TimeoutError`` when it runs out.
        ``on_step(step, state_before)`` sees every ``SSL_do_handshake`` call.
        """
        deadline = self._deadline()
        while True:
            before = self.state if on_step is not None else ""
            step = self.step()
            if on_step is not None:
                on_step(step, before)
            if step.error is None:
                return
            if deadline is not None and step.wants:
                self._wait(step.error_code, deadline, "handshake")
                continue
            raise step.error

    def _deadline(self) -> float | None:
        # No timeout: blocking. Timeout 0.0: a non-blocking socket, whose
        # WANT_* the caller handles with its own select loop.
        if self._sock is None or not self.timeout:
            return None
        return time.monotonic() + self.timeout

    def _wait(self, code: ErrorCode, deadline: float, what: str) -> None:
        assert self._sock is not None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{self.role.value} {what} timed out after {self.timeout} s")
        # poll, not select: select cannot watch descriptors >= FD_SETSIZE.
        poller = select.poll()
        poller.register(
            self._sock.fileno(), select.POLLOUT if code is ErrorCode.WANT_WRITE else select.POLLIN
        )
        if not poller.poll(max(1, int(remaining * 1000 + 0.999))):
            raise TimeoutError(f"{self.role.value} {what} timed out after {self.timeout} s")

    # -- data ------------------------------------------------------------------

    def _scratch(self, n: int) -> Any:
        if n > self._bufsize:
            self._bufsize = max(n, 16384)
            self._buf = ffi.new("char[]", self._bufsize)
        return self._buf

    def read(self, n: int = 16384) -> bytes:
        """``SSL_read_ex`` up to ``n`` bytes of application data.

        Raises :class:`ZeroReturnError` at close_notify, :class:`WantReadError`
        when no data is available yet (memory/non-blocking), ``TimeoutError``
        on a socket with a timeout.
        """
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"read size must be an int, not {type(n).__name__}")
        if n <= 0:
            raise ValueError(f"read size must be positive, not {n}")
        n = min(n, _MAX_READ)  # "up to n": a record is at most 16 KiB anyway
        ssl = self._live()
        buf = self._scratch(n)
        deadline = self._deadline()
        while True:
            ret = self._locked(lib.ossl_read, ssl, buf, n)
            if self._callback_error is not None:
                self._raise_callback_error(ret)
            if ret == 1:
                return bytes(ffi.buffer(buf, self._res.nbytes))
            exc = self._error(self._res, self._state_str(ssl), "SSL_read_ex")
            assert exc is not None
            if deadline is not None and exc.code.retryable:
                self._wait(exc.code, deadline, "read")
                continue
            raise exc

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """``SSL_write_ex`` all of ``data`` (one record per 16 KiB); returns bytes written."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes-like, not {type(data).__name__}")
        ssl = self._live()
        view = ffi.from_buffer(data)
        deadline = self._deadline()
        while True:
            ret = self._locked(lib.ossl_write, ssl, view, len(data))
            if self._callback_error is not None:
                self._raise_callback_error(ret)
            if ret == 1:
                return int(self._res.nbytes)
            exc = self._error(self._res, self._state_str(ssl), "SSL_write_ex")
            assert exc is not None
            if deadline is not None and exc.code.retryable:
                self._wait(exc.code, deadline, "write")
                continue
            raise exc

    def shutdown(self) -> bool:
        """``SSL_shutdown``: send close_notify; True once the peer's close_notify arrived too.

        Returns False after the first call (ret 0: ours sent, theirs pending).
        On a socket with a timeout a retryable result waits with poll and
        retries (``TimeoutError`` when the time runs out), as :meth:`read` does.
        """
        ssl = self._live()
        deadline = self._deadline()
        while True:
            ret = self._locked(lib.ossl_shutdown, ssl)
            if ret == 1:
                return True
            if ret == 0:
                return False
            exc = self._error(self._res, self._state_str(ssl), "SSL_shutdown")
            assert exc is not None
            if deadline is not None and exc.code.retryable:
                self._wait(exc.code, deadline, "shutdown")
                continue
            raise exc

    def process_pending(self) -> int:
        """Process records already received (e.g. TLS 1.3 NewSessionTicket) with ``SSL_peek_ex``.

        Returns the number of application-data bytes now readable. Never
        raises for "no data yet"; raises the mapped error for anything fatal.
        """
        ssl = self._live()
        # One byte, not the 16 KiB read scratch: every driven client comes here.
        buf = self._buf if self._buf is not None else ffi.new("char[1]")
        return self._peeked(ssl, self._locked(lib.ossl_peek, ssl, buf, 1))

    def _peeked(self, ssl: Any, ret: int) -> int:
        """The rest of :meth:`process_pending` once ``ossl_peek`` returned ``ret``."""
        if self._callback_error is not None:
            self._raise_callback_error(ret)
        if ret == 1:
            return int(lib.SSL_pending(ssl))
        if self._res.err in _RETRYABLE:
            return 0
        exc = self._error(self._res, self._state_str(ssl), "SSL_peek_ex")
        assert exc is not None
        if isinstance(exc, ZeroReturnError):
            return 0
        raise exc

    def key_update(self, request_peer: bool = False) -> None:
        """``SSL_key_update`` (TLS 1.3); the KeyUpdate goes out with the next write/handshake."""
        kind = lib.SSL_KEY_UPDATE_REQUESTED if request_peer else lib.SSL_KEY_UPDATE_NOT_REQUESTED
        ret = self._locked(lib.ossl_key_update, self._live(), kind)
        if ret != 1:
            exc = self._error(self._res, self.state, "SSL_key_update")
            assert exc is not None
            raise exc

    @property
    def pending(self) -> int:
        """``SSL_pending``: decrypted bytes buffered and readable now."""
        return int(lib.SSL_pending(self._live()))

    # -- memory transport ----------------------------------------------------

    def _net_bio(self) -> Any:
        self._live()
        if self._net == _NULL:
            what = "a socket" if self._sock is not None else "a shared BIO pair (direct mode)"
            raise ValueError(f"connection is on {what}: it has no network BIO")
        return self._net

    def bio_read(self, n: int = -1) -> bytes:
        """Take up to ``n`` bytes (all if -1) that the SSL wrote for the peer (``BIO_read``)."""
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"n must be an int, not {type(n).__name__}")
        net = self._net_bio()
        lock = self._lock
        if not lock.acquire(False):
            raise RuntimeError(_BUSY)
        try:
            avail = lib.BIO_ctrl_pending(net)
            if n < 0 or n > avail:
                n = avail
            if n == 0:
                return b""
            buf = self._scratch(n)
            got = lib.BIO_read(net, buf, n)
            return bytes(ffi.buffer(buf, got)) if got > 0 else b""
        finally:
            lock.release()

    def bio_write(self, data: bytes | bytearray | memoryview) -> int:
        """Give bytes from the peer to the SSL (``BIO_write``); returns how many were taken.

        Fewer than ``len(data)`` are taken when the pair's buffer is full
        (see :attr:`bio_write_guarantee`); 0 once the direction was shut.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes-like, not {type(data).__name__}")
        net = self._net_bio()
        if not data:
            return 0
        lock = self._lock
        if not lock.acquire(False):
            raise RuntimeError(_BUSY)
        try:
            room = lib.BIO_ctrl_get_write_guarantee(net)
            n = min(len(data), room)
            if n == 0:
                return 0
            put = lib.BIO_write(net, ffi.from_buffer(data), n)
            return max(int(put), 0)
        finally:
            lock.release()

    @property
    def bio_pending(self) -> int:
        """Bytes the SSL has written and the peer has not taken yet (``BIO_ctrl_pending``)."""
        return int(lib.BIO_ctrl_pending(self._net_bio()))

    @property
    def bio_write_guarantee(self) -> int:
        """Bytes :meth:`bio_write` can take now (``BIO_ctrl_get_write_guarantee``)."""
        return int(lib.BIO_ctrl_get_write_guarantee(self._net_bio()))

    def bio_shutdown_wr(self) -> None:
        """``BIO_shutdown_wr``: the peer closed its side; the SSL reads EOF after buffered bytes."""
        lib.BIO_shutdown_wr(self._net_bio())

    def transfer_to(self, other: Connection, limit: int = 1 << 30) -> int:
        """Move pending bytes from our network BIO into ``other``'s, in C; returns the count.

        Stops when nothing is pending or ``other`` has no room. Bytes never
        become Python objects (the fast path of the in-process driver).
        """
        if not isinstance(other, Connection):
            raise TypeError(f"other must be a Connection, not {type(other).__name__}")
        if other is self:
            raise ValueError("cannot transfer a connection's bytes to itself")
        src = self._net_bio()
        dst = other._net_bio()
        buf = self._scratch(16384)
        if not self._lock.acquire(False):
            raise RuntimeError(_BUSY)
        try:
            if not other._lock.acquire(False):
                raise RuntimeError(_BUSY)
            try:
                moved = lib.ossl_bio_move(src, dst, buf, self._bufsize, limit)
            finally:
                other._lock.release()
        finally:
            self._lock.release()
        if moved < 0:
            raise SSLError("BIO_write to peer failed", errors=drain(), operation="BIO_write")
        return int(moved)

    # -- negotiated results ------------------------------------------------

    @property
    def state(self) -> str:
        """``SSL_state_string_long``: ``"SSLv3/TLS read server hello"``."""
        return self._state_str(self._live())

    @property
    def is_init_finished(self) -> bool:
        """``SSL_is_init_finished``: the handshake completed."""
        return bool(lib.SSL_is_init_finished(self._live()))

    @property
    def failed(self) -> SSLError | None:
        """The error this connection's handshake failed with, if it did."""
        return self._failed.error if self._failed is not None else None

    @property
    def version(self) -> str | None:
        """``SSL_get_version`` (``"TLSv1.3"``); None before a version was negotiated."""
        ssl = self._live()
        # Before the hellos SSL_get_version names the highest enabled version,
        # not a negotiated one: a client has not seen a ServerHello/HRR yet, a
        # server has not processed a ClientHello.
        if (
            not lib.SSL_is_init_finished(ssl)
            and int(lib.SSL_get_state(ssl)) in _PRE_VERSION_STATES
            and not self._state.hrr
        ):
            return None
        return text(lib.SSL_get_version(ssl)) or None

    @property
    def cipher(self) -> str | None:
        """``SSL_CIPHER_get_name(SSL_get_current_cipher)``: ``"TLS_AES_256_GCM_SHA384"``."""
        c = lib.SSL_get_current_cipher(self._live())
        return text(lib.SSL_CIPHER_get_name(c)) if c != _NULL else None

    @property
    def cipher_bits(self) -> int | None:
        """``SSL_CIPHER_get_bits`` of the current cipher."""
        c = lib.SSL_get_current_cipher(self._live())
        return int(lib.SSL_CIPHER_get_bits(c, _NULL)) if c != _NULL else None

    @property
    def verify_result(self) -> int:
        """``SSL_get_verify_result``: ``X509_V_OK`` (0) or the verification error code."""
        return int(lib.SSL_get_verify_result(self._live()))

    @property
    def verify_message(self) -> str:
        """``X509_verify_cert_error_string`` of :attr:`verify_result` (``"ok"``)."""
        return verify_message(self.verify_result)

    @property
    def session_reused(self) -> bool:
        """``SSL_session_reused``: this handshake resumed a session."""
        return bool(lib.SSL_session_reused(self._live()))

    @property
    def session(self) -> Session | None:
        """``SSL_get1_session``: the session to offer on a later connection (None if none)."""
        ptr = lib.SSL_get1_session(self._live())
        return Session(ptr) if ptr != _NULL else None

    def set_session(self, session: Session) -> None:
        """``SSL_set_session``: offer ``session`` for resumption (clients, before the handshake)."""
        if not isinstance(session, Session):
            raise TypeError(f"session must be a Session, not {type(session).__name__}")
        if lib.SSL_set_session(self._live(), session.ptr) != 1:
            raise SSLError("SSL_set_session failed", errors=drain(), operation="SSL_set_session")

    @property
    def alpn_protocol(self) -> str | None:
        """``SSL_get0_alpn_selected``: the protocol agreed by ALPN, or None."""
        data = ffi.new("const unsigned char **")
        n = ffi.new("unsigned int *")
        lib.SSL_get0_alpn_selected(self._live(), data, n)
        if n[0] == 0:
            return None
        return bytes(ffi.buffer(data[0], n[0])).decode("ascii", "replace")

    @property
    def server_name(self) -> str | None:
        """``SSL_get_servername``: the SNI name sent (client) or received (server)."""
        p = lib.SSL_get_servername(self._live(), 0)
        return text(p) if p != _NULL else None

    @property
    def group(self) -> str | None:
        """The negotiated key exchange group (``SSL_get_negotiated_group``; None before 3.0)."""
        ssl = self._live()
        # OpenSSL 3.0's SSL_get_negotiated_group dereferences s->session, which
        # is NULL on a server that has not (or never) got past the ClientHello.
        if lib.SSL_get_session(ssl) == _NULL:
            return None
        nid = lib.ossl_get_negotiated_group(ssl)
        if nid == 0:
            return None
        return text(lib.ossl_group_name(ssl, nid)) or f"0x{nid:04x}"

    @property
    def hello_retry_request(self) -> bool:
        """A HelloRetryRequest crossed the wire (seen by our message callback)."""
        self._live()
        return bool(self._state.hrr)

    @property
    def alert_sent(self) -> str | None:
        """Name of the last alert this side sent (info callback), e.g. ``"bad_certificate"``."""
        self._live()
        v = int(self._state.alert_sent)
        return alert_name(v & 0xFF) if v >= 0 else None

    @property
    def alert_received(self) -> str | None:
        """Name of the last alert the peer sent us (info callback)."""
        self._live()
        v = int(self._state.alert_received)
        return alert_name(v & 0xFF) if v >= 0 else None

    def peer_certificates(self) -> PeerCertificates:
        """The peer's leaf and chain by reference, decoded later (:class:`PeerCertificates`)."""
        return PeerCertificates(self._live())

    @property
    def peer_certificate(self) -> bytes | None:
        """DER of the peer's leaf certificate (``SSL_get1_peer_certificate``), or None."""
        x = lib.SSL_get1_peer_certificate(self._live())
        if x == _NULL:
            return None
        try:
            return _der(x)
        finally:
            lib.X509_free(x)

    @property
    def peer_chain(self) -> list[bytes]:
        """DER of each certificate the peer sent (``SSL_get_peer_cert_chain``).

        On a client the list starts with the leaf; on a server OpenSSL leaves
        the leaf out (see :attr:`peer_certificate`).
        """
        sk = lib.SSL_get_peer_cert_chain(self._live())
        if sk == _NULL:
            return []
        stack = ffi.cast("OPENSSL_STACK *", sk)
        out = []
        for i in range(lib.OPENSSL_sk_num(stack)):
            out.append(_der(ffi.cast("X509 *", lib.OPENSSL_sk_value(stack, i))))
        return out

    @property
    def peer_subject(self) -> str | None:
        """RFC 2253 subject of the peer's leaf certificate."""
        return self._peer_name(lib.X509_get_subject_name)

    @property
    def peer_issuer(self) -> str | None:
        """RFC 2253 issuer of the peer's leaf certificate."""
        return self._peer_name(lib.X509_get_issuer_name)

    def _peer_name(self, getter: Any) -> str | None:
        x = lib.SSL_get1_peer_certificate(self._live())
        if x == _NULL:
            return None
        try:
            return x509_name(getter(x))
        finally:
            lib.X509_free(x)

    @property
    def peer_signature_algorithm(self) -> str | None:
        """Type of the peer's handshake signature (``SSL_get_peer_signature_type_nid``)."""
        nid = ffi.new("int *")
        if lib.SSL_get_peer_signature_type_nid(self._live(), nid) != 1:
            return None
        return text(lib.OBJ_nid2sn(nid[0])) or None

    @property
    def peer_signature_digest(self) -> str | None:
        """Digest of the peer's handshake signature (``SSL_get_peer_signature_nid``)."""
        nid = ffi.new("int *")
        if lib.SSL_get_peer_signature_nid(self._live(), nid) != 1:
            return None
        return text(lib.OBJ_nid2sn(nid[0])) or None

    @property
    def signature_algorithm(self) -> str | None:
        """Type of our own handshake signature (``SSL_get_signature_type_nid``).

        On a server this is the signature it made with its key (``"id-ecPublicKey"``
        for ECDSA, ``"RSASSA-PSS"``, ``"ED25519"``); None when it signed nothing.
        """
        nid = ffi.new("int *")
        if lib.SSL_get_signature_type_nid(self._live(), nid) != 1:
            return None
        return text(lib.OBJ_nid2sn(nid[0])) or None

    @property
    def active_context(self) -> Context:
        """The context whose certificate this connection uses.

        That is the one a servername callback switched to (``SSL_set_SSL_CTX``),
        else :attr:`context`.
        """
        return self._sni_context if self._sni_context is not None else self.context


class PeerCertificates:
    """The peer's certificates held by reference, decoded on first use.

    ``SSL_get1_peer_certificate`` (the leaf) and ``X509_chain_up_ref`` of
    ``SSL_get_peer_cert_chain``: a few pointer copies at snapshot time, and
    the DER/RFC 2253 work (``i2d_X509``, ``X509_NAME_print_ex``) only when a
    result's ``peer_*`` fields are read. Valid after the connection is closed.
    """

    __slots__ = ("_chain", "_leaf", "_owner")

    def __init__(self, ssl: Any) -> None:
        leaf = lib.SSL_get1_peer_certificate(ssl)
        self._leaf = ffi.gc(leaf, lib.X509_free) if leaf != _NULL else None
        sk = lib.ossl_peer_chain_ref(ssl)
        self._chain = ffi.gc(sk, lib.ossl_chain_free) if sk != _NULL else None
        self._owner = None

    @classmethod
    def held(cls, leaf: Any, chain: Any, owner: Any) -> PeerCertificates:
        """Certificates whose references ``owner`` holds (an ``ossl_snapshot``, kept alive)."""
        self = cls.__new__(cls)
        self._leaf = leaf if leaf != _NULL else None
        self._chain = chain if chain != _NULL else None
        self._owner = owner
        return self

    def decode(self) -> tuple[str | None, str | None, tuple[bytes, ...]]:
        """``(subject, issuer, chain DER)`` as :class:`Connection` reports them; the
        chain starts with the leaf (servers: OpenSSL leaves it out of the chain)."""
        chain: list[bytes] = []
        if self._chain is not None:
            stack = ffi.cast("OPENSSL_STACK *", self._chain)
            for i in range(lib.OPENSSL_sk_num(stack)):
                chain.append(_der(ffi.cast("X509 *", lib.OPENSSL_sk_value(stack, i))))
        x = self._leaf
        if x is None:
            return None, None, tuple(chain)
        leaf = _der(x)
        if not chain or chain[0] != leaf:
            chain.insert(0, leaf)
        return (
            x509_name(lib.X509_get_subject_name(x)),
            x509_name(lib.X509_get_issuer_name(x)),
            tuple(chain),
        )


def _der(x509: Any) -> bytes:
    n = lib.i2d_X509(x509, _NULL)
    if n <= 0:
        return b""
    buf = ffi.new("unsigned char[]", n)
    p = ffi.new("unsigned char **", buf)
    lib.i2d_X509(x509, p)
    return bytes(ffi.buffer(buf, n))


def x509_name(name: Any) -> str:
    """``X509_NAME_print_ex`` with ``XN_FLAG_RFC2253`` into a memory BIO."""
    bio = lib.BIO_new(lib.BIO_s_mem())
    try:
        lib.X509_NAME_print_ex(bio, name, 0, lib.XN_FLAG_RFC2253)
        pp = ffi.new("char **")
        n = lib.BIO_get_mem_data(bio, pp)
        return bytes(ffi.buffer(pp[0], n)).decode("utf-8", "replace")
    finally:
        lib.BIO_free(bio)


def join(a: Connection, b: Connection, *, size: int = 0) -> None:
    """Put two fresh connections on one BIO pair (the direct mode; ``BIO_new_bio_pair``).

    Bytes written by one are read by the other inside libssl; Python never
    sees them, so :meth:`Connection.bio_read` is unavailable on both. Replaces
    the pairs they were created with.
    """
    for c in (a, b):
        if not isinstance(c, Connection):
            raise TypeError(f"join takes two Connections, not {type(c).__name__}")
        c._live()
        if c._sock is not None:
            raise ValueError("cannot join a connection that is on a socket")
    if lib.ossl_join(a._ssl, b._ssl, size) != 1:
        raise SSLError("BIO_new_bio_pair failed", errors=drain(), operation="BIO_new_bio_pair")
    for c in (a, b):
        if c._net != _NULL:
            lib.BIO_free(c._net)
            c._net = _NULL
    a._peer, b._peer = b, a


__all__ = [
    "Connection",
    "PeerCertificates",
    "Step",
    "WantReadError",
    "WantWriteError",
    "join",
    "x509_name",
]
