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
from ossl_handshake.core import certdata, verification
from ossl_handshake.core import psk as _psk
from ossl_handshake.core.async_jobs import LibraryContext, new_ssl_ctx
from ossl_handshake.core.ca_lists import names_of_stack, set_ca_list
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
    SSLError,
    drain,
    ensure,
)
from ossl_handshake.core.guard import SharedGuard
from ossl_handshake.core.inputs import (
    as_pointer,
    c_int,
    c_list,
    c_string,
    cert_data,
    check_callable,
    dh_params_pem,
    no_nul,
    path_bytes,
)
from ossl_handshake.core.keylog import AppendLines, KeylogTarget, PathLike, StreamLines
from ossl_handshake.core.keys import key_error, load_key, password_bytes
from ossl_handshake.core.ocsp import OCSPResponder, OCSPVerifier
from ossl_handshake.core.post_handshake import Renegotiation, renegotiation_options
from ossl_handshake.core.psk import ClientPsk, ServerPsk
from ossl_handshake.core.session import SessionStats, session_stats
from ossl_handshake.core.verification import HostFlags, Purpose, VerifyFlags
from ossl_handshake.tls.alpn import alpn_entries, encode_alpn
from ossl_handshake.tls.names import ALERT_CODES
from ossl_handshake.tls.roles import Role

if TYPE_CHECKING:
    from ossl_handshake.core.cert_callbacks import CertCallback, ClientCertCallback
    from ossl_handshake.core.client_hello import ClientHelloCallback
    from ossl_handshake.core.connection import Connection
    from ossl_handshake.core.session import Session

#: ``(offered protocol IDs as bytes) -> chosen ID (bytes, or an ASCII str) or None``.
AlpnSelector = Callable[[list[bytes]], "str | bytes | None"]
#: A certificate, key, CA or CRL: a path, or the PEM/DER bytes themselves.
CertSource = PathLike | bytes | bytearray | memoryview
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
#: The libssl call that ``ossl_open`` reports as failed, by its code.
_OPEN_STEPS = {
    int(lib.OSSL_OPEN_SSL_NEW): "SSL_new",
    int(lib.OSSL_OPEN_SNI): "SSL_set_tlsext_host_name",
    int(lib.OSSL_OPEN_HOST): "SSL_set1_host",
    int(lib.OSSL_OPEN_IP): "X509_VERIFY_PARAM_set1_ip_asc",
    int(lib.OSSL_OPEN_SESSION): "SSL_set_session",
    int(lib.OSSL_OPEN_BIO_PAIR): "ossl_memory_pair",
}


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
    # pauses (core/pauses.py): the ClientHello and certificate callbacks, and
    # whether the verify callback may defer (SSL_set_retry_verify).
    client_hello: ClientHelloCallback | None = None
    cert: CertCallback | None = None
    client_cert: ClientCertCallback | None = None
    verify_may_pause: bool = False
    ocsp_response: bytes | OCSPResponder | None = None
    ocsp_verify: OCSPVerifier | None = None
    #: core/psk.py: a PSK (client) or a PskServer (server).
    psk: Any = None


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
    - ``client_auth`` (servers): ``none``/``request``/``require``/``post_handshake``
      (TLS 1.3: ask only after the handshake, ``SSL_VERIFY_POST_HANDSHAKE``); also sends
      the ``cafile`` subjects as the acceptable CA list (``SSL_CTX_set_client_CA_list``).
    - ``min_version`` / ``max_version``: ``SSL_CTX_set_min/max_proto_version``.
    - ``ciphers`` (TLS ≤ 1.2): ``SSL_CTX_set_cipher_list``; ``ciphersuites``
      (TLS 1.3): ``SSL_CTX_set_ciphersuites``.
    - ``groups``: ``SSL_CTX_set1_groups_list``; ``sigalgs``: ``SSL_CTX_set1_sigalgs_list``.
    - ``dh_params`` (servers): DHE parameters for TLS ≤ 1.2, ``"auto"`` or a
      PEM file or PEM bytes; see :meth:`set_dh_params`.
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
    - ``cert``/``key`` as bytes (PEM or DER) instead of paths, ``cadata``
      (trust anchors as bytes, ``X509_STORE_add_cert``), ``crl``
      (``X509_STORE_add_crl``): see :mod:`ossl_handshake.core.certdata`.
    - ``verify_depth``: ``SSL_CTX_set_verify_depth``; ``verify_flags``:
      ``X509_VERIFY_PARAM_set_flags`` (:class:`VerifyFlags`: CRL checks,
      partial chains); ``host_flags``: ``X509_VERIFY_PARAM_set_hostflags``;
      ``purpose``: ``SSL_CTX_set_purpose``.
    - ``ocsp`` / ``ocsp_verify`` (clients): ``SSL_CTX_set_tlsext_status_type``
      and the status callback's verdict; ``ocsp_response`` (servers): the
      staple (``SSL_set_tlsext_status_ocsp_resp``); see :mod:`ossl_handshake.core.ocsp`.
    - ``session_timeout``: ``SSL_CTX_set_timeout``; ``session_id_context``:
      ``SSL_CTX_set_session_id_context``.
    - ``accept_moving_write_buffer`` (default on, as in pyOpenSSL and
      CPython) and ``partial_write``: ``SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER``
      and ``SSL_MODE_ENABLE_PARTIAL_WRITE`` (see :meth:`set_mode`).
    - ``renegotiation`` (TLS ≤ 1.2): a :class:`~ossl_handshake.core.post_handshake.Renegotiation`
      policy (``"refuse"``, ``"server"``, ``"client"``, ``"unsafe_legacy"``)
      mapped to ``SSL_OP_NO_RENEGOTIATION`` / ``SSL_OP_ALLOW_CLIENT_RENEGOTIATION``
      / ``SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION``; None keeps OpenSSL's default.
    - ``post_handshake_auth`` (clients, TLS 1.3): ``SSL_CTX_set_post_handshake_auth``.
    - ``max_early_data`` / ``recv_max_early_data`` (TLS 1.3):
      ``SSL_CTX_set_max_early_data`` / ``SSL_CTX_set_recv_max_early_data``;
      ``anti_replay=False`` sets ``SSL_OP_NO_ANTI_REPLAY`` (servers).
    - ``psk``, ``psk_identity_hint``, ``psk_cipher``: pre-shared keys, see
      :meth:`set_psk`.

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
        cert: CertSource | None = None,
        key: CertSource | None = None,
        password: Password | None = None,
        cafile: PathLike | None = None,
        capath: PathLike | None = None,
        cadata: bytes | None = None,
        verify: bool | None = None,
        client_auth: ClientAuth | str | None = None,
        min_version: TLSVersion | str | int | None = None,
        max_version: TLSVersion | str | int | None = None,
        ciphers: str | None = None,
        ciphersuites: str | None = None,
        groups: str | Iterable[str] | None = None,
        sigalgs: str | Iterable[str] | None = None,
        dh_params: PathLike | bytes | None = None,
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
        client_hello_callback: ClientHelloCallback | None = None,
        cert_callback: CertCallback | None = None,
        client_cert_callback: ClientCertCallback | None = None,
        verify_may_pause: bool = False,
        client_ca_list: Iterable[PathLike] | None = None,
        crl: CertSource | None = None,
        verify_depth: int | None = None,
        verify_flags: VerifyFlags | int | None = None,
        host_flags: HostFlags | int | None = None,
        purpose: Purpose | int | None = None,
        ocsp: bool = False,
        ocsp_response: bytes | OCSPResponder | None = None,
        ocsp_verify: OCSPVerifier | None = None,
        session_timeout: int | None = None,
        session_id_context: bytes | None = None,
        accept_moving_write_buffer: bool = True,
        partial_write: bool = False,
        renegotiation: Renegotiation | str | None = None,
        post_handshake_auth: bool = False,
        max_early_data: int | None = None,
        recv_max_early_data: int | None = None,
        anti_replay: bool | None = None,
        psk: ClientPsk | ServerPsk | None = None,
        psk_identity_hint: str | bytes | None = None,
        psk_cipher: str = "TLS_AES_128_GCM_SHA256",
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
        self.cert = Path(cert) if isinstance(cert, (str, os.PathLike)) else None
        self.cafile = Path(cafile) if cafile is not None else None

        modes = Mode.RELEASE_BUFFERS if release_buffers else Mode.NONE
        if accept_moving_write_buffer:
            modes |= Mode.ACCEPT_MOVING_WRITE_BUFFER
        if partial_write:
            modes |= Mode.ENABLE_PARTIAL_WRITE
        if modes:
            self._run(lib.SSL_CTX_set_mode, int(modes))
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
        if cafile is not None or capath is not None or cadata is not None:
            self.load_verify_locations(cafile, capath, cadata=cadata)
        if crl is not None:
            self.load_crl(crl)
        if verify_depth is not None:
            self.verify_depth = verify_depth
        if verify_flags is not None:
            self.set_verify_flags(verify_flags)
        if host_flags is not None:
            self.host_flags = host_flags
        if purpose is not None:
            self.set_purpose(purpose)
        if ocsp or ocsp_verify is not None:
            self.request_ocsp(ocsp_verify)
        if ocsp_response is not None:
            self.set_ocsp_response(ocsp_response)
        if session_timeout is not None:
            self.session_timeout = session_timeout
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
        if dh_params is not None:
            self.set_dh_params(dh_params)
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
        if client_hello_callback is not None:
            self.set_client_hello_callback(client_hello_callback)
        if cert_callback is not None:
            self.set_cert_callback(cert_callback)
        if client_cert_callback is not None:
            self.set_client_cert_callback(client_cert_callback)
        if num_tickets is not None:
            self.num_tickets = num_tickets
        self._beyond_keywords(
            renegotiation,
            post_handshake_auth,
            max_early_data,
            recv_max_early_data,
            anti_replay,
            psk,
            psk_identity_hint,
            psk_cipher,
        )
        if session_cache is not None:
            self.session_cache = session_cache
        if keylog is not None:
            self.set_keylog(keylog)
        if self.role is Role.SERVER:
            # Server-side session cache needs an id context or resumption fails
            # once client certificates are in play (SSL_CTX_set_session_id_context(3)).
            sid = b"ossl-handshake"
            self._run(partial(ensure, lib.SSL_CTX_set_session_id_context), sid, len(sid))
        if session_id_context is not None:
            self.set_session_id_context(session_id_context)
        auth = ClientAuth(client_auth) if client_auth is not None else None
        if verify_callback is not None:
            self.set_verify_callback(verify_callback, may_pause=verify_may_pause)
        elif verify_may_pause:
            raise ValueError("verify_may_pause needs a verify_callback")
        self.set_verify(verify, auth)
        if client_ca_list is not None:
            self.set_client_ca_list(client_ca_list)

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

    def _open_ssl(
        self,
        state: Any,
        server: bool,
        sni: Any,
        host: Any,
        ip: Any,
        session: Any,
        bio_size: int,
    ) -> Any:
        """A new :class:`Connection`'s ``SSL``, set up in one call (``ossl_open``).

        ``SSL_new`` with our state, the connect or accept state, then what is
        not NULL: SNI (``SSL_set_tlsext_host_name``), the host name or IP
        address to verify (``SSL_set1_host``, ``X509_VERIFY_PARAM_set1_ip_asc``),
        the session to offer (``SSL_set_session``) and, with ``bio_size >= 0``,
        its own BIO pair. Returns the ``ossl_opened`` (``ssl``, ``net``); a
        failure raises :class:`SSLError` naming the call, with nothing left
        allocated. Runs under the guard, so :meth:`close` on another thread
        cannot free the ``SSL_CTX`` during ``SSL_new``; afterwards the SSL
        holds its own reference. Counts the connection as live until
        :meth:`_ssl_closed`.
        """

        def new(ctx: Any) -> Any:
            out = ffi.new("ossl_opened *")
            state.want_keylog = 1 if self._current.keylog is not None else 0
            ensure(
                lib.ossl_open,
                *(ctx, state, server, sni, host, ip, session, bio_size, out),
                ok=0,
                raising=SSLError,
                steps=_OPEN_STEPS,
            )
            with self._count_lock:
                self._opened += 1
            return out

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
        self,
        cert: CertSource,
        key: CertSource | None = None,
        *,
        password: Password | None = None,
    ) -> None:
        """``SSL_CTX_use_certificate_chain_file`` + ``SSL_CTX_use_PrivateKey_file``.

        ``cert`` and ``key`` are each a path or the PEM/DER bytes themselves
        (:mod:`ossl_handshake.core.certdata`: ``SSL_CTX_use_certificate``,
        ``SSL_CTX_add1_chain_cert`` for the rest of the chain,
        ``SSL_CTX_use_PrivateKey``); bytes that are no certificate or key are
        a :class:`ConfigurationError`. ``key`` defaults to ``cert`` (a PEM
        holding both). ``password`` opens
        an encrypted key: str (UTF-8), bytes, or a callable returning one,
        called only when the key turns out to be encrypted. OpenSSL never
        prompts: an encrypted key without ``password`` and a wrong password
        are :class:`ConfigurationError`, as are a file that is not a PEM
        chain, not a key, or a key that does not match the certificate.

        Refused while in use (:class:`ContextInUseError`): the certificate
        and key are copied into each connection at ``SSL_new`` and read
        while it handshakes.
        """
        key_name = key if key is not None else cert
        if password is not None and not callable(password):
            password_bytes(password)  # type errors before anything is loaded
        if not isinstance(cert, (str, os.PathLike)) or not isinstance(key_name, (str, os.PathLike)):
            self._load_cert_data(cert, key_name, password)
            return
        cert_b = path_bytes(cert, "cert")
        key_b = path_bytes(key_name, "key")

        def load(ctx: Any) -> None:
            self._refuse_in_use("load_cert_chain")
            ensure(lib.SSL_CTX_use_certificate_chain_file, ctx, cert_b, what=f"cannot load {cert}")
            ret, pw, errors, given = load_key(ctx, key_b, password)
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
        self,
        cafile: PathLike | None = None,
        capath: PathLike | None = None,
        *,
        cadata: bytes | None = None,
    ) -> None:
        """``SSL_CTX_load_verify_locations``: trust anchors from a PEM file and/or a hashed dir.

        ``cadata``: trust anchors as PEM or DER bytes (one or more
        certificates), each added with ``X509_STORE_add_cert``.
        Refused while in use (the trust store is read during handshakes).
        """
        if cadata is not None:
            raw = cert_data(cadata, "cadata")
            self._configure("load_verify_locations", certdata.add_ca_data, raw)
        if cafile is None and capath is None:
            return
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

    # --- verification control, certificates from memory, OCSP, sessions, modes ---
    # The logic is in core/verification.py, core/certdata.py, core/ocsp.py and
    # core/session.py; these are the thin, guarded entry points.

    def _load_cert_data(self, cert: CertSource, key: CertSource, password: Password | None) -> None:
        cert_raw, key_raw, name = certdata.read_pair(cert, key)

        def load(ctx: Any) -> None:
            self._refuse_in_use("load_cert_chain")
            certdata.use_pair(ctx, cert_raw, key_raw, password, name=name)

        self._run(load)
        self.cert = Path(cert) if isinstance(cert, (str, os.PathLike)) else None

    def load_crl(self, crl: CertSource) -> int:
        """Add the CRLs of a PEM/DER file or bytes to the trust store (``X509_STORE_add_crl``).

        Returns how many were added. OpenSSL consults them only with
        ``VerifyFlags.CRL_CHECK`` (the leaf) or ``CRL_CHECK_ALL`` (every
        level, which then needs a CRL from each CA). Refused while in use
        (the store is read during handshakes).
        """
        raw = certdata.read_data(crl, "crl")
        return int(self._configure("load_crl", certdata.add_crl_data, raw))

    @property
    def verify_depth(self) -> int:
        """``SSL_CTX_get/set_verify_depth``: most intermediates allowed between leaf and anchor.

        -1 is OpenSSL's default (100). A chain leaf → intermediate → root
        needs 1; 0 fails it with ``X509_V_ERR_CERT_CHAIN_TOO_LONG``. Setting
        it is refused while in use (copied at ``SSL_new``).
        """
        return int(self._read(lib.SSL_CTX_get_verify_depth))

    @verify_depth.setter
    def verify_depth(self, depth: int) -> None:
        n = c_int(depth, "verify_depth", -1, (1 << 31) - 1)
        self._configure("verify_depth", verification.set_depth, n)

    @property
    def verify_flags(self) -> VerifyFlags:
        """``X509_VERIFY_PARAM_get_flags`` of the context (the :class:`VerifyFlags` bits set)."""
        return self._read(verification.get_flags)

    def set_verify_flags(self, flags: VerifyFlags | int) -> None:
        """``X509_VERIFY_PARAM_set_flags`` (adds bits). Refused while in use."""
        bits = verification.as_flags(flags, VerifyFlags, "verify_flags")
        self._configure("set_verify_flags", verification.set_flags, bits)

    def clear_verify_flags(self, flags: VerifyFlags | int) -> None:
        """``X509_VERIFY_PARAM_clear_flags``. Refused while in use."""
        bits = verification.as_flags(flags, VerifyFlags, "verify_flags")
        self._configure("clear_verify_flags", verification.clear_flags, bits)

    @property
    def host_flags(self) -> HostFlags:
        """``X509_VERIFY_PARAM_get/set_hostflags``: how the name check treats wildcards and CN.

        Applies to the name set by ``server_name``/``verify_host``. Setting
        it is refused while in use (copied at ``SSL_new``).
        """
        return self._read(verification.get_host_flags)

    @host_flags.setter
    def host_flags(self, flags: HostFlags | int) -> None:
        bits = verification.as_flags(flags, HostFlags, "host_flags")
        self._configure("host_flags", verification.set_host_flags, bits)

    def set_purpose(self, purpose: Purpose | int) -> None:
        """``SSL_CTX_set_purpose``: the purpose the peer's certificate is checked for.

        Refused while in use (copied at ``SSL_new``).
        """
        p = Purpose(purpose)
        self._configure("set_purpose", verification.set_purpose, p)

    def request_ocsp(self, verify: OCSPVerifier | None = None) -> None:
        """Clients: ask for a stapled OCSP response (``SSL_CTX_set_tlsext_status_type``).

        ``verify(conn, response)`` (optional) judges it from the status
        callback (``SSL_CTX_set_tlsext_status_cb``): the DER bytes or None
        when nothing was stapled; True accepts, False fails the handshake
        with ``bad_certificate_status_response``. Without it every response
        is accepted and readable as ``conn.ocsp_response``. Refused while in
        use (the callback is read during handshakes).
        """
        if self.role is not Role.CLIENT:
            raise ValueError("request_ocsp is for client contexts; servers use ocsp_response=")
        if verify is not None and not callable(verify):
            raise TypeError(f"ocsp_verify must be callable, not {verify!r}")

        def apply(ctx: Any) -> None:
            self._refuse_in_use("request_ocsp")
            self._set_hooks(ocsp_verify=verify)
            ensure(lib.SSL_CTX_set_tlsext_status_type, ctx, lib.TLSEXT_STATUSTYPE_ocsp)
            ensure(lib.SSL_CTX_set_tlsext_status_cb, ctx, lib.py_ocsp_status_cb)

        self._run(apply)

    def set_ocsp_response(self, response: bytes | OCSPResponder | None) -> None:
        """Servers: what to staple when a client asks (``SSL_CTX_set_tlsext_status_cb``).

        DER bytes (the same for every connection) or a callable
        ``(conn) -> bytes | None``; see :mod:`ossl_handshake.core.ocsp` for
        None and failures. Refused while in use.
        """
        if self.role is not Role.SERVER:
            raise ValueError("ocsp_response is for server contexts; clients use ocsp=True")
        source: bytes | OCSPResponder | None
        if response is None or callable(response):
            source = response
        else:
            source = cert_data(response, "ocsp_response")

        def apply(ctx: Any) -> None:
            self._refuse_in_use("set_ocsp_response")
            self._set_hooks(ocsp_response=source)
            cb = lib.py_ocsp_status_cb if source is not None else _NULL
            lib.SSL_CTX_set_tlsext_status_cb(ctx, cb)

        self._run(apply)

    @property
    def session_timeout(self) -> int:
        """``SSL_CTX_get/set_timeout``: seconds a new session stays resumable.

        Stamped on each session when it is made (``Session.timeout``; a
        TLS 1.3 server also sends it as the ticket lifetime hint); OpenSSL's
        default is 300. Setting it is refused while in use.
        """
        return int(self._read(lib.SSL_CTX_get_timeout))

    @session_timeout.setter
    def session_timeout(self, seconds: int) -> None:
        n = c_int(seconds, "session_timeout", 0, _LONG_MAX)
        self._configure("session_timeout", lib.SSL_CTX_set_timeout, n)

    def set_session_id_context(self, sid_ctx: bytes) -> None:
        """``SSL_CTX_set_session_id_context`` (at most 32 bytes).

        A server resumes only sessions made under the same id context;
        servers get ``b"ossl-handshake"`` by default. Refused while in use.
        """
        raw = cert_data(sid_ctx, "session_id_context")
        if len(raw) > 32:
            raise ValueError(f"session_id_context is at most 32 bytes, not {len(raw)}")
        self._configure(
            "set_session_id_context",
            partial(ensure, lib.SSL_CTX_set_session_id_context),
            raw,
            len(raw),
        )

    @property
    def session_cache_size(self) -> int:
        """``SSL_CTX_sess_get/set_cache_size``: sessions the internal cache holds (0: no limit).

        When it is full, adding one evicts the oldest and counts ``cache_full``
        (:meth:`session_stats`). Setting it is refused while in use.
        """
        return int(self._read(lib.SSL_CTX_sess_get_cache_size))

    @session_cache_size.setter
    def session_cache_size(self, n: int) -> None:
        size = c_int(n, "session_cache_size", 0, _LONG_MAX)
        self._configure("session_cache_size", lib.SSL_CTX_sess_set_cache_size, size)

    def session_stats(self) -> SessionStats:
        """The session cache counters (``SSL_CTX_sess_number``, ``_hits``, ``_misses``, ...).

        Safe while in use (a read).
        """
        return self._read(session_stats)

    def set_mode(self, mode: Mode | int) -> Mode:
        """``SSL_CTX_set_mode`` (adds bits); returns the new set.

        ``ACCEPT_MOVING_WRITE_BUFFER`` is on by default (as in pyOpenSSL and
        CPython): a ``write()`` retried after ``WantWriteError`` may pass an
        equal copy of the data. ``ENABLE_PARTIAL_WRITE`` makes ``write()``
        return after the first record instead of writing everything.
        Refused while in use (copied at ``SSL_new``).
        """
        bits = verification.as_flags(mode, Mode, "mode")
        return Mode(int(self._configure("set_mode", lib.SSL_CTX_set_mode, bits)))

    def clear_mode(self, mode: Mode | int) -> Mode:
        """``SSL_CTX_clear_mode``; returns the new set. Refused while in use."""
        bits = verification.as_flags(mode, Mode, "mode")
        return Mode(int(self._configure("clear_mode", lib.SSL_CTX_clear_mode, bits)))

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
                ClientAuth.POST_HANDSHAKE: lib.SSL_VERIFY_PEER | lib.SSL_VERIFY_POST_HANDSHAKE,
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

    def set_verify_callback(
        self, callback: VerifyCallback | None, *, may_pause: bool = False
    ) -> None:
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

        With ``may_pause`` (a client, OpenSSL 3.0.2+) the callback may return
        ``PAUSE`` to defer its answer (``SSL_set_retry_verify``: the step
        returns ``WANT_RETRY_VERIFY``; see :mod:`ossl_handshake.core.verify_pause`).
        """
        if callback is not None and not callable(callback):
            raise TypeError(f"verify_callback must be callable, not {callback!r}")
        if not isinstance(may_pause, bool):
            raise TypeError(f"may_pause must be a bool, not {may_pause!r}")

        def apply(ctx: Any) -> None:
            self._set_hooks(verify=callback, verify_may_pause=may_pause and callback is not None)
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

    def set_dh_params(self, value: PathLike | bytes) -> None:
        """DHE parameters of a server (TLS ≤ 1.2 ``DHE-*`` ciphers; TLS 1.3 uses ``groups``).

        ``"auto"``: ``SSL_CTX_set_dh_auto(ctx, 1)``, built-in parameters sized
        to the certificate's security level (SSL_CTX_set_dh_auto(3)). A PEM
        file path or PEM bytes (``-----BEGIN DH PARAMETERS-----``): read with
        ``PEM_read_bio_Parameters`` and given to ``SSL_CTX_set0_tmp_dh_pkey``
        (OpenSSL 3.0+, which takes ownership); on 1.1.1
        ``PEM_read_bio_DHparams`` and ``SSL_CTX_set_tmp_dh`` (which copies).
        Without either, a server offers no ``DHE-*`` cipher suite (up to
        OpenSSL 3.x; 4.0 picks automatic parameters by default). Parameters
        too small for the security level fail here (``SSL_R_DH_KEY_TOO_SMALL``).

        Refused while in use (copied into each ``SSL`` at ``SSL_new``).
        Servers only: a client context raises ``ValueError``.
        """
        if self.role is not Role.SERVER:
            raise ValueError("DHE parameters are for server contexts")
        pem = dh_params_pem(value)
        if pem is None:
            self._configure(
                "set_dh_params", partial(ensure, lib.SSL_CTX_set_dh_auto, what="dh auto"), 1
            )
            return
        self._configure(
            "set_dh_params",
            partial(
                ensure,
                lib.ossl_ctx_set_dh_pem,
                operation="SSL_CTX_set0_tmp_dh_pkey",
                what="refused the DH parameters",
            ),
            pem,
            len(pem),
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

    # --- pauses: ClientHello and certificate callbacks, CA lists (core/pauses.py) ---

    def set_client_hello_callback(self, callback: ClientHelloCallback | None) -> None:
        """``SSL_CTX_set_client_hello_cb`` with a Python callable (servers).

        ``callback(hello)`` runs as soon as the ClientHello is parsed, before
        the servername callback, with a copy of it
        (:class:`~ossl_handshake.tls.client_hello.ClientHello`); it returns
        None/True (go on), a server :class:`Context` (switch to it, as a
        servername callback does), ``Reject(alert)``/False (fail with that
        alert) or ``PAUSE`` (``SSL_CLIENT_HELLO_RETRY``: the step returns
        ``WANT_CLIENT_HELLO_CB``). See :mod:`ossl_handshake.core.client_hello`.

        Refused while in use: libssl reads the callback from the ``SSL_CTX``
        during each handshake.
        """
        if self.role is not Role.SERVER:
            raise ValueError("the ClientHello callback is for server contexts")
        check_callable(callback, "client_hello_callback")

        def apply(ctx: Any) -> None:
            self._refuse_in_use("set_client_hello_callback")
            self._set_hooks(client_hello=callback)
            lib.SSL_CTX_set_client_hello_cb(
                ctx, lib.py_client_hello_cb if callback is not None else _NULL, _NULL
            )

        self._run(apply)

    def set_cert_callback(self, callback: CertCallback | None) -> None:
        """``SSL_CTX_set_cert_cb`` (both roles): choose or load a certificate per connection.

        See :mod:`ossl_handshake.core.cert_callbacks`: ``callback(request)``
        may call ``request.use(cert, key)`` and returns None/True, False (fail)
        or ``PAUSE`` (``WANT_X509_LOOKUP``). Refused while in use (copied at
        ``SSL_new``).
        """
        check_callable(callback, "cert_callback")

        def apply(ctx: Any) -> None:
            self._refuse_in_use("set_cert_callback")
            self._set_hooks(cert=callback)
            lib.SSL_CTX_set_cert_cb(ctx, lib.py_cert_cb if callback is not None else _NULL, _NULL)

        self._run(apply)

    def set_client_cert_callback(self, callback: ClientCertCallback | None) -> None:
        """``SSL_CTX_set_client_cert_cb`` (clients): the certificate to answer a request with.

        Called only when the server asks and this context has no certificate
        of its own; ``callback(request)`` returns an ``Identity``/``(cert,
        key)``, None (send none) or ``PAUSE`` (``WANT_X509_LOOKUP``). Refused
        while in use (read from the ``SSL_CTX`` during the handshake).
        """
        if self.role is not Role.CLIENT:
            raise ValueError("the client certificate callback is for client contexts")
        check_callable(callback, "client_cert_callback")

        def apply(ctx: Any) -> None:
            self._refuse_in_use("set_client_cert_callback")
            self._set_hooks(client_cert=callback)
            lib.SSL_CTX_set_client_cert_cb(
                ctx, lib.py_client_cert_cb if callback is not None else _NULL
            )

        self._run(apply)

    def set_client_ca_list(self, cafiles: Iterable[PathLike] | None) -> None:
        """``SSL_CTX_set_client_CA_list`` (servers): the CA names a CertificateRequest lists.

        The subjects of the certificates in the given PEM files
        (``SSL_load_client_CA_file`` for the first, ``SSL_CTX_add_client_CA``
        for each certificate of the others); ``[]`` sends an empty list
        (any CA). It replaces the list ``client_auth`` took from ``cafile``.
        Refused while in use (read during handshakes).
        """
        names = None if cafiles is None else list(cafiles)

        def apply(ctx: Any) -> None:
            self._refuse_in_use("set_client_ca_list")
            set_ca_list(ctx, names)

        self._run(apply)

    @property
    def client_ca_names(self) -> list[str]:
        """``SSL_CTX_get_client_CA_list`` as RFC 2253 names (what a server sends)."""

        def read(ctx: Any) -> list[str]:
            sk = lib.SSL_CTX_get_client_CA_list(ctx)
            return [] if sk == _NULL else names_of_stack(sk)

        return self._read(read)

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

    # --- beyond the first handshake ---

    def _beyond_keywords(
        self,
        renegotiation: Renegotiation | str | None,
        post_handshake_auth: bool,
        max_early_data: int | None,
        recv_max_early_data: int | None,
        anti_replay: bool | None,
        psk: ClientPsk | ServerPsk | None,
        psk_identity_hint: str | bytes | None,
        psk_cipher: str,
    ) -> None:
        if renegotiation is not None:
            on, off = renegotiation_options(renegotiation)
            if off:
                self.clear_options(off)
            if on:
                self.set_options(on)
        if not isinstance(post_handshake_auth, bool):
            raise TypeError(f"post_handshake_auth must be a bool, not {post_handshake_auth!r}")
        if post_handshake_auth:
            if self.role is not Role.CLIENT:
                raise ValueError("post_handshake_auth is a client setting (the server asks)")
            self._run(lib.SSL_CTX_set_post_handshake_auth, 1)
        if max_early_data is not None:
            self.max_early_data = max_early_data
        if recv_max_early_data is not None:
            self.recv_max_early_data = recv_max_early_data
        if anti_replay is not None:
            if not isinstance(anti_replay, bool):
                raise TypeError(f"anti_replay must be a bool, not {anti_replay!r}")
            if not anti_replay:
                self.set_options(Options.NO_ANTI_REPLAY)
        if psk is not None or psk_identity_hint is not None:
            self.set_psk(psk, identity_hint=psk_identity_hint, cipher=psk_cipher)

    @property
    def max_early_data(self) -> int:
        """``SSL_CTX_get/set_max_early_data``: 0-RTT bytes a server accepts (0: no 0-RTT).

        A server puts it in its tickets (a client can send early data only
        on a session that allows it). Setting is refused while in use.
        """
        return int(self._read(lib.SSL_CTX_get_max_early_data))

    @max_early_data.setter
    def max_early_data(self, n: int) -> None:
        v = c_int(n, "max_early_data", 0, 0xFFFFFFFF)
        self._configure("max_early_data", partial(ensure, lib.SSL_CTX_set_max_early_data), v)

    @property
    def recv_max_early_data(self) -> int:
        """``SSL_CTX_get/set_recv_max_early_data``: the most a server reads before it
        fails the handshake (default 16384). Setting is refused while in use."""
        return int(self._read(lib.SSL_CTX_get_recv_max_early_data))

    @recv_max_early_data.setter
    def recv_max_early_data(self, n: int) -> None:
        v = c_int(n, "recv_max_early_data", 0, 0xFFFFFFFF)
        self._configure(
            "recv_max_early_data", partial(ensure, lib.SSL_CTX_set_recv_max_early_data), v
        )

    def set_psk(
        self,
        psk: ClientPsk | ServerPsk | None,
        *,
        identity_hint: str | bytes | None = None,
        cipher: str = "TLS_AES_128_GCM_SHA256",
    ) -> None:
        """Pre-shared keys (see :mod:`ossl_handshake.core.psk`); None removes them.

        Client: a :class:`~ossl_handshake.core.psk.PSK` or ``(identity, key)``
        (``SSL_CTX_set_psk_use_session_callback`` for TLS 1.3,
        ``SSL_CTX_set_psk_client_callback`` for TLS 1.2 PSK suites). Server: a
        mapping identity -> key or a callable ``identity -> key | PSK | None``
        (``SSL_CTX_set_psk_find_session_callback``,
        ``SSL_CTX_set_psk_server_callback``); ``cipher`` is the TLS 1.3 cipher
        a bare key's session names; ``identity_hint`` is sent by a TLS 1.2
        server (``SSL_CTX_use_psk_identity_hint``). TLS 1.2 PSK needs a PSK
        cipher suite in ``ciphers`` (e.g. ``"PSK-AES128-GCM-SHA256"``).
        Refused while in use: libssl reads the callbacks in each handshake.
        """
        server = self.role is Role.SERVER
        cfg: Any = None
        if psk is not None:
            cfg = _psk.server_config(psk, cipher) if server else _psk.client_config(psk)
        hint = None
        if identity_hint is not None:
            if not server:
                raise ValueError("identity_hint is sent by a server")
            hint = c_string(
                identity_hint.decode("ascii")
                if isinstance(identity_hint, bytes)
                else identity_hint,
                "identity_hint",
            )

        def apply(ctx: Any) -> None:
            self._refuse_in_use("set_psk")
            self._set_hooks(psk=cfg)
            _psk.install(ctx, server, cfg is not None)
            if hint is not None:
                ensure(lib.SSL_CTX_use_psk_identity_hint, ctx, hint)

        self._run(apply)

    # --- end of beyond the first handshake ---

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
