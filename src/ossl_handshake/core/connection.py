"""``Connection``: owns an ``SSL``; handshake steps, data, shutdown, observers.

The ``SSL *`` lives in a :class:`~ossl_handshake.core.guard.Guard` and is
reached only through it: each operation below hands one function to
``self._guard.run`` that makes the libssl call through the C glue (which
captures everything the mapping needs in the same call) and turns the capture
into a result or an exception before the guard is released
(docs/architecture.md, "Ownership and guards" and "The error mapping").

Where the bytes go is the transport's business (``core/transports.py``), what
was negotiated is read by ``core/negotiated.py``, and wrapping an ``SSL *``
made by other code is ``core/adopt.py``.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ossl_handshake._native import ffi, lib, text
from ossl_handshake.core import async_jobs as _async
from ossl_handshake.core import callbacks as _callbacks  # noqa: F401 - registers def_extern
from ossl_handshake.core import cert_callbacks as _cert_callbacks  # noqa: F401 - def_extern
from ossl_handshake.core import certdata, ocsp
from ossl_handshake.core import client_hello as _client_hello  # noqa: F401 - def_extern
from ossl_handshake.core import early_data as _early
from ossl_handshake.core import exporters as _exporters
from ossl_handshake.core import pauses as _pauses
from ossl_handshake.core import post_handshake as _post
from ossl_handshake.core import psk as _psk
from ossl_handshake.core.adopt import adoptee, take_reference
from ossl_handshake.core.bio_transports import AcceptBIOTransport, ConnectBIOTransport
from ossl_handshake.core.ca_lists import ca_names_of
from ossl_handshake.core.constants import Options, unavailable_options
from ossl_handshake.core.context import CertSource, Context, Password, encode_alpn
from ossl_handshake.core.errors import (
    BusyError,
    CallbackError,
    ConfigurationError,
    ErrorCode,
    PauseError,
    ReturnCode,
    SSLError,
    ZeroReturnError,
    drain,
    ensure,
)
from ossl_handshake.core.guard import Guard, run_both
from ossl_handshake.core.inputs import c_int, take_bytes
from ossl_handshake.core.negotiated import NegotiatedValues, verified_chain_of
from ossl_handshake.core.ocsp import OCSPStatus
from ossl_handshake.core.pauses import Pause
from ossl_handshake.core.session import Session
from ossl_handshake.core.step import Step, step_from
from ossl_handshake.core.transports import (
    MAX_BIO_SIZE,
    MemoryTransport,
    SharedPairTransport,
    SocketTransport,
    Transport,
    VisibleSocketTransport,
)
from ossl_handshake.core.x509 import PeerCertificates, x509_name
from ossl_handshake.tls.roles import Role, as_role
from ossl_handshake.wire.wire import Tap, Wire

if TYPE_CHECKING:
    from ossl_handshake.tls.client_hello import ClientHello

InfoObserver = Callable[["Connection", int, int], None]
MessageObserver = Callable[["Connection", bool, int, int, bytes], None]

_NULL = ffi.NULL
#: The most one read() asks libssl for: a record is at most 16 KiB anyway.
_MAX_READ = 1 << 20
_MAX_TRANSFER = 1 << 62
_results = threading.local()


def _thread_result() -> Any:
    """The ``ossl_result`` the C glue fills, one per thread.

    A call's result is turned into a Step or an exception in the same thread
    before its next libssl call; a callback's nested call finishes before the
    outer call writes its own, so one struct per thread serves every connection.
    """
    res = getattr(_results, "res", None)
    if res is None:
        res = _results.res = ffi.new("ossl_result *")
    return res


def _host_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    if "\x00" in value:  # C would silently cut the name at the NUL
        raise ValueError(f"{what} contains a NUL character: {value!r}")
    return value


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _check_verify_host(verify_host: object, server_name: str | None) -> str | None:
    """The name ``SSL_set1_host`` gets: ``verify_host`` is None/True (the server name),
    False (no name check) or a non-empty str. Anything else is refused: ``0``,
    ``1``, ``""`` or ``b"host"`` once silently verified nothing."""
    if verify_host is None or verify_host is True:
        if verify_host is True and server_name is None:
            raise ValueError("verify_host=True needs server_name (or pass the name to verify)")
        return server_name
    if verify_host is False:
        return None
    if isinstance(verify_host, str):
        return _host_text(verify_host, "verify_host")
    raise TypeError(
        f"verify_host must be None, True, False or a host name str, not {verify_host!r}"
    )


def _socket_transport(
    sock: socket.socket | None,
    role: Role,
    visible: bool,
    wire: Wire | None,
    bio_size: int | None,
) -> SocketTransport | None:
    """The transport for ``sock`` (None without one); visible mode is explicit."""
    if not isinstance(visible, bool):
        raise TypeError(f"visible must be a bool, not {type(visible).__name__}")
    if wire is not None and not visible:
        raise ValueError("wire= needs visible=True (a Wire sees only a visible socket's bytes)")
    if sock is None:
        if visible:
            raise ValueError("visible=True needs sock= (a memory connection is always visible)")
        return None
    if visible:
        return VisibleSocketTransport(sock, role, wire, bio_size or 0)
    return SocketTransport(sock)


def _verify_names(server_name: str | None, host: str | None) -> tuple[Any, Any, Any]:
    """What ``ossl_open`` sets, NULL where unset: the SNI name (none for an IP
    literal), and the host name or IP address the certificate must match."""
    sni = _NULL if server_name is None or _is_ip(server_name) else server_name.encode("idna")
    if host is None:
        return sni, _NULL, _NULL
    if _is_ip(host):
        return sni, _NULL, host.encode("ascii")
    return sni, host.encode("idna"), _NULL


def _open(
    context: Context,
    state: Any,
    role: Role,
    sni: Any,
    host: Any,
    ip: Any,
    session: Session | None,
    bio_size: int,
) -> Any:
    """``Context._open_ssl``, under the session's guard when one is offered."""
    server = role is Role.SERVER
    if session is None:
        return context._open_ssl(state, server, sni, host, ip, _NULL, bio_size)
    return session._guard.read(
        lambda sess: context._open_ssl(state, server, sni, host, ip, sess, bio_size)
    )


class _Owned:
    """What freeing the SSL also releases; no reference back to the Connection,
    so the guard's free function does not keep the Connection alive."""

    __slots__ = ("borrowed", "context", "counted", "owned", "transport")

    def __init__(self, context: Context, *, counted: bool) -> None:
        self.context = context
        self.counted = counted
        self.borrowed = False
        self.owned = True
        self.transport: Transport = Transport()

    def __call__(self, ssl: Any) -> None:
        # SSL_SENT_SHUTDOWN on a finished SSL (not a borrowed one), detach, SSL_free.
        lib.ossl_close_ssl(ssl, not self.borrowed, self.owned)
        self.transport.release()
        if self.counted:
            self.context._ssl_closed()


class Connection(NegotiatedValues):
    """One TLS endpoint (``SSL_new``) in the client or server role.

    ``Connection(context, role=None, *, sock=None, server_name=None, ...)``:
    the role defaults to the context's and selects ``SSL_set_connect_state``
    or ``SSL_set_accept_state``. With ``sock`` the SSL runs on that socket
    (``SSL_set_fd``; the connection keeps the socket alive); otherwise it gets
    its own BIO pair of ``bio_size`` bytes per direction (0: OpenSSL's 17 KiB
    default; None: none yet, :func:`join` gives it one). ``server_name`` sets
    SNI (``SSL_set_tlsext_host_name``, not for IP literals) and the name the
    certificate must match (``SSL_set1_host``, or ``SSL_set1_ip_asc`` for an
    IP literal), unless ``verify_host`` overrides the latter: a host name
    ``str``, or ``False`` to check no name. ``visible=True`` (with ``sock``)
    runs the SSL on a memory BIO pair that Python pumps to the socket, so a
    :class:`~ossl_handshake.Trace`, the ladder, pcap files and a ``wire``
    (:class:`~ossl_handshake.Wire`, faults included) see every flight
    (``core/transports.py``, :class:`VisibleSocketTransport`).

    One thread at a time: a second thread entering a connection that is in a
    libssl call gets :class:`~ossl_handshake.BusyError`; ``close()`` from
    another thread waits for that call, then frees (a waiting ``read()`` on a
    socket is woken and gets :class:`~ossl_handshake.ClosedError`).
    """

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
        visible: bool = False,
        wire: Wire | None = None,
    ) -> None:
        if not isinstance(context, Context):
            raise TypeError(f"context must be a Context, not {type(context).__name__}")
        r = as_role(role, context.role)
        if server_name is not None:
            _host_text(server_name, "server_name")
        host = _check_verify_host(verify_host, server_name)
        if session is not None and not isinstance(session, Session):
            raise TypeError(f"session must be a Session, not {type(session).__name__}")
        alpn_wire = encode_alpn(alpn) if alpn is not None else None
        if bio_size is not None and sock is None:
            c_int(bio_size, "bio_size", 0, MAX_BIO_SIZE)
        transport = _socket_transport(sock, r, visible, wire, bio_size)
        sni, verify_name, verify_ip = _verify_names(server_name, host)
        memory = bio_size if sock is None and bio_size is not None else -1

        self._init_fields(context, r)
        owned = _Owned(context, counted=True)
        opened = _open(context, self._state, r, sni, verify_name, verify_ip, session, memory)
        self._owned = owned
        self._guard = Guard(opened.ssl, f"{r.value} Connection", owned)
        self._hooks = context._hooks(self._state)  # the callbacks this connection keeps
        if opened.net != _NULL:
            owned.transport = MemoryTransport.of_net(opened.net)
        if options or alpn_wire is not None or transport is not None:
            try:
                self._guard.run(self._configure, options, alpn_wire, transport)
            except BaseException:
                self.close()
                raise

    # State every connection starts with: class defaults, set on the instance
    # only when it changes (a connection's dict holds about 10 entries, not 25).
    _sni_context: Context | None = None
    #: An ALPN choice the client did not offer; OpenSSL keeps only a pointer to it.
    _alpn_buffer: Any = None
    _failed: Step | None = None
    _callback_error: BaseException | None = None
    _on_info: InfoObserver | None = None
    _on_message: MessageObserver | None = None
    _peer: Connection | None = None
    _last_errno = 0
    _adopted = False
    # pauses (core/pauses.py): the pending pause, pause mode, what paused once
    _pause: Pause | None = None
    _pause_mode = False
    _paused_once: frozenset[str] = frozenset()
    _verify_answer: bool | None = None  # a deferred verification's answer
    _client_hello: Any = None  # the server's ClientHello view (core/client_hello.py)
    _psk_identity: bytes | None = None  # core/psk.py: offered / found
    _psk_buffer: Any = None  # the identity libssl points into (TLS 1.3 client)

    def _init_fields(self, context: Context, role: Role) -> None:
        """What differs between connections from the start (``adopt`` shares it)."""
        self.context = context
        self.role = role
        self._state = ffi.new("ossl_conn_state *")
        self._handle = ffi.new_handle(weakref.ref(self))
        self._state.handle = self._handle

    def _configure(
        self,
        ssl: Any,
        options: Options | int,
        alpn_wire: bytes | None,
        transport: SocketTransport | None,
    ) -> None:
        """What ``ossl_open`` does not set: options, ALPN, a socket transport."""
        if options:
            why = unavailable_options(int(options)) if int(options) > 0 else None
            if why:
                raise ConfigurationError(why, operation="SSL_set_options")
            lib.SSL_set_options(ssl, int(options))
        if alpn_wire is not None:
            ensure(lib.SSL_set_alpn_protos, ssl, alpn_wire, len(alpn_wire), ok=0, raising=SSLError)
        if transport is not None:
            transport.attach(ssl)
            self._owned.transport = transport
            self._guard.add_waker(transport.wake)

    @classmethod
    def adopt(
        cls, pointer: Any, role: Role | str | None = None, *, owned: bool = False
    ) -> Connection:
        """Wrap an ``SSL *`` created by other code in this process.

        ``pointer`` is cffi cdata or an integer address. ``owned=False``
        takes a reference (``SSL_up_ref``) and drops only that; ``owned=True``
        takes over the caller's reference and frees it once. Either way a
        not-owned SSL is never freed by us, and its shutdown flags are left
        alone. The SSL keeps whatever BIOs and callbacks its creator set; we
        attach our state (ex_data) and, only when neither the SSL nor its
        ``SSL_CTX`` has an info callback, ours for alert bookkeeping
        (:attr:`alert_sent`/:attr:`alert_received`). Setting
        :attr:`on_info`/:attr:`on_message` (a :class:`~ossl_handshake.Trace`
        does) installs our callbacks in place of the creator's. Use
        :meth:`set_bio_pair` to give it a memory transport. The role is read
        with ``SSL_is_server``; a ``role`` that disagrees is refused. The
        ``SSL_CTX`` is wrapped with :meth:`Context.adopt` unless a live
        :class:`Context` already owns it. The pointer must come from the same
        libssl as this module (see :mod:`ossl_handshake.core.adopt`).
        """
        ptr, r, context = adoptee(pointer, role)
        self = cls.__new__(cls)
        self._init_fields(context, r)
        self._adopted = True
        take_reference(ptr, self._state, owned)
        self._hooks = context._hooks(self._state)  # the callbacks this connection keeps
        # We always hold exactly one reference and drop it once; a borrowed
        # SSL's shutdown flags stay its creator's business.
        keep = _Owned(context, counted=False)
        keep.borrowed = not owned
        self._owned = keep
        self._guard = Guard(ptr, f"adopted {r.value} Connection", keep)
        return self

    def set_bio_pair(self, size: int = 0) -> None:
        """Give an adopted SSL its own memory BIO pair (``ossl_memory_pair`` + ``SSL_set_bio``)."""
        c_int(size, "size", 0, MAX_BIO_SIZE)

        def attach(ssl: Any) -> None:
            if self._transport.kind != "none":
                raise ValueError(f"connection already has {self._transport.describe()}")
            self._owned.transport = MemoryTransport(ssl, size)

        self._guard.run(attach)

    @property
    def _transport(self) -> Transport:
        return self._owned.transport

    # -- lifetime ------------------------------------------------------------

    @property
    def ptr(self) -> Any:
        """The raw ``SSL *`` for C code in this process.

        Still owned here: valid until :meth:`close`, and C code using it must
        not race this object's own calls (libssl has no locking inside an SSL).
        """
        return self._guard.read(lambda ssl: ssl)

    @property
    def closed(self) -> bool:
        return self._guard.closed

    def close(self) -> None:
        """Free the SSL and our BIO half. Idempotent; the socket is left to its owner.

        A call in progress on another thread finishes first (a socket wait is
        woken and raises :class:`~ossl_handshake.ClosedError`); from one of this
        connection's own callbacks the SSL is freed when that call returns. A
        client that never shut down would have its session marked not
        resumable by ``SSL_free``; ``SSL_SENT_SHUTDOWN`` is set first so a
        session taken from it stays usable.

        A call on a *blocking* socket cannot be cut short without touching the
        caller's socket, so ``close()`` while another thread is inside one is
        refused with :class:`~ossl_handshake.BusyError` (shut the socket down,
        or use a timeout, to end that call first).
        """
        t = self._transport
        if (
            isinstance(t, SocketTransport)
            and t.timeout is None
            and self._guard.in_call
            and not self._guard.held_here
        ):
            raise BusyError(
                f"{self._guard.what} is in use by another thread, blocked in a socket call: "
                "close() would have to wait for the peer"
            )
        self._guard.close()
        self._peer = None

    def __del__(self) -> None:
        # Not contextlib.suppress: __del__ runs for every connection, and the
        # context manager costs three Python calls each time.
        try:  # noqa: SIM105
            self._guard.close()
        except Exception:  # interpreter shutdown, half-built objects
            pass

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
        self._guard.read(self._observe)
        self._on_info = fn
        self._state.want_info = 1 if fn is not None else 0

    @property
    def on_message(self) -> MessageObserver | None:
        """Callable ``(conn, sent, version, content_type, data)`` per protocol message.

        Fed by ``SSL_set_msg_callback``: records headers (``SSL3_RT_HEADER``),
        handshake messages, alerts, CCS, inner content types. On an adopted
        SSL, setting an observer installs our callbacks in place of its
        creator's (OpenSSL keeps one of each per SSL).
        """
        return self._on_message

    @on_message.setter
    def on_message(self, fn: MessageObserver | None) -> None:
        if fn is not None and not callable(fn):
            raise TypeError(f"on_message must be callable or None, not {fn!r}")
        self._guard.read(self._observe)
        self._on_message = fn
        self._state.want_msg = 1 if fn is not None else 0

    def _observe(self, ssl: Any) -> None:
        if self._adopted:
            lib.ossl_observe(ssl)

    # -- one libssl call, captured and mapped ---------------------------------

    def _call_locked(self, ssl: Any, fn: Any, *args: Any) -> Any:
        """``fn(ssl, *args, res)`` through the C glue, under the guard; returns the capture.

        A Python callback's exception parked during the call is raised here.
        """
        self._transport.check()
        res = _thread_result()
        fn(ssl, *args, res)
        self._last_errno = int(res.sys_errno)
        if self._callback_error is not None:
            self._raise_callback_error(res)
        return res

    def _mapped(self, res: Any, operation: str) -> SSLError | None:
        """The exception for a capture (None on success), through the one mapping."""
        return step_from(
            self.role, res, self._state.alert_sent, self._state.alert_received, operation
        ).error

    def _raise_callback_error(self, res: Any) -> None:
        cause, self._callback_error = self._callback_error, None
        self._state.cb_error = 0
        assert cause is not None
        if not isinstance(cause, Exception):
            raise cause  # KeyboardInterrupt, SystemExit: deliver as is
        ret = int(res.ret)
        state = text(res.state)
        exc = CallbackError(
            f"{self.role.value} callback raised {type(cause).__name__}: {cause}",
            error_code=ErrorCode(int(res.err)) if ret != 1 else ErrorCode.SSL,
            ret=ret,
            errors=(),
            state=state,
            role=self.role,
        )
        exc.__cause__ = cause
        self._failed = Step(self.role, ret, ReturnCode.of(ret), exc.error_code, state, exc)
        raise exc

    def _retrying(
        self,
        what: str,
        once: Callable[[Any], tuple[Any, SSLError | None]],
        after: Callable[[Any], None] | None = None,
    ) -> Any:
        """Run ``once`` under the guard until it succeeds, waiting on a socket as its mode says.

        The one retry loop (trio's ``_retry``): memory BIOs and non-blocking
        sockets raise ``WANT_*`` to the caller; a blocking socket retries a
        call that a signal interrupted (PEP 475: a handler that raises
        propagates, with the connection still usable); a socket with a
        timeout waits with poll between calls (``TimeoutError`` at the end).
        ``after(value)`` runs after each call, outside the guard.
        """
        t = self._transport
        if isinstance(t, VisibleSocketTransport):
            return t.retry(self, what, lambda: self._guard.run(once), after, lambda: self.closed)
        deadline = t.deadline()
        while True:
            value, exc = self._guard.run(once)
            if after is not None:
                after(value)
            if exc is None:
                return value
            # A pause waits for the application, not the socket: raise it at once.
            if exc.error_code.retryable and not isinstance(exc, PauseError):
                if self._transport.interrupted(self._last_errno):
                    continue
                if deadline is not None:
                    label = f"{self.role.value} {what}"
                    self._transport.wait(exc.error_code, deadline, label, lambda: self.closed)
                    continue
            raise exc

    # -- handshake -----------------------------------------------------------

    @property
    def state(self) -> str:
        """``SSL_state_string_long``: ``"SSLv3/TLS read server hello"``."""
        return self._guard.read(lambda ssl: text(lib.SSL_state_string_long(ssl)))

    @property
    def failed(self) -> SSLError | None:
        """The error this connection's handshake failed with, if it did."""
        return self._failed.error if self._failed is not None else None

    def step(self) -> Step:
        """Make exactly one ``SSL_do_handshake`` call and report it without raising.

        Returns a :class:`Step`. A failed connection keeps returning the step
        it failed with (OpenSSL may report something else, or nothing, on a
        second call). Only an exception raised by a Python callback during the
        call propagates (as :class:`CallbackError` chained to the original).
        """
        return self._guard.run(self._step_locked)

    def _step_locked(self, ssl: Any) -> Step:
        if self._failed is not None:
            return self._failed
        res = self._call_locked(ssl, lib.ossl_do_handshake)
        step = step_from(
            self.role,
            res,
            self._state.alert_sent,
            self._state.alert_received,
            requested=_pauses.requested(self) if self._pause is not None else None,
        )
        if step.failed:
            self._failed = step
        elif isinstance(step.error, PauseError):
            step.error.pause = _pauses.pause_for(self, step)
        return step

    def do_handshake(self, *, on_step: Callable[[Step, str], None] | None = None) -> None:
        """Run ``SSL_do_handshake`` until it succeeds or raises the mapped exception.

        Memory transport and non-blocking sockets: one call; ``WantReadError``
        / ``WantWriteError`` mean "move bytes and call again". A blocking
        socket blocks in C without the GIL. A socket with a timeout waits
        with poll between calls and raises ``TimeoutError`` when it runs out.
        ``on_step(step, state_before)`` sees every ``SSL_do_handshake`` call.
        """

        def once(ssl: Any) -> tuple[tuple[Step, str], SSLError | None]:
            before = text(lib.SSL_state_string_long(ssl)) if on_step is not None else ""
            step = self._step_locked(ssl)
            return (step, before), step.error

        def report(value: tuple[Step, str]) -> None:
            if on_step is not None:
                on_step(*value)

        self._retrying("handshake", once, report)

    # --- pauses ---

    @property
    def pause(self) -> Pause | None:
        """The :class:`~ossl_handshake.core.pauses.Pause` this connection waits in, or None.

        Set when a step returned a pause code (``WANT_CLIENT_HELLO_CB``,
        ``WANT_X509_LOOKUP``, ``WANT_RETRY_VERIFY``, ``WANT_ASYNC``...);
        cleared when the next ``SSL_do_handshake`` consumed the answer.
        """
        return self._pause

    def resume(self, **answer: Any) -> None:
        """Answer the pending pause (:meth:`ossl_handshake.core.pauses.Pause.resume`).

        ``resume()`` calls the callback again; ``resume(accept=True)``,
        ``resume(reject="access_denied")``, ``resume(cert=..., key=...)``
        give the answer of that kind instead. Then step or ``do_handshake()``
        again. ``RuntimeError`` when nothing is paused or it was already resumed.
        """
        p = self._pause
        if p is None:
            raise RuntimeError(f"{self.role.value} connection has no pending pause")
        p.resume(**answer)

    @property
    def client_hello(self) -> ClientHello | None:
        """The last ClientHello this server's ClientHello callback saw (a copy), or None."""
        hello: ClientHello | None = self._client_hello
        return hello

    @property
    def client_ca_names(self) -> list[str] | None:
        """``SSL_get_client_CA_list``: on a client, the CA names the server's
        CertificateRequest listed (RFC 2253; ``[]`` for an empty list), None
        before one arrived or when the server asked for no certificate; on a
        server, the list it sends."""
        return self._guard.read(ca_names_of)

    # -- data ------------------------------------------------------------------

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
        size = min(n, _MAX_READ)

        def once(ssl: Any) -> tuple[bytes, SSLError | None]:
            buf = ffi.new("char[]", size)
            res = self._call_locked(ssl, lib.ossl_read, buf, size)
            if res.ret == 1:
                return bytes(ffi.buffer(buf, res.nbytes)), None
            return b"", self._mapped(res, "SSL_read_ex")

        data: bytes = self._retrying("read", once)
        return data

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """``SSL_write_ex`` all of ``data`` (one record per 16 KiB); returns bytes written.

        ``data`` is any contiguous bytes-like object, counted in bytes
        (``memoryview.nbytes``), not items. As OpenSSL does it
        (SSL_write(3)): without ``SSL_MODE_ENABLE_PARTIAL_WRITE`` the call
        returns only once everything is written; a full transport raises
        :class:`WantWriteError` and the *same* write must be retried (what
        was already written is remembered by libssl, so the retry returns
        ``len(data)``). ``SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER``, on by
        default, lets the retry pass an equal copy at another address;
        without it that is "bad write retry". With
        ``Context(partial_write=True)`` the call returns after each record
        with the count written (at most 16384 per record).
        """
        view = take_bytes(data)

        def once(ssl: Any) -> tuple[int, SSLError | None]:
            res = self._call_locked(ssl, lib.ossl_write, ffi.from_buffer(view), view.nbytes)
            if res.ret == 1:
                return int(res.nbytes), None
            return 0, self._mapped(res, "SSL_write_ex")

        written: int = self._retrying("write", once)
        return written

    def shutdown(self) -> bool:
        """``SSL_shutdown``: send close_notify; True once the peer's close_notify arrived too.

        Returns False after the first call (ret 0: ours sent, theirs pending).
        On a socket with a timeout a retryable result waits with poll and
        retries (``TimeoutError`` when the time runs out), as :meth:`read` does.
        """

        def once(ssl: Any) -> tuple[bool, SSLError | None]:
            res = self._call_locked(ssl, lib.ossl_shutdown)
            if res.ret == 1:
                return True, None
            if res.ret == 0:
                return False, None
            return False, self._mapped(res, "SSL_shutdown")

        done: bool = self._retrying("shutdown", once)
        return done

    def process_pending(self) -> int:
        """Process records already received (e.g. TLS 1.3 NewSessionTicket) with ``SSL_peek_ex``.

        Returns the number of application-data bytes now readable. Never
        raises for "no data yet"; raises the mapped error for anything fatal.
        """

        def once(ssl: Any) -> int:
            buf = ffi.new("char[1]")
            return self._peeked(ssl, self._call_locked(ssl, lib.ossl_peek, buf, 1))

        self._transport.pull(self)  # visible mode: what already arrived on the socket
        return self._guard.run(once)

    def _peeked(self, ssl: Any, res: Any) -> int:
        """The rest of :meth:`process_pending` once ``ossl_peek`` filled ``res`` (guard held)."""
        if res.ret == 1:
            return int(lib.SSL_pending(ssl))
        exc = self._mapped(res, "SSL_peek_ex")
        if exc is None or exc.error_code.retryable or isinstance(exc, ZeroReturnError):
            return 0
        raise exc

    def key_update(self, request_peer: bool = False) -> None:
        """``SSL_key_update`` (TLS 1.3); the KeyUpdate goes out with the next write/handshake."""
        kind = lib.SSL_KEY_UPDATE_REQUESTED if request_peer else lib.SSL_KEY_UPDATE_NOT_REQUESTED

        def once(ssl: Any) -> None:
            res = self._call_locked(ssl, lib.ossl_key_update, kind)
            if res.ret != 1:
                exc = self._mapped(res, "SSL_key_update")
                assert exc is not None
                raise exc

        self._guard.run(once)

    # --- beyond the first handshake ---
    # Renegotiation, PHA, key update (core/post_handshake.py), early data
    # (core/early_data.py), PSK readback (core/psk.py), keying material
    # (core/exporters.py). The pair driver completes them: pair.renegotiate,
    # pair.post_handshake_auth, pair.update_keys, pair.early_data_handshake.

    @property
    def in_init(self) -> bool:
        """``SSL_in_init``: a handshake (first, renegotiation, post-handshake) is in progress."""
        return bool(self._guard.read(lib.SSL_in_init))

    def renegotiate(self, *, abbreviated: bool = False) -> None:
        """``SSL_renegotiate`` (TLS ≤ 1.2): schedule one; see ``core/post_handshake.py``."""
        _post.renegotiate(self, abbreviated=abbreviated)

    @property
    def secure_renegotiation(self) -> bool:
        """``SSL_get_secure_renegotiation_support``: the peer supports RFC 5746."""
        return bool(self._guard.read(lib.SSL_get_secure_renegotiation_support))

    @property
    def total_renegotiations(self) -> int:
        """``SSL_total_renegotiations``: renegotiations started on this connection."""
        return int(self._guard.read(lib.SSL_total_renegotiations))

    @property
    def renegotiate_pending(self) -> bool:
        """``SSL_renegotiate_pending``: one was requested and has not completed."""
        return bool(self._guard.read(lib.SSL_renegotiate_pending))

    def verify_client_post_handshake(self) -> None:
        """``SSL_verify_client_post_handshake`` (TLS 1.3 server): queue a CertificateRequest."""
        _post.verify_client_post_handshake(self)

    @property
    def key_update_type(self) -> _post.KeyUpdate:
        """``SSL_get_key_update_type``: the KeyUpdate queued and not sent yet."""
        return _post.KeyUpdate(int(self._guard.read(lib.SSL_get_key_update_type)))

    @property
    def key_updates_sent(self) -> int:
        """TLS 1.3 KeyUpdate messages this side sent (counted by the message callback)."""
        return int(self._guard.read(lambda _ssl: self._state.key_updates_sent))

    @property
    def key_updates_received(self) -> int:
        """TLS 1.3 KeyUpdate messages this side received (counted by the message callback)."""
        return int(self._guard.read(lambda _ssl: self._state.key_updates_received))

    def write_early_data(self, data: bytes | bytearray | memoryview) -> int:
        """``SSL_write_early_data`` (client); see :mod:`ossl_handshake.core.early_data`."""
        return _early.write_early_data(self, data)

    def read_early_data(self, n: int = 16384) -> _early.EarlyRead:
        """One ``SSL_read_early_data`` (server), reported as an :class:`EarlyRead`."""
        return _early.read_early_data(self, n)

    @property
    def early_data_status(self) -> _early.EarlyDataStatus:
        """``SSL_get_early_data_status``: ACCEPTED, REJECTED or NOT_SENT."""
        return _early.early_data_status(self)

    @property
    def psk_identity(self) -> bytes | None:
        """The PSK identity used (``SSL_get_psk_identity``; see :mod:`ossl_handshake.core.psk`)."""
        return _psk.psk_identity(self)

    @property
    def psk_identity_hint(self) -> bytes | None:
        """``SSL_get_psk_identity_hint``: the TLS 1.2 server's hint (None without one)."""
        return _psk.psk_identity_hint(self)

    def export_keying_material(
        self,
        label: str | bytes,
        length: int,
        context: bytes | bytearray | memoryview | None = None,
    ) -> bytes:
        """``SSL_export_keying_material`` (RFC 5705); see ``core/exporters.py``."""
        return _exporters.export_keying_material(self, label, length, context)

    @property
    def finished(self) -> bytes | None:
        """``SSL_get_finished``: verify_data of the last Finished sent."""
        return _exporters.finished(self)

    @property
    def peer_finished(self) -> bytes | None:
        """``SSL_get_peer_finished``: verify_data of the last Finished received."""
        return _exporters.peer_finished(self)

    @property
    def client_random(self) -> bytes | None:
        """``SSL_get_client_random`` (32 bytes; None before the ClientHello)."""
        return _exporters.client_random(self)

    @property
    def server_random(self) -> bytes | None:
        """``SSL_get_server_random`` (32 bytes; None before the ServerHello)."""
        return _exporters.server_random(self)

    @property
    def master_key(self) -> bytes | None:
        """``SSL_SESSION_get_master_key`` of the current session."""
        return _exporters.master_key(self)

    # --- end of beyond the first handshake ---

    @property
    def pending(self) -> int:
        """``SSL_pending``: decrypted bytes buffered and readable now."""
        return int(self._guard.read(lib.SSL_pending))

    # --- async jobs ---
    def async_fds(self) -> tuple[int, ...]:
        """``SSL_get_all_async_fds``: the fds a paused async job waits on.

        After ``WANT_ASYNC`` a socket loop polls them for readability and then
        calls the same operation again; () when no job is paused or the
        provider/engine sets no fd.
        """
        return self._guard.read(_async.all_fds)

    def changed_async_fds(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``SSL_get_changed_async_fds``: (added, removed) fds since the job last resumed."""
        return self._guard.read(_async.changed_fds)

    @property
    def waiting_for_async(self) -> bool:
        """``SSL_waiting_for_async``: a job of this connection is paused (resume it)."""
        return bool(self._guard.read(lib.SSL_waiting_for_async))

    @property
    def async_status(self) -> _async.AsyncStatus:
        """``SSL_get_async_status`` (OpenSSL 3.0+): the status the job's provider/engine set."""
        return self._guard.read(_async.status)

    def async_pause(self, step: Step) -> _async.AsyncPause | None:
        """The :class:`~ossl_handshake.core.async_jobs.AsyncPause` that ``step`` of this
        connection stands for (``WANT_ASYNC``/``WANT_ASYNC_JOB``), else None."""
        return _async.AsyncPause.of(self, step)

    def connect_bio(self, host: str, port: int) -> ConnectBIOTransport:
        """Run on a non-blocking connect BIO to ``host:port`` (``BIO_new_connect``,
        ``BIO_set_nbio``, ``SSL_set_bio``); the connect starts with the handshake.

        For a connection made with ``bio_size=None``. ``WANT_CONNECT`` means the
        connect is in progress: wait for the BIO's :attr:`fd` to be writable.
        """

        def attach(ssl: Any) -> ConnectBIOTransport:
            if self._transport.kind != "none":
                raise ValueError(f"connection already has {self._transport.describe()}")
            t = ConnectBIOTransport(ssl, self._guard, host, port)
            self._owned.transport = t
            return t

        return self._guard.run(attach)

    def accept_bio(self, host: str = "127.0.0.1", port: int = 0) -> AcceptBIOTransport:
        """Listen on ``host:port`` (0: any free port, see the result's ``port``) with a
        non-blocking accept BIO (``BIO_new_accept``, ``BIO_set_nbio_accept``,
        ``BIO_do_accept``, ``SSL_set_bio``) and accept one client in the handshake.

        For a connection made with ``bio_size=None``. ``WANT_ACCEPT`` means no
        client is waiting: wait for the BIO's :attr:`fd` to be readable.
        """

        def attach(ssl: Any) -> AcceptBIOTransport:
            if self._transport.kind != "none":
                raise ValueError(f"connection already has {self._transport.describe()}")
            t = AcceptBIOTransport(ssl, self._guard, host, port)
            self._owned.transport = t
            return t

        return self._guard.run(attach)

    @property
    def session(self) -> Session | None:
        """``SSL_get1_session``: the session to offer on a later connection (None if none)."""
        ptr = self._guard.read(lib.SSL_get1_session)
        return Session(ptr) if ptr != _NULL else None

    def set_session(self, session: Session) -> None:
        """``SSL_set_session``: offer ``session`` for resumption (clients, before the handshake)."""
        if not isinstance(session, Session):
            raise TypeError(f"session must be a Session, not {type(session).__name__}")
        self._guard.run(lambda ssl: ensure(lib.SSL_set_session, ssl, session.ptr, raising=SSLError))

    # --- per-connection certificate ---
    # (this connection's own certificate and key, OCSP, the verified
    # chain; the logic is in core/certdata.py and core/ocsp.py.)

    def use_certificate(
        self,
        cert: CertSource,
        key: CertSource | None = None,
        *,
        password: Password | None = None,
    ) -> None:
        """This connection's own certificate chain and key, before the handshake.

        ``cert``/``key`` are paths or PEM/DER bytes (``key`` defaults to
        ``cert``): ``SSL_use_certificate`` with the first certificate,
        ``SSL_clear_chain_certs`` + ``SSL_add1_chain_cert`` with the rest,
        ``SSL_use_PrivateKey`` then ``SSL_check_private_key``. They replace
        the context's for this ``SSL`` only (the ``SSL_CTX`` is not
        touched). Bad bytes, a wrong password or a key that does not match
        are :class:`ConfigurationError`.
        """
        cert_raw, key_raw, name = certdata.read_pair(cert, key)
        self._guard.run(
            lambda ssl: certdata.use_pair(ssl, cert_raw, key_raw, password, ssl=True, name=name)
        )

    def request_ocsp(self) -> None:
        """Clients: ask for a stapled OCSP response (``SSL_set_tlsext_status_type``).

        Without ``Context(ocsp_verify=...)`` the staple is accepted as it
        comes; read it as :attr:`ocsp_response` after the handshake.
        """
        if self.role is not Role.CLIENT:
            raise ValueError("request_ocsp is for clients")
        self._guard.run(
            lambda ssl: ensure(
                lib.SSL_set_tlsext_status_type, ssl, lib.TLSEXT_STATUSTYPE_ocsp, raising=SSLError
            )
        )

    @property
    def ocsp_response(self) -> bytes | None:
        """``SSL_get_tlsext_status_ocsp_resp``: the DER OCSP response stapled, None without one.

        On a client, what the server stapled; on a server, what it stapled.
        """
        return self._guard.read(ocsp.stapled)

    def ocsp_status(self, *, slack: int = 300) -> OCSPStatus | None:
        """The stapled response read for the peer's certificate (None: nothing stapled).

        The SingleResponse for the peer's leaf and its issuer (from the
        verified chain), ``OCSP_check_validity`` with ``slack`` seconds of
        leeway, and the signature checked (``OCSP_basic_verify``) against
        this connection's trust store. Callable from ``ocsp_verify``.
        """
        n = c_int(slack, "slack", 0, 1 << 31)
        return self._guard.read(ocsp.peer_status, n)

    @property
    def verified_chain(self) -> list[bytes]:
        """``SSL_get0_verified_chain``: the chain verification built, leaf to trust anchor (DER).

        Unlike :attr:`peer_chain` (what the peer sent), it ends with the
        anchor from our store and leaves out what the peer sent but the
        path did not use; empty when nothing was verified.
        """
        return self._guard.read(verified_chain_of)

    # -- socket ----------------------------------------------------------------

    @property
    def sock(self) -> socket.socket | None:
        """The socket this connection runs on (kept alive by it), or None."""
        t = self._transport
        return t.sock if isinstance(t, SocketTransport) else None

    # --- visible socket mode ---

    @property
    def visible(self) -> bool:
        """True for a socket connection in visible mode (``Connection(..., visible=True)``)."""
        return isinstance(self._transport, VisibleSocketTransport)

    @property
    def wire(self) -> Wire | None:
        """The :class:`~ossl_handshake.Wire` every byte of a visible connection crosses."""
        t = self._transport
        return t.wire if isinstance(t, VisibleSocketTransport) else None

    @property
    def on_transfer(self) -> Tap | None:
        """Callable ``(sender_role, data)`` per delivery of a visible connection (a Trace's)."""
        t = self._transport
        return t.on_transfer if isinstance(t, VisibleSocketTransport) else None

    @on_transfer.setter
    def on_transfer(self, fn: Tap | None) -> None:
        t = self._transport
        if not isinstance(t, VisibleSocketTransport):
            raise ValueError(
                f"connection is on {t.describe()}: its bytes never pass through Python; "
                "create it with Connection(ctx, sock=..., visible=True)"
            )
        if fn is not None and not callable(fn):
            raise TypeError(f"on_transfer must be callable or None, not {fn!r}")
        t.on_transfer = fn

    @property
    def timeout(self) -> float | None:
        """The socket's timeout (``sock.gettimeout()``); None on memory transports.

        Assigning sets it on the socket (``sock.settimeout``): None blocks,
        0.0 is non-blocking (``WANT_*`` surface), a positive number of seconds
        waits with poll and raises ``TimeoutError``. Validated: finite and ≥ 0.
        """
        t = self._transport
        return t.timeout if isinstance(t, SocketTransport) else None

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        t = self._transport
        if not isinstance(t, SocketTransport):
            raise ValueError(f"timeout applies to socket connections, not {t.describe()}")
        t.timeout = value

    # -- memory transport ----------------------------------------------------

    def _memory(self) -> MemoryTransport:
        """Our BIO pair (use under the guard), or ValueError for other transports."""
        t = self._transport
        if isinstance(t, VisibleSocketTransport) and t.memory is not None:
            return t.memory
        if not isinstance(t, MemoryTransport):
            raise ValueError(f"connection is on {t.describe()}: it has no network BIO")
        return t

    def bio_read(self, n: int = -1) -> bytes:
        """Take up to ``n`` bytes (all if -1) that the SSL wrote for the peer (``BIO_read``)."""
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"n must be an int, not {type(n).__name__}")

        return self._guard.run(lambda _ssl: self._memory().read(n))

    def bio_write(self, data: bytes | bytearray | memoryview) -> int:
        """Give bytes from the peer to the SSL (``BIO_write``); returns how many were taken.

        Fewer than ``len(data)`` are taken when the pair's buffer is full
        (see :attr:`bio_write_guarantee`); 0 once the direction was shut.
        """
        view = take_bytes(data)

        return self._guard.run(lambda _ssl: self._memory().write(view))

    @property
    def bio_pending(self) -> int:
        """Bytes the SSL has written and the peer has not taken yet (``BIO_ctrl_pending``)."""
        return int(self._guard.read(lambda _ssl: lib.BIO_ctrl_pending(self._memory().net)))

    @property
    def bio_write_guarantee(self) -> int:
        """Bytes :meth:`bio_write` can take now (``BIO_ctrl_get_write_guarantee``)."""
        return int(
            self._guard.read(lambda _ssl: lib.BIO_ctrl_get_write_guarantee(self._memory().net))
        )

    def bio_shutdown_wr(self) -> None:
        """``BIO_shutdown_wr``: the peer closed its side; the SSL reads EOF after buffered bytes."""
        self._guard.run(lambda _ssl: lib.BIO_shutdown_wr(self._memory().net))

    def transfer_to(self, other: Connection, limit: int = 1 << 30) -> int:
        """Move pending bytes from our network BIO into ``other``'s, in C; returns the count.

        Stops when nothing is pending or ``other`` has no room. Bytes never
        become Python objects (the fast path of the in-process driver). Both
        connections' guards are held for the move.
        """
        if not isinstance(other, Connection):
            raise TypeError(f"other must be a Connection, not {type(other).__name__}")
        if other is self:
            raise ValueError("cannot transfer a connection's bytes to itself")
        c_int(limit, "limit", 0, _MAX_TRANSFER)

        def move(_a: Any, _b: Any) -> int:
            src, dst = self._memory().net, other._memory().net
            moved = int(lib.ossl_bio_move(src, dst, limit))
            if moved < 0:
                raise SSLError("BIO_write to peer failed", errors=drain(), operation="BIO_write")
            return moved

        return run_both(self._guard, other._guard, move)


def join(a: Connection, b: Connection, *, size: int = 0) -> None:
    """Put two fresh connections on one BIO pair (the direct mode; ``ossl_memory_pair``).

    Bytes written by one are read by the other inside libssl; Python never
    sees them, so :meth:`Connection.bio_read` is unavailable on both. Replaces
    the pairs they were created with.
    """
    for c in (a, b):
        if not isinstance(c, Connection):
            raise TypeError(f"join takes two Connections, not {type(c).__name__}")
    if a is b:
        raise ValueError("join needs two different connections, not the same one twice")
    if a.role is b.role:
        raise ValueError(f"join needs a client and a server, not two {a.role.value}s")
    c_int(size, "size", 0, MAX_BIO_SIZE)

    def both(pa: Any, pb: Any) -> None:
        for c in (a, b):
            if c._transport.kind == "socket":
                raise ValueError("cannot join a connection that is on a socket")
        ensure(lib.ossl_join, pa, pb, size, raising=SSLError, operation="ossl_memory_pair")
        for c in (a, b):
            c._transport.release()
            c._owned.transport = SharedPairTransport()

    run_both(a._guard, b._guard, both)
    a._peer, b._peer = b, a


__all__ = [
    "Connection",
    "PeerCertificates",
    "Step",
    "join",
    "x509_name",
]
