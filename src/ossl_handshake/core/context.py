"""``Context``: owns an ``SSL_CTX`` and its configuration.

Build a context once and share it: loading a certificate chain costs more
than a handshake (docs/architecture.md, rule 11). Every keyword maps to one documented
``SSL_CTX_*`` call, named in :class:`Context`'s docstring.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.async_jobs import LibraryContext, new_ssl_ctx
from ossl_handshake.core.constants import (
    ClientAuth,
    Mode,
    Options,
    SessionCacheMode,
    TLSVersion,
    unavailable_options,
)
from ossl_handshake.core.errors import (
    ClosedError,
    ConfigurationError,
    ContextInUseError,
    drain,
    ensure,
)
from ossl_handshake.core.guard import SharedGuard
from ossl_handshake.core.inputs import as_pointer, c_int, c_list, c_string, no_nul, path_bytes
from ossl_handshake.core.keylog import AppendLines, KeylogTarget, PathLike, StreamLines
from ossl_handshake.core.keys import key_error, load_key, password_bytes
from ossl_handshake.tls.alpn import alpn_entries, encode_alpn
from ossl_handshake.tls.names import ALERT_CODES
from ossl_handshake.tls.roles import Role

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection
    from ossl_handshake.core.session import Session

#: ``(offered protocols) -> chosen protocol or None`` (server ALPN selection).
AlpnSelector = Callable[[list[str]], "str | bytes | None"]
#: ``(connection, received name or None) -> Context to switch to, or None to keep``.
ServernameCallback = Callable[["Connection", "str | None"], "Context | None"]
#: ``(connection, preverify_ok, depth, X509 error code, certificate DER) -> accept?``.
VerifyCallback = Callable[["Connection", bool, int, int, bytes], bool]
#: ``(connection, session)``: a new session was established (``SSL_CTX_sess_set_new_cb``).
NewSessionCallback = Callable[["Connection", "Session"], None]
#: A key's password: str (UTF-8), bytes, or a callable returning one.
Password = str | bytes | Callable[[], "str | bytes"]
T = TypeVar("T")

__all__ = ["Context", "Hooks", "SNIRejected", "encode_alpn"]


class SNIRejected(Exception):
    """Raise from a ``servername_callback`` to refuse the handshake with a fatal alert.

    The callback returns ``SSL_TLSEXT_ERR_ALERT_FATAL`` with ``alert`` (a TLS
    alert name such as ``"unrecognized_name"``, ``"access_denied"``); the
    handshake then fails as an ordinary :class:`~ossl_handshake.ProtocolError`
    on the server (``alert_sent == alert``) and the client
    (``alert_received == alert``). Any *other* exception raised by the
    callback is a bug in the callback: it fails the handshake with
    ``internal_error`` and is re-raised as :class:`~ossl_handshake.CallbackError`.
    """

    def __init__(self, alert: str = "unrecognized_name", message: str = "") -> None:
        if alert not in ALERT_CODES:
            raise ValueError(f"unknown TLS alert name {alert!r}")
        super().__init__(message or f"server name rejected with {alert}")
        self.alert = alert
        self.alert_code = ALERT_CODES[alert]


_SIZE_MAX = (1 << (8 * ffi.sizeof("size_t"))) - 1
_U64_MAX = (1 << 64) - 1
_LONG_MAX = (1 << (8 * ffi.sizeof("long") - 1)) - 1
_NULL = ffi.NULL


def _ptr(p: Any) -> Any:
    return p


@dataclass(frozen=True)
class Hooks:
    """The Python callables a connection uses, fixed when it is created.

    :meth:`Context._hooks` returns the context's current set; a
    :class:`Connection` keeps the one it was created with (``conn._hooks``),
    so changing a context's callbacks never changes an existing
    connection's. After an SNI switch the ALPN selection is the one of the
    context switched to (OpenSSL calls that context's callback).
    """

    verify: VerifyCallback | None = None
    keylog: Callable[[str], None] | None = None
    servername: ServernameCallback | None = None
    alpn_select: tuple[bytes, ...] | AlpnSelector | None = None
    alpn_required: bool = False
    new_session: NewSessionCallback | None = None


class Context:
    """An ``SSL_CTX`` for one role, configured once and shared by connections.

    Keywords and the OpenSSL call behind each:

    - ``cert`` / ``key``: ``SSL_CTX_use_certificate_chain_file`` (PEM leaf then
      chain) / ``SSL_CTX_use_PrivateKey_file``, then ``SSL_CTX_check_private_key``.
    - ``password`` (with ``key``): the password of an encrypted key: str,
      bytes, or a callable returning one (called only when the key is
      encrypted). OpenSSL never prompts on a terminal: without ``password``
      an encrypted key is a :class:`ConfigurationError` at once.
    - ``cafile`` / ``capath``: ``SSL_CTX_load_verify_locations`` (trust anchors).
    - ``verify``: ``SSL_CTX_set_verify``; on by default for clients, off for
      servers. On a server, ``verify=True`` requires a client certificate
      unless ``client_auth`` says otherwise.
    - ``client_auth`` (servers): ``none``/``request``/``require``; also sends
      the ``cafile`` subjects as the acceptable CA list (``SSL_CTX_set_client_CA_list``).
    - ``min_version`` / ``max_version``: ``SSL_CTX_set_min/max_proto_version``.
    - ``ciphers`` (TLS ≤ 1.2): ``SSL_CTX_set_cipher_list``; ``ciphersuites``
      (TLS 1.3): ``SSL_CTX_set_ciphersuites``.
    - ``groups``: ``SSL_CTX_set1_groups_list``; ``sigalgs``: ``SSL_CTX_set1_sigalgs_list``.
    - ``security_level``: ``SSL_CTX_set_security_level``.
    - ``options``: ``SSL_CTX_set_options`` (an :class:`Options` flag).
    - ``alpn``: clients: ``SSL_CTX_set_alpn_protos`` (the offered list);
      servers: the preference list used by the ALPN select callback
      (``SSL_CTX_set_alpn_select_cb``): the first of the server's protocols
      that the client offers.
    - ``alpn_select`` (servers): a callable ``(offered) -> str | None`` that
      chooses instead of a list (see :meth:`set_alpn_select`).
    - ``alpn_required`` (servers): no overlap is fatal
      (``SSL_TLSEXT_ERR_ALERT_FATAL``: a ``no_application_protocol`` alert);
      otherwise no overlap means no ALPN (``SSL_TLSEXT_ERR_NOACK``).
    - ``servername_callback`` (servers): ``SSL_CTX_set_tlsext_servername_callback``;
      see :meth:`set_servername_callback`.
    - ``verify_callback``: the callback of ``SSL_CTX_set_verify``; see
      :meth:`set_verify_callback`.
    - ``on_new_session``: ``SSL_CTX_sess_set_new_cb``; on a client it also
      turns on ``SSL_SESS_CACHE_CLIENT`` (without the internal store) so
      OpenSSL calls it for every session and TLS 1.3 ticket.
    - ``num_tickets``: ``SSL_CTX_set_num_tickets`` (TLS 1.3 tickets a server sends).
    - ``session_cache``: ``SSL_CTX_set_session_cache_mode``.
    - ``release_buffers``: ``SSL_MODE_RELEASE_BUFFERS`` (default on: halves
      the memory of an idle connection; no effect on the protocol).
    - ``async_jobs``: ``SSL_MODE_ASYNC`` (see :attr:`async_jobs`).
    - ``library`` / ``propquery``: ``SSL_CTX_new_ex`` in a
      :class:`~ossl_handshake.core.async_jobs.LibraryContext` with a property
      query (OpenSSL 3.0+), e.g. ``propquery="?provider=pause"``.
    - ``keylog``: NSS key log lines (``SSL_CTX_set_keylog_callback``) to a
      path (appended), a text file, or a callable taking each line.

    **Sharing and changing.** The ``SSL_CTX`` lives in a guard
    (:class:`~ossl_handshake.core.handles.SharedGuard`): threads may create
    connections from one context at once (each waits its turn for
    ``SSL_new``), and :meth:`close` never frees the ``SSL_CTX`` under a
    call. OpenSSL forbids changing an ``SSL_CTX`` that connections use, so
    every setting that libssl copies at ``SSL_new`` or reads during a
    handshake is *refused* with :class:`ContextInUseError` while a
    connection made from this context (or switched to it by a servername
    callback) is open; closing those connections allows it again. The
    setters that say "safe while in use" change only what new connections
    get: each connection keeps the callbacks it was created with (a
    :class:`Hooks` snapshot).

    Python callables handed to OpenSSL live on this object; OpenSSL reaches
    them through an ex_data handle holding only a weak reference, so a
    callable that refers back to its context makes an ordinary cycle that
    the garbage collector frees.
    """

    def __init__(
        self,
        role: Role | str = Role.CLIENT,
        *,
        cert: PathLike | None = None,
        key: PathLike | None = None,
        password: Password | None = None,
        cafile: PathLike | None = None,
        capath: PathLike | None = None,
        verify: bool | None = None,
        client_auth: ClientAuth | str | None = None,
        min_version: TLSVersion | str | int | None = None,
        max_version: TLSVersion | str | int | None = None,
        ciphers: str | None = None,
        ciphersuites: str | None = None,
        groups: str | Iterable[str] | None = None,
        sigalgs: str | Iterable[str] | None = None,
        security_level: int | None = None,
        options: Options | int = Options.NONE,
        alpn: Iterable[str | bytes] | None = None,
        num_tickets: int | None = None,
        session_cache: SessionCacheMode | int | None = None,
        release_buffers: bool = True,
        keylog: KeylogTarget | None = None,
        alpn_select: AlpnSelector | None = None,
        alpn_required: bool = False,
        servername_callback: ServernameCallback | None = None,
        verify_callback: VerifyCallback | None = None,
        on_new_session: NewSessionCallback | None = None,
        async_jobs: bool = False,
        library: LibraryContext | None = None,
        propquery: str | None = None,
    ) -> None:
        self.role = Role(role)
        self._init_state()
        #: The library context the SSL_CTX was made in (None: the default one); kept
        #: because the SSL_CTX points into it (core/async_jobs.py).
        self.library: LibraryContext | None = library
        if library is not None or propquery is not None:
            ctx = new_ssl_ctx(self.role is Role.SERVER, library, propquery)
        else:
            client = self.role is Role.CLIENT
            method = lib.TLS_client_method() if client else lib.TLS_server_method()
            ctx = ensure(lib.SSL_CTX_new, method, ok=lambda p: p != _NULL)
        # Before any connection exists: the key log trampoline (never removed)
        # and the password callback (never prompts).
        lib.ossl_init()
        lib.ossl_ctx_init(ctx)
        self._adopt_pointer(ctx)
        self.cert = Path(cert) if cert is not None else None
        self.cafile = Path(cafile) if cafile is not None else None

        if release_buffers:
            self._run(lib.SSL_CTX_set_mode, lib.SSL_MODE_RELEASE_BUFFERS)
        if async_jobs:
            self.async_jobs = True
        if cert is not None:
            self.load_cert_chain(cert, key, password=password)
        elif key is not None:
            raise ValueError("key given without cert")
        elif password is not None:
            raise ValueError("password given without cert and key")
        if cafile is not None or capath is not None:
            self.load_verify_locations(cafile, capath)
        if min_version is not None:
            self.min_version = TLSVersion.parse(min_version)
        if max_version is not None:
            self.max_version = TLSVersion.parse(max_version)
        if ciphers is not None:
            self.set_ciphers(ciphers)
        if ciphersuites is not None:
            self.set_ciphersuites(ciphersuites)
        if groups is not None:
            self.set_groups(groups)
        if sigalgs is not None:
            self.set_sigalgs(sigalgs)
        if security_level is not None:
            self.security_level = security_level
        if options:
            self.set_options(options)
        if alpn is not None and alpn_select is not None:
            raise ValueError("give a server either alpn (a preference list) or alpn_select")
        if self.role is Role.SERVER and (alpn is not None or alpn_select is not None):
            self.set_alpn_select(alpn_select if alpn_select is not None else alpn, alpn_required)
        elif alpn_required or alpn_select is not None:
            raise ValueError("alpn_select and alpn_required are for servers with an ALPN choice")
        elif alpn is not None:
            self.set_alpn_protocols(alpn)
        if servername_callback is not None:
            self.set_servername_callback(servername_callback)
        if on_new_session is not None:
            self.set_new_session_callback(on_new_session)
        if num_tickets is not None:
            self.num_tickets = num_tickets
        if session_cache is not None:
            self.session_cache = session_cache
        if keylog is not None:
            self.set_keylog(keylog)
        if self.role is Role.SERVER:
            # Server-side session cache needs an id context or resumption fails
            # once client certificates are in play (SSL_CTX_set_session_id_context(3)).
            sid = b"ossl-handshake"
            self._run(partial(ensure, lib.SSL_CTX_set_session_id_context), sid, len(sid))
        auth = ClientAuth(client_auth) if client_auth is not None else None
        if verify_callback is not None:
            self.set_verify_callback(verify_callback)
        self.set_verify(verify, auth)

    def _init_state(self) -> None:
        self._guard: SharedGuard | None = None
        self._current = Hooks()
        self._keylog_file: TextIO | None = None
        self._opened = 0  # live SSLs made by _open_ssl (_ssl_closed counts them down)
        self._count_lock = threading.RLock()  # re-entrant: Connection.__del__ may run anywhere
        self._switched: weakref.WeakSet[Connection] = weakref.WeakSet()
        self.verify_mode = 0
        self.library = None

    def _adopt_pointer(self, ctx: Any) -> None:
        self._handle = ffi.new_handle(weakref.ref(self))
        lib.ossl_set_ctx_handle(ctx, self._handle)
        self._guard = SharedGuard(ctx, "Context", _free_ctx)

    # -- the guard ------------------------------------------------------------

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(SSL_CTX *, *args)`` under the guard (threads take turns)."""
        guard = self._guard
        if guard is None:
            raise ClosedError("Context is not initialised")
        return guard.run(fn, *args)

    def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """A read: like :meth:`_run`, and also allowed from a callback of a context call."""
        guard = self._guard
        if guard is None:
            raise ClosedError("Context is not initialised")
        return guard.read(fn, *args)

    def _configure(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """A setting OpenSSL forbids changing in use: refused while connections are open."""

        def body(ctx: Any) -> T:
            self._refuse_in_use(what)
            return fn(ctx, *args)

        return self._run(body)

    def _in_use(self) -> int:
        """Open connections made from this context or switched to it (SNI)."""
        switched = sum(1 for c in list(self._switched) if not c.closed)
        return self._opened + switched

    def _refuse_in_use(self, what: str) -> None:
        n = self._in_use()
        if n:
            raise ContextInUseError(
                f"{what}: refused while {n} connection(s) using this Context are open "
                "(OpenSSL forbids changing an SSL_CTX in use): close them first, "
                "or build another Context",
                operation=what,
            )

    # -- lifetime ---------------------------------------------------------

    @property
    def ptr(self) -> Any:
        """The raw ``SSL_CTX *`` for C code in the same process (still owned here).

        The escape hatch: what C code does with it is outside the guard, and
        nothing keeps it alive once :meth:`close` runs (take ``SSL_CTX_up_ref``).
        """
        return self._read(_ptr)

    # -- the interface Connection uses (docs/architecture.md, "Ownership and guards") --

    def _open_ssl(self, state: Any, server: bool) -> Any:
        """``SSL_new`` from this context (``ossl_new_ssl``) for a new :class:`Connection`.

        Runs under the guard, so :meth:`close` on another thread cannot free
        the ``SSL_CTX`` during ``SSL_new``; afterwards the SSL holds its own
        reference. Counts the connection as live until :meth:`_ssl_closed`.
        """

        def new(ctx: Any) -> Any:
            state.want_keylog = 1 if self._current.keylog is not None else 0
            ssl = lib.ossl_new_ssl(ctx, state, server)
            if ssl != _NULL:
                with self._count_lock:
                    self._opened += 1
            return ssl

        return self._run(new)

    def _ssl_closed(self) -> None:
        """A connection made by :meth:`_open_ssl` freed its ``SSL`` (called once per SSL)."""
        with self._count_lock:
            if self._opened > 0:
                self._opened -= 1

    def _hooks(self, state: Any = None) -> Hooks:
        """The callbacks a connection created now keeps (``conn._hooks``).

        With the connection's ``ossl_conn_state``, also sets its
        ``want_keylog`` flag to match (the C key log trampoline calls Python
        only when the snapshot has a writer).
        """
        hooks = self._current  # one attribute read: a consistent set
        if state is not None:
            state.want_keylog = 1 if hooks.keylog is not None else 0
        return hooks

    def _set_hooks(self, **changes: Any) -> None:
        with self._count_lock:
            self._current = dataclasses.replace(self._current, **changes)

    def _switch_to(self, ssl: Any, conn: Connection) -> None:
        """``SSL_set_SSL_CTX(ssl, this)`` for a servername callback, under this guard.

        The connection then counts as using this context (its settings are
        refused while it is open) and keeps this context alive.
        """

        def switch(ctx: Any) -> None:
            if lib.SSL_set_SSL_CTX(ssl, ctx) == _NULL:
                raise ConfigurationError(
                    "SSL_set_SSL_CTX failed", errors=drain(), operation="SSL_set_SSL_CTX"
                )
            if conn._hooks.keylog is not None:  # libssl now calls this context's callback
                lib.ossl_enable_keylog(ctx, 1)
            self._switched.add(conn)

        self._run(switch)

    @property
    def closed(self) -> bool:
        return self._guard is None or self._guard.closed

    def close(self) -> None:
        """Drop our reference (``SSL_CTX_free``); connections keep their own. Idempotent.

        Waits for a call in progress on another thread (``SSL_new`` of a
        connection being created): the ``SSL_CTX`` is never freed under it.
        Connections already made go on working, key logging included.
        """
        if self._guard is not None:
            self._guard.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"cert={self.cert}"
        return f"<Context {self.role.value} {state}>"

    @classmethod
    def adopt(cls, pointer: Any, role: Role | str, *, owned: bool = False) -> Context:
        """Wrap an ``SSL_CTX *`` made by other code (cffi cdata or an integer address).

        With ``owned=False`` we take a reference (``SSL_CTX_up_ref``) and drop
        only that one; the creator still frees its own. With ``owned=True``
        the caller hands its reference over and we free it once. Our Python
        callbacks (keylog, verify...) find the adopted object through the
        ``SSL_CTX``'s ex_data, so a context already owned by a live
        :class:`Context` is refused (use that object). The creator's key log
        and password callbacks stay until :meth:`set_keylog` or a key load
        installs ours. Connections the creator made from it are not counted
        as in use.
        """
        from ossl_handshake.core.handles import context_of

        ptr = as_pointer(pointer, "SSL_CTX *")
        if context_of(ptr) is not None:
            raise ValueError("this SSL_CTX * already belongs to a live Context: use that object")
        self = cls.__new__(cls)
        self.role = Role(role)
        self._init_state()
        self.cert = None
        self.cafile = None
        if not owned:
            ensure(lib.SSL_CTX_up_ref, ptr)
        self._adopt_pointer(ptr)
        return self

    # -- certificates -----------------------------------------------------

    def load_cert_chain(
        self, cert: PathLike, key: PathLike | None = None, *, password: Password | None = None
    ) -> None:
        """``SSL_CTX_use_certificate_chain_file`` + ``SSL_CTX_use_PrivateKey_file``.

        ``key`` defaults to ``cert`` (a PEM holding both). ``password`` opens
        an encrypted key: str (UTF-8), bytes, or a callable returning one,
        called only when the key turns out to be encrypted. OpenSSL never
        prompts: an encrypted key without ``password`` and a wrong password
        are :class:`ConfigurationError`, as are a file that is not a PEM
        chain, not a key, or a key that does not match the certificate.

        Refused while in use (:class:`ContextInUseError`): the certificate
        and key are copied into each connection at ``SSL_new`` and read
        while it handshakes.
        """
        cert_b = path_bytes(cert, "cert")
        key_name = key if key is not None else cert
        key_b = path_bytes(key_name, "key")
        if password is not None and not callable(password):
            password_bytes(password)  # type errors before anything is loaded

        def load(ctx: Any) -> None:
            self._refuse_in_use("load_cert_chain")
            ensure(lib.SSL_CTX_use_certificate_chain_file, ctx, cert_b, what=f"cannot load {cert}")
            given = None if callable(password) else password
            ret, pw, errors = load_key(ctx, key_b, given)
            if ret != 1 and pw.asked and not pw.too_long and callable(password):
                given = password()  # the key is encrypted: now ask
                ret, pw, errors = load_key(ctx, key_b, password_bytes(given))
            if ret != 1:
                raise key_error(pw, errors, given is not None, key_name, cert)
            ensure(
                lib.SSL_CTX_check_private_key,
                ctx,
                what=f"key {key_name} does not match certificate {cert}",
            )

        self._run(load)
        self.cert = Path(cert)

    def load_verify_locations(
        self, cafile: PathLike | None = None, capath: PathLike | None = None
    ) -> None:
        """``SSL_CTX_load_verify_locations``: trust anchors from a PEM file and/or a hashed dir.

        Refused while in use (the trust store is read during handshakes).
        """
        f = path_bytes(cafile, "cafile") if cafile is not None else _NULL
        d = path_bytes(capath, "capath") if capath is not None else _NULL
        self._configure(
            "load_verify_locations",
            partial(
                ensure, lib.SSL_CTX_load_verify_locations, what=f"cannot load {cafile or capath}"
            ),
            f,
            d,
        )
        if cafile is not None:
            self.cafile = Path(cafile)

    def set_verify(self, verify: bool | None = None, client_auth: ClientAuth | None = None) -> None:
        """``SSL_CTX_set_verify``: clients verify by default; servers ask per ``client_auth``.

        Refused while in use (the verify mode is copied at ``SSL_new``; the
        CA list is read during handshakes).
        """
        if client_auth is not None and not isinstance(client_auth, ClientAuth):
            client_auth = ClientAuth(client_auth)
        if self.role is Role.CLIENT:
            on = True if verify is None else bool(verify)
            mode = lib.SSL_VERIFY_PEER if on else lib.SSL_VERIFY_NONE
        else:
            if client_auth is None:
                client_auth = ClientAuth.REQUIRE if verify else ClientAuth.NONE
            mode = {
                ClientAuth.NONE: lib.SSL_VERIFY_NONE,
                ClientAuth.REQUEST: lib.SSL_VERIFY_PEER,
                ClientAuth.REQUIRE: lib.SSL_VERIFY_PEER | lib.SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
            }[client_auth]
        ca_list = (
            os.fsencode(self.cafile)
            if self.role is Role.SERVER
            and client_auth is not ClientAuth.NONE
            and self.cafile is not None
            else None
        )

        def apply(ctx: Any) -> None:
            self._refuse_in_use("set_verify")
            if ca_list is not None:
                names = lib.SSL_load_client_CA_file(ca_list)
                if names != _NULL:
                    lib.SSL_CTX_set_client_CA_list(ctx, names)
                lib.ossl_clear_errors()
            cb = lib.py_verify_cb if self._current.verify is not None else _NULL
            lib.SSL_CTX_set_verify(ctx, mode, cb)

        self._run(apply)
        self.verify_mode = mode

    def set_verify_callback(self, callback: VerifyCallback | None) -> None:
        """Install ``callback`` as the ``SSL_CTX_set_verify`` callback (mode unchanged).

        OpenSSL calls it for every certificate of the peer's chain, root
        first, and once more for the leaf after the hostname check:
        ``callback(conn, ok, depth, error, cert_der)`` where ``ok`` is
        OpenSSL's verdict (``preverify_ok``), ``error`` the
        ``X509_STORE_CTX_get_error`` code and ``cert_der`` the certificate
        being checked. Return True to accept (the verify result keeps
        OpenSSL's error code, as in C), False to reject: the error becomes
        ``X509_V_ERR_APPLICATION_VERIFICATION`` unless OpenSSL already had
        one. An exception fails the handshake and is re-raised as
        :class:`~ossl_handshake.CallbackError`. The callback also runs with
        ``verify=False``: the handshake then goes on whatever it answers, but
        a rejection still ends the chain walk and lands in ``verify_result``.

        Safe while in use: connections made from this context keep the
        callback they were created with (libssl copies the C callback at
        ``SSL_new``, and the Python one is in the connection's hooks); only
        connections created afterwards get ``callback``.
        """
        if callback is not None and not callable(callback):
            raise TypeError(f"verify_callback must be callable, not {callback!r}")

        def apply(ctx: Any) -> None:
            self._set_hooks(verify=callback)
            cb = lib.py_verify_cb if callback is not None else _NULL
            lib.SSL_CTX_set_verify(ctx, lib.SSL_CTX_get_verify_mode(ctx), cb)

        self._run(apply)

    @property
    def verify(self) -> bool:
        """True when the peer's certificate is verified (``SSL_CTX_get_verify_mode``)."""
        return bool(self._read(lib.SSL_CTX_get_verify_mode) & lib.SSL_VERIFY_PEER)

    # -- protocol ---------------------------------------------------------

    @property
    def min_version(self) -> TLSVersion | None:
        """``SSL_CTX_get/set_min_proto_version``; None means the library's lowest.

        Setting it is refused while in use (copied at ``SSL_new``).
        """
        v = self._read(lib.SSL_CTX_get_min_proto_version)
        return TLSVersion(v) if v else None

    @min_version.setter
    def min_version(self, value: TLSVersion | str | int | None) -> None:
        v = 0 if value is None else int(TLSVersion.parse(value))
        self._configure(
            "min_version",
            partial(ensure, lib.SSL_CTX_set_min_proto_version, what=f"refused {value}"),
            v,
        )

    @property
    def max_version(self) -> TLSVersion | None:
        """``SSL_CTX_get/set_max_proto_version``; None means the library's highest.

        Setting it is refused while in use (copied at ``SSL_new``).
        """
        v = self._read(lib.SSL_CTX_get_max_proto_version)
        return TLSVersion(v) if v else None

    @max_version.setter
    def max_version(self, value: TLSVersion | str | int | None) -> None:
        v = 0 if value is None else int(TLSVersion.parse(value))
        self._configure(
            "max_version",
            partial(ensure, lib.SSL_CTX_set_max_proto_version, what=f"refused {value}"),
            v,
        )

    def set_ciphers(self, ciphers: str) -> None:
        """``SSL_CTX_set_cipher_list`` (TLS ≤ 1.2): ``ECDHE-ECDSA-AES128-GCM-SHA256``.

        Refused while in use (the list is copied at ``SSL_new``).
        """
        raw = c_string(ciphers, "ciphers")
        self._configure(
            "set_ciphers",
            partial(ensure, lib.SSL_CTX_set_cipher_list, what=f"no cipher matches {ciphers!r}"),
            raw,
        )

    def set_ciphersuites(self, suites: str) -> None:
        """``SSL_CTX_set_ciphersuites`` (TLS 1.3), e.g. ``TLS_AES_128_GCM_SHA256``.

        Refused while in use (copied at ``SSL_new``).
        """
        raw = c_string(suites, "ciphersuites")
        self._configure(
            "set_ciphersuites",
            partial(ensure, lib.SSL_CTX_set_ciphersuites, what=f"refused {suites!r}"),
            raw,
        )

    def set_groups(self, groups: str | Iterable[str]) -> None:
        """``SSL_CTX_set1_groups_list``: key exchange groups by preference (``X25519:P-256``).

        Refused while in use (copied at ``SSL_new``).
        """
        raw = c_list(groups, "groups")
        self._configure(
            "set_groups",
            partial(ensure, lib.SSL_CTX_set1_groups_list, what=f"refused {raw.decode()!r}"),
            raw,
        )

    def set_sigalgs(self, sigalgs: str | Iterable[str]) -> None:
        """``SSL_CTX_set1_sigalgs_list``: signature algorithms (``ECDSA+SHA256:ed25519``).

        Refused while in use (copied at ``SSL_new``).
        """
        raw = c_list(sigalgs, "sigalgs")
        self._configure(
            "set_sigalgs",
            partial(ensure, lib.SSL_CTX_set1_sigalgs_list, what=f"refused {raw.decode()!r}"),
            raw,
        )

    @property
    def security_level(self) -> int:
        """``SSL_CTX_get/set_security_level`` (0..5).

        Setting it is refused while in use (copied at ``SSL_new``).
        """
        return int(self._read(lib.SSL_CTX_get_security_level))

    @security_level.setter
    def security_level(self, level: int) -> None:
        n = c_int(level, "security_level", 0, 5)
        self._configure("security_level", lib.SSL_CTX_set_security_level, n)

    @property
    def options(self) -> Options:
        """``SSL_CTX_get_options`` as an :class:`Options` flag."""
        return Options(int(self._read(lib.SSL_CTX_get_options)))

    def set_options(self, options: Options | int) -> Options:
        """``SSL_CTX_set_options`` (adds bits); returns the new set.

        Refused while in use (copied at ``SSL_new``).
        """
        bits = c_int(
            int(options) if isinstance(options, Options) else options, "options", 0, _U64_MAX
        )
        why = unavailable_options(bits)
        if why:
            raise ConfigurationError(why, operation="SSL_CTX_set_options")
        return Options(int(self._configure("set_options", lib.SSL_CTX_set_options, bits)))

    def clear_options(self, options: Options | int) -> Options:
        """``SSL_CTX_clear_options``; returns the new set. Refused while in use."""
        bits = c_int(
            int(options) if isinstance(options, Options) else options, "options", 0, _U64_MAX
        )
        return Options(int(self._configure("clear_options", lib.SSL_CTX_clear_options, bits)))

    @property
    def mode(self) -> Mode:
        """``SSL_CTX_get_mode``."""
        return Mode(int(self._read(lib.SSL_CTX_get_mode)))

    # --- async jobs ---
    @property
    def async_jobs(self) -> bool:
        """``SSL_MODE_ASYNC``: handshakes run in ASYNC jobs that may pause (``WANT_ASYNC``).

        Setting it is ``SSL_CTX_set_mode`` / ``SSL_CTX_clear_mode`` (safe while in
        use: the mode is copied at ``SSL_new``). A job pauses only when a
        provider or engine the context uses calls ``ASYNC_pause_job`` (see
        :mod:`ossl_handshake.core.async_jobs`).
        """
        return bool(self._read(lib.SSL_CTX_get_mode) & lib.SSL_MODE_ASYNC)

    @async_jobs.setter
    def async_jobs(self, on: bool) -> None:
        if not isinstance(on, bool):
            raise TypeError(f"async_jobs must be a bool, not {type(on).__name__}")
        fn = lib.SSL_CTX_set_mode if on else lib.SSL_CTX_clear_mode
        self._run(fn, lib.SSL_MODE_ASYNC)

    def set_alpn_protocols(self, protocols: Iterable[str | bytes]) -> None:
        """``SSL_CTX_set_alpn_protos``: the list a client offers, in preference order.

        Refused while in use (copied at ``SSL_new``).
        """
        wire = encode_alpn(protocols)
        self._configure(
            "set_alpn_protocols",
            partial(ensure, lib.SSL_CTX_set_alpn_protos, ok=0, what="refused"),
            wire,
            len(wire),
        )

    def set_alpn_select(
        self,
        choice: Iterable[str | bytes] | AlpnSelector | None,
        required: bool | None = None,
    ) -> None:
        """Server ALPN selection through ``SSL_CTX_set_alpn_select_cb``.

        ``choice`` is a preference list (the first of ours the client offers
        wins) or a callable ``(offered: list[str]) -> str | None``; None
        removes the callback. A callable may return a protocol the client
        did not offer (a protocol violation the client answers with a fatal
        alert, useful for testing clients). No choice returns
        ``SSL_TLSEXT_ERR_NOACK`` (no ALPN), or ``SSL_TLSEXT_ERR_ALERT_FATAL``
        (``no_application_protocol``) when ``required`` is True. ``required``
        None keeps the current setting.

        Refused while in use: libssl reads the callback from the ``SSL_CTX``
        during each handshake. After a servername callback switched a
        connection to another context, that context's selection applies
        (what OpenSSL does).
        """
        if self.role is not Role.SERVER:
            raise ValueError("ALPN selection is for server contexts; clients use alpn=[...]")
        select: tuple[bytes, ...] | AlpnSelector | None
        if choice is None:
            select = None
        elif callable(choice):
            select = choice
        else:
            select = tuple(p for _, p in alpn_entries(encode_alpn(choice)))  # validates names
        req = self._current.alpn_required if required is None else bool(required)

        def apply(ctx: Any) -> None:
            self._refuse_in_use("set_alpn_select")
            self._set_hooks(alpn_select=select, alpn_required=req)
            if select is None:
                lib.SSL_CTX_set_alpn_select_cb(ctx, _NULL, _NULL)
            else:
                lib.SSL_CTX_set_alpn_select_cb(ctx, lib.py_alpn_select_cb, _NULL)

        self._run(apply)

    @property
    def alpn_required(self) -> bool:
        """True when a server without a common ALPN protocol fails the handshake."""
        return self._current.alpn_required

    def set_servername_callback(self, callback: ServernameCallback | None) -> None:
        """``SSL_CTX_set_tlsext_servername_callback`` with a Python callable.

        ``callback(conn, name)`` runs on the server while it processes the
        ClientHello; ``name`` is the SNI host name or None when the client
        sent none. Return a server :class:`Context` to switch the connection
        to it (``SSL_set_SSL_CTX``: its certificate and key are used; the
        connection keeps that context alive, and counts as using it) or None
        to go on with this one. Raise :class:`SNIRejected` to refuse with an
        alert; any other exception fails the handshake with
        ``internal_error`` and is re-raised as
        :class:`~ossl_handshake.CallbackError`.

        After a switch OpenSSL takes the certificate, the trust store (used
        to verify a client certificate) and the ALPN selection from the new
        context, while the verify mode, verify callback, session cache and
        tickets stay those of this one: give the new context the same
        ``cafile`` when client certificates are in play. Key log lines keep
        going to the writer of the connection's own context.

        Refused while in use: libssl reads the callback from the ``SSL_CTX``
        during each handshake.
        """
        if self.role is not Role.SERVER:
            raise ValueError("the servername callback is for server contexts")
        if callback is not None and not callable(callback):
            raise TypeError(f"servername_callback must be callable, not {callback!r}")

        def apply(ctx: Any) -> None:
            self._refuse_in_use("set_servername_callback")
            self._set_hooks(servername=callback)
            lib.SSL_CTX_set_tlsext_servername_callback(
                ctx, lib.py_servername_cb if callback is not None else _NULL
            )

        self._run(apply)

    def set_new_session_callback(self, callback: NewSessionCallback | None) -> None:
        """``SSL_CTX_sess_set_new_cb``: ``callback(conn, session)`` for each new session.

        On a client this is every resumable session: one per TLS 1.2
        handshake, one per TLS 1.3 NewSessionTicket (these arrive after the
        handshake, so the call happens in a later read or
        ``process_pending``). It turns on ``SSL_SESS_CACHE_CLIENT`` with
        ``SSL_SESS_CACHE_NO_INTERNAL`` (OpenSSL only calls it when client
        caching is on; the internal store would only grow). On a server it
        runs when a session enters the server cache. The :class:`Session`
        owns its reference; keep it to resume later.

        Refused while in use: libssl reads the callback and the cache mode
        from the ``SSL_CTX`` whenever a session is made.
        """
        if callback is not None and not callable(callback):
            raise TypeError(f"on_new_session must be callable, not {callback!r}")

        def apply(ctx: Any) -> None:
            self._refuse_in_use("set_new_session_callback")
            self._set_hooks(new_session=callback)
            if callback is not None and self.role is Role.CLIENT:
                mode = lib.SSL_CTX_get_session_cache_mode(ctx)
                mode |= lib.SSL_SESS_CACHE_CLIENT | lib.SSL_SESS_CACHE_NO_INTERNAL
                lib.SSL_CTX_set_session_cache_mode(ctx, mode)
            lib.SSL_CTX_sess_set_new_cb(
                ctx, lib.py_new_session_cb if callback is not None else _NULL
            )

        self._run(apply)

    @property
    def session_cache(self) -> SessionCacheMode:
        """``SSL_CTX_get/set_session_cache_mode``.

        Setting it is refused while in use (read whenever a session is made).
        """
        return SessionCacheMode(int(self._read(lib.SSL_CTX_get_session_cache_mode)))

    @session_cache.setter
    def session_cache(self, mode: SessionCacheMode | int) -> None:
        bits = c_int(
            int(mode) if isinstance(mode, SessionCacheMode) else mode, "session_cache", 0, _LONG_MAX
        )
        self._configure("session_cache", lib.SSL_CTX_set_session_cache_mode, bits)

    @property
    def num_tickets(self) -> int:
        """``SSL_CTX_get/set_num_tickets``: TLS 1.3 tickets sent after a handshake.

        Setting it is refused while in use (copied at ``SSL_new``).
        """
        return int(self._read(lib.SSL_CTX_get_num_tickets))

    @num_tickets.setter
    def num_tickets(self, n: int) -> None:
        count = c_int(n, "num_tickets", 0, _SIZE_MAX)
        self._configure("num_tickets", partial(ensure, lib.SSL_CTX_set_num_tickets), count)

    # -- keys -------------------------------------------------------------

    def set_keylog(self, target: KeylogTarget | None) -> None:
        """NSS key log lines to a path (appended), a text file or a callable; None stops.

        Safe while in use: every connection writes to the target of the
        context at the time it was created, whatever happens to this
        context later (closing it included). A path is opened for each line
        in append mode, so nothing depends on this context staying open.
        The C callback (``SSL_CTX_set_keylog_callback``) is installed the
        first time a key log is set and never removed: it calls Python only
        for connections created with a target.
        """
        writer: Callable[[str], None] | None
        if target is None:
            writer = None
        elif callable(target):
            writer = target
        elif isinstance(target, (str, os.PathLike)):
            raw = os.fspath(target)
            if not isinstance(raw, str):
                raise TypeError(f"keylog path must be a str path, not {type(raw).__name__}")
            no_nul(raw, "keylog path")
            with open(raw, "a", encoding="ascii"):  # errors now, not in a handshake
                pass
            writer = AppendLines(raw)
        elif hasattr(target, "write"):
            writer = StreamLines(target)
        else:
            raise TypeError(f"keylog must be a path, a text file or a callable, not {target!r}")

        def apply(ctx: Any) -> None:
            self._set_hooks(keylog=writer)
            if writer is not None:
                lib.ossl_enable_keylog(ctx, 1)  # stays installed: see glue/callbacks.c

        self._run(apply)


def _free_ctx(ctx: Any) -> None:
    """The guard's free: forget our ex_data handle, drop our reference."""
    lib.ossl_set_ctx_handle(ctx, _NULL)
    lib.SSL_CTX_free(ctx)
