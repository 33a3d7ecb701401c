"""``Context``: owns an ``SSL_CTX`` and its configuration.

Build a context once and share it: loading a certificate chain costs more
than a handshake (DESIGN.md rule 7). Every keyword maps to one documented
``SSL_CTX_*`` call, named in :class:`Context`'s docstring.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.constants import ClientAuth, Mode, Options, SessionCacheMode, TLSVersion
from ossl_handshake.core.errors import ConfigurationError, ErrorRecord, drain
from ossl_handshake.tls.names import ALERT_CODES
from ossl_handshake.tls.roles import Role

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection
    from ossl_handshake.core.session import Session

PathLike = str | os.PathLike[str]
_ERR_LIB_X509 = 11
KeylogTarget = PathLike | Callable[[str], None] | TextIO
#: ``(offered protocols) -> chosen protocol or None`` (server ALPN selection).
AlpnSelector = Callable[[list[str]], "str | bytes | None"]
#: ``(connection, received name or None) -> Context to switch to, or None to keep``.
ServernameCallback = Callable[["Connection", "str | None"], "Context | None"]
#: ``(connection, preverify_ok, depth, X509 error code, certificate DER) -> accept?``.
VerifyCallback = Callable[["Connection", bool, int, int, bytes], bool]
#: ``(connection, session)``: a new session was established (``SSL_CTX_sess_set_new_cb``).
NewSessionCallback = Callable[["Connection", "Session"], None]


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


def _path(value: PathLike, what: str) -> bytes:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{what} must be a path (str or os.PathLike), not {type(value).__name__}")
    p = Path(value)
    if not p.exists():
        raise FileNotFoundError(f"{what}: no such file: {p}")
    if not p.is_file() and what != "capath":
        raise ValueError(f"{what}: not a regular file: {p}")
    return os.fsencode(p)


def _fail(message: str, errors: tuple[ErrorRecord, ...]) -> ConfigurationError:
    return ConfigurationError(message, errors=errors, operation=message.split(":")[0])


def encode_alpn(protocols: Iterable[str | bytes]) -> bytes:
    """The ALPN wire list: each protocol as a length-prefixed byte string."""
    if isinstance(protocols, (str, bytes)):
        raise TypeError("ALPN protocols must be a list of names, not one string")
    out = bytearray()
    for proto in protocols:
        raw = proto.encode("ascii") if isinstance(proto, str) else bytes(proto)
        if not 0 < len(raw) < 256:
            raise ValueError(f"ALPN protocol names are 1..255 bytes: {proto!r}")
        out.append(len(raw))
        out += raw
    if not out:
        raise ValueError("ALPN protocol list is empty")
    return bytes(out)


class Context:
    """An ``SSL_CTX`` for one role, configured once and shared by connections.

    Keywords and the OpenSSL call behind each:

    - ``cert`` / ``key``: ``SSL_CTX_use_certificate_chain_file`` (PEM leaf then
      chain) / ``SSL_CTX_use_PrivateKey_file``, then ``SSL_CTX_check_private_key``.
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
    - ``keylog``: ``SSL_CTX_set_keylog_callback``: a path (NSS key log lines
      appended), a text file, or a callable taking each line.

    Python callables handed to OpenSSL live on this object; OpenSSL reaches
    them through an ex_data handle holding only a weak reference, so a
    callable that refers back to its context makes an ordinary cycle that
    the garbage collector frees.
    """

    _alpn_select: list[bytes] | AlpnSelector | None = None
    _alpn_required: bool = False
    _servername_callback: ServernameCallback | None = None
    _verify_callback: VerifyCallback | None = None
    _on_new_session: NewSessionCallback | None = None

    def __init__(
        self,
        role: Role | str = Role.CLIENT,
        *,
        cert: PathLike | None = None,
        key: PathLike | None = None,
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
    ) -> None:
        self.role = Role(role)
        self._ctx: Any = ffi.NULL
        self._keylog: Callable[[str], None] | None = None
        self._keylog_file: TextIO | None = None
        self._owned = True
        method = lib.TLS_client_method() if self.role is Role.CLIENT else lib.TLS_server_method()
        ctx = lib.SSL_CTX_new(method)
        if ctx == ffi.NULL:
            raise _fail("SSL_CTX_new: failed", drain())
        self._ctx = ctx
        self._handle = ffi.new_handle(weakref.ref(self))
        lib.ossl_set_ctx_handle(ctx, self._handle)
        self.cert = Path(cert) if cert is not None else None
        self.cafile = Path(cafile) if cafile is not None else None

        if release_buffers:
            lib.SSL_CTX_set_mode(ctx, lib.SSL_MODE_RELEASE_BUFFERS)
        if cert is not None:
            self.load_cert_chain(cert, key)
        elif key is not None:
            raise ValueError("key given without cert")
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
            self.set_options(Options(options))
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
            lib.SSL_CTX_set_session_cache_mode(ctx, int(session_cache))
        if keylog is not None:
            self.set_keylog(keylog)
        if self.role is Role.SERVER:
            # Server-side session cache needs an id context or resumption fails
            # once client certificates are in play (SSL_CTX_set_session_id_context(3)).
            sid = b"ossl-handshake"
            lib.SSL_CTX_set_session_id_context(ctx, sid, len(sid))
        auth = ClientAuth(client_auth) if client_auth is not None else None
        if verify_callback is not None and not callable(verify_callback):
            raise TypeError(f"verify_callback must be callable, not {verify_callback!r}")
        self._verify_callback = verify_callback
        self.set_verify(verify, auth)

    # -- lifetime ---------------------------------------------------------

    @property
    def ptr(self) -> Any:
        """The raw ``SSL_CTX *`` for C code in the same process (still owned here)."""
        return self._live()

    # -- the interface Connection uses (docs/architecture.md, "Ownership and guards") --

    def _open_ssl(self, state: Any, server: bool) -> Any:
        """``SSL_new`` from this context (``ossl_new_ssl``) for a new :class:`Connection`."""
        return lib.ossl_new_ssl(self._live(), state, server)

    def _ssl_closed(self) -> None:
        """A connection made by :meth:`_open_ssl` freed its ``SSL``."""

    def _live(self) -> Any:
        if self._ctx == ffi.NULL:
            raise ValueError("Context is closed")
        return self._ctx

    @property
    def closed(self) -> bool:
        return bool(self._ctx == ffi.NULL)

    def close(self) -> None:
        """Drop our reference (``SSL_CTX_free``); connections keep their own. Idempotent."""
        ctx, self._ctx = self._ctx, ffi.NULL
        if ctx != ffi.NULL:
            lib.ossl_set_ctx_handle(ctx, ffi.NULL)
            if self._owned:
                lib.SSL_CTX_free(ctx)
        if self._keylog_file is not None:
            self._keylog_file.close()
            self._keylog_file = None

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
        :class:`Context` is refused (use that object).
        """
        from ossl_handshake.core.handles import context_of

        ptr = _as_pointer(pointer, "SSL_CTX *")
        if context_of(ptr) is not None:
            raise ValueError("this SSL_CTX * already belongs to a live Context: use that object")
        self = cls.__new__(cls)
        self.role = Role(role)
        self._ctx = ffi.NULL
        self._keylog = None
        self._keylog_file = None
        self._owned = True
        self.cert = None
        self.cafile = None
        if not owned and lib.SSL_CTX_up_ref(ptr) != 1:
            raise _fail("SSL_CTX_up_ref: failed", drain())
        self._ctx = ptr
        self._handle = ffi.new_handle(weakref.ref(self))
        lib.ossl_set_ctx_handle(ptr, self._handle)
        return self

    # -- certificates -----------------------------------------------------

    def load_cert_chain(self, cert: PathLike, key: PathLike | None = None) -> None:
        """``SSL_CTX_use_certificate_chain_file`` + ``SSL_CTX_use_PrivateKey_file``.

        ``key`` defaults to ``cert`` (a PEM holding both). Raises
        :class:`ConfigurationError` naming the file when it is not a PEM
        chain, not a key, or the key does not match the certificate.
        """
        ctx = self._live()
        cert_b = _path(cert, "cert")
        key_b = _path(key if key is not None else cert, "key")
        lib.ERR_clear_error()
        if lib.SSL_CTX_use_certificate_chain_file(ctx, cert_b) != 1:
            raise _fail(f"SSL_CTX_use_certificate_chain_file: cannot load {cert}", drain())
        if lib.SSL_CTX_use_PrivateKey_file(ctx, key_b, lib.SSL_FILETYPE_PEM) != 1:
            errors = drain()
            # 3.0 checks the key against the certificate inside this call
            # (X509_check_private_key): X509 "key values mismatch".
            if any(e.library_code == _ERR_LIB_X509 and e.reason_code == 116 for e in errors):
                raise _fail(
                    f"SSL_CTX_use_PrivateKey_file: key {key or cert} does not match "
                    f"certificate {cert}",
                    errors,
                )
            raise _fail(f"SSL_CTX_use_PrivateKey_file: cannot load {key or cert}", errors)
        if lib.SSL_CTX_check_private_key(ctx) != 1:
            raise _fail(
                f"SSL_CTX_check_private_key: key {key or cert} does not match certificate {cert}",
                drain(),
            )
        self.cert = Path(cert)

    def load_verify_locations(
        self, cafile: PathLike | None = None, capath: PathLike | None = None
    ) -> None:
        """``SSL_CTX_load_verify_locations``: trust anchors from a PEM file and/or a hashed dir."""
        ctx = self._live()
        f = _path(cafile, "cafile") if cafile is not None else ffi.NULL
        d = _path(capath, "capath") if capath is not None else ffi.NULL
        lib.ERR_clear_error()
        if lib.SSL_CTX_load_verify_locations(ctx, f, d) != 1:
            raise _fail(f"SSL_CTX_load_verify_locations: cannot load {cafile or capath}", drain())
        if cafile is not None:
            self.cafile = Path(cafile)

    def set_verify(self, verify: bool | None = None, client_auth: ClientAuth | None = None) -> None:
        """``SSL_CTX_set_verify``: clients verify by default; servers ask per ``client_auth``."""
        ctx = self._live()
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
            if client_auth is not ClientAuth.NONE and self.cafile is not None:
                names = lib.SSL_load_client_CA_file(os.fsencode(self.cafile))
                if names != ffi.NULL:
                    lib.SSL_CTX_set_client_CA_list(ctx, names)
                lib.ERR_clear_error()
        cb = lib.py_verify_cb if self._verify_callback is not None else ffi.NULL
        lib.SSL_CTX_set_verify(ctx, mode, cb)
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
        Connections made from this context keep the callback they were
        created with.
        """
        if callback is not None and not callable(callback):
            raise TypeError(f"verify_callback must be callable, not {callback!r}")
        ctx = self._live()
        self._verify_callback = callback
        cb = lib.py_verify_cb if callback is not None else ffi.NULL
        lib.SSL_CTX_set_verify(ctx, lib.SSL_CTX_get_verify_mode(ctx), cb)

    @property
    def verify(self) -> bool:
        """True when the peer's certificate is verified (``SSL_CTX_get_verify_mode``)."""
        return bool(lib.SSL_CTX_get_verify_mode(self._live()) & lib.SSL_VERIFY_PEER)

    # -- protocol ---------------------------------------------------------

    @property
    def min_version(self) -> TLSVersion | None:
        """``SSL_CTX_get/set_min_proto_version``; None means the library's lowest."""
        v = lib.SSL_CTX_get_min_proto_version(self._live())
        return TLSVersion(v) if v else None

    @min_version.setter
    def min_version(self, value: TLSVersion | str | int | None) -> None:
        v = 0 if value is None else int(TLSVersion.parse(value))
        if lib.SSL_CTX_set_min_proto_version(self._live(), v) != 1:
            raise _fail(f"SSL_CTX_set_min_proto_version: refused {value}", drain())

    @property
    def max_version(self) -> TLSVersion | None:
        """``SSL_CTX_get/set_max_proto_version``; None means the library's highest."""
        v = lib.SSL_CTX_get_max_proto_version(self._live())
        return TLSVersion(v) if v else None

    @max_version.setter
    def max_version(self, value: TLSVersion | str | int | None) -> None:
        v = 0 if value is None else int(TLSVersion.parse(value))
        if lib.SSL_CTX_set_max_proto_version(self._live(), v) != 1:
            raise _fail(f"SSL_CTX_set_max_proto_version: refused {value}", drain())

    def set_ciphers(self, ciphers: str) -> None:
        """``SSL_CTX_set_cipher_list`` (TLS ≤ 1.2): ``ECDHE-ECDSA-AES128-GCM-SHA256``."""
        if lib.SSL_CTX_set_cipher_list(self._live(), _ascii(ciphers, "ciphers")) != 1:
            raise _fail(f"SSL_CTX_set_cipher_list: no cipher matches {ciphers!r}", drain())

    def set_ciphersuites(self, suites: str) -> None:
        """``SSL_CTX_set_ciphersuites`` (TLS 1.3), e.g. ``TLS_AES_128_GCM_SHA256``."""
        if lib.SSL_CTX_set_ciphersuites(self._live(), _ascii(suites, "ciphersuites")) != 1:
            raise _fail(f"SSL_CTX_set_ciphersuites: refused {suites!r}", drain())

    def set_groups(self, groups: str | Iterable[str]) -> None:
        """``SSL_CTX_set1_groups_list``: key exchange groups by preference (``X25519:P-256``)."""
        text_ = groups if isinstance(groups, str) else ":".join(groups)
        if lib.SSL_CTX_set1_groups_list(self._live(), _ascii(text_, "groups")) != 1:
            raise _fail(f"SSL_CTX_set1_groups_list: refused {text_!r}", drain())

    def set_sigalgs(self, sigalgs: str | Iterable[str]) -> None:
        """``SSL_CTX_set1_sigalgs_list``: signature algorithms (``ECDSA+SHA256:ed25519``)."""
        text_ = sigalgs if isinstance(sigalgs, str) else ":".join(sigalgs)
        if lib.SSL_CTX_set1_sigalgs_list(self._live(), _ascii(text_, "sigalgs")) != 1:
            raise _fail(f"SSL_CTX_set1_sigalgs_list: refused {text_!r}", drain())

    @property
    def security_level(self) -> int:
        """``SSL_CTX_get/set_security_level`` (0..5)."""
        return int(lib.SSL_CTX_get_security_level(self._live()))

    @security_level.setter
    def security_level(self, level: int) -> None:
        if not isinstance(level, int) or not 0 <= level <= 5:
            raise ValueError(f"security level is an int 0..5, not {level!r}")
        lib.SSL_CTX_set_security_level(self._live(), level)

    @property
    def options(self) -> Options:
        """``SSL_CTX_get_options`` as an :class:`Options` flag."""
        return Options(int(lib.SSL_CTX_get_options(self._live())))

    def set_options(self, options: Options | int) -> Options:
        """``SSL_CTX_set_options`` (adds bits); returns the new set."""
        return Options(int(lib.SSL_CTX_set_options(self._live(), int(options))))

    def clear_options(self, options: Options | int) -> Options:
        """``SSL_CTX_clear_options``; returns the new set."""
        return Options(int(lib.SSL_CTX_clear_options(self._live(), int(options))))

    @property
    def mode(self) -> Mode:
        """``SSL_CTX_get_mode``."""
        return Mode(int(lib.SSL_CTX_get_mode(self._live())))

    def set_alpn_protocols(self, protocols: Iterable[str | bytes]) -> None:
        """``SSL_CTX_set_alpn_protos``: the list a client offers, in preference order."""
        wire = encode_alpn(protocols)
        if lib.SSL_CTX_set_alpn_protos(self._live(), wire, len(wire)) != 0:
            raise _fail("SSL_CTX_set_alpn_protos: refused", drain())

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
        """
        ctx = self._live()
        if self.role is not Role.SERVER:
            raise ValueError("ALPN selection is for server contexts; clients use alpn=[...]")
        if required is not None:
            self._alpn_required = bool(required)
        if choice is None:
            self._alpn_select = None
            lib.SSL_CTX_set_alpn_select_cb(ctx, ffi.NULL, ffi.NULL)
            return
        if callable(choice):
            self._alpn_select = choice
        else:
            wire = encode_alpn(choice)  # validates names
            prefs, i = [], 0
            while i < len(wire):
                prefs.append(wire[i + 1 : i + 1 + wire[i]])
                i += 1 + wire[i]
            self._alpn_select = prefs
        lib.SSL_CTX_set_alpn_select_cb(ctx, lib.py_alpn_select_cb, ffi.NULL)

    @property
    def alpn_required(self) -> bool:
        """True when a server without a common ALPN protocol fails the handshake."""
        return self._alpn_required

    def set_servername_callback(self, callback: ServernameCallback | None) -> None:
        """``SSL_CTX_set_tlsext_servername_callback`` with a Python callable.

        ``callback(conn, name)`` runs on the server while it processes the
        ClientHello; ``name`` is the SNI host name or None when the client
        sent none. Return a server :class:`Context` to switch the connection
        to it (``SSL_set_SSL_CTX``: its certificate and key are used; the
        connection keeps that context alive) or None to go on with this one.
        Raise :class:`SNIRejected` to refuse with an alert; any other
        exception fails the handshake with ``internal_error`` and is
        re-raised as :class:`~ossl_handshake.CallbackError`.

        After a switch OpenSSL takes the certificate, the trust store (used
        to verify a client certificate) and the ALPN selection from the new
        context, while the verify mode, verify callback, session cache and
        tickets stay those of this one: give the new context the same
        ``cafile`` when client certificates are in play.
        """
        if self.role is not Role.SERVER:
            raise ValueError("the servername callback is for server contexts")
        if callback is not None and not callable(callback):
            raise TypeError(f"servername_callback must be callable, not {callback!r}")
        ctx = self._live()
        self._servername_callback = callback
        lib.SSL_CTX_set_tlsext_servername_callback(
            ctx, lib.py_servername_cb if callback is not None else ffi.NULL
        )

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
        """
        if callback is not None and not callable(callback):
            raise TypeError(f"on_new_session must be callable, not {callback!r}")
        ctx = self._live()
        self._on_new_session = callback
        if callback is not None and self.role is Role.CLIENT:
            mode = lib.SSL_CTX_get_session_cache_mode(ctx)
            mode |= lib.SSL_SESS_CACHE_CLIENT | lib.SSL_SESS_CACHE_NO_INTERNAL
            lib.SSL_CTX_set_session_cache_mode(ctx, mode)
        lib.SSL_CTX_sess_set_new_cb(
            ctx, lib.py_new_session_cb if callback is not None else ffi.NULL
        )

    @property
    def session_cache(self) -> SessionCacheMode:
        """``SSL_CTX_get/set_session_cache_mode``."""
        return SessionCacheMode(int(lib.SSL_CTX_get_session_cache_mode(self._live())))

    @session_cache.setter
    def session_cache(self, mode: SessionCacheMode | int) -> None:
        lib.SSL_CTX_set_session_cache_mode(self._live(), int(mode))

    @property
    def num_tickets(self) -> int:
        """``SSL_CTX_get/set_num_tickets``: TLS 1.3 tickets sent after a handshake."""
        return int(lib.SSL_CTX_get_num_tickets(self._live()))

    @num_tickets.setter
    def num_tickets(self, n: int) -> None:
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"num_tickets is a non-negative int, not {n!r}")
        lib.SSL_CTX_set_num_tickets(self._live(), n)

    # -- keys -------------------------------------------------------------

    def set_keylog(self, target: KeylogTarget | None) -> None:
        """``SSL_CTX_set_keylog_callback``: NSS key log lines to a path, file or callable."""
        ctx = self._live()
        if self._keylog_file is not None:
            self._keylog_file.close()
            self._keylog_file = None
        if target is None:
            self._keylog = None
            lib.ossl_enable_keylog(ctx, 0)
            return
        if callable(target):
            self._keylog = target
        elif isinstance(target, (str, os.PathLike)):
            f = open(target, "a", encoding="ascii")  # noqa: SIM115 - closed by close()
            self._keylog_file = f

            def write(line: str, f: TextIO = f) -> None:
                f.write(line + "\n")
                f.flush()

            self._keylog = write
        elif hasattr(target, "write"):
            stream = target

            def write_stream(line: str) -> None:
                stream.write(line + "\n")
                stream.flush()

            self._keylog = write_stream
        else:
            raise TypeError(f"keylog must be a path, a text file or a callable, not {target!r}")
        lib.ossl_enable_keylog(ctx, 1)


def keylog_from_env(opt_in: bool) -> str | None:
    """The ``SSLKEYLOGFILE`` path, honoured only when the caller opts in."""
    return os.environ.get("SSLKEYLOGFILE") if opt_in else None


def _ascii(value: str, what: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"{what} must be ASCII: {value!r}") from None


#: cdata pointer types :func:`_as_pointer` accepts for each target type (a
#: foreign cffi module may spell the typedef out as its struct).
_POINTER_ALIASES = {
    "SSL *": {"SSL *", "struct ssl_st *", "void *"},
    "SSL_CTX *": {"SSL_CTX *", "struct ssl_ctx_st *", "void *"},
}
_ADDRESS_LIMIT = 1 << (8 * ffi.sizeof("void *"))
_POINTER_ALIGN = ffi.alignof("void *")


def _as_pointer(pointer: Any, ctype: str) -> Any:
    # Only what can be told from the value itself is checked: a freed or
    # foreign pointer of the right type cannot be detected (undefined behaviour).
    if isinstance(pointer, int) and not isinstance(pointer, bool):
        if pointer == 0:
            raise ValueError(f"cannot adopt a NULL {ctype}")
        if not 4096 <= pointer < _ADDRESS_LIMIT or pointer % _POINTER_ALIGN:
            raise ValueError(f"{pointer:#x} is not a valid {ctype} address")
        return ffi.cast(ctype, pointer)
    if isinstance(pointer, ffi.CData):
        if pointer == ffi.NULL:
            raise ValueError(f"cannot adopt a NULL {ctype}")
        cname = ffi.typeof(pointer).cname
        allowed = _POINTER_ALIASES.get(ctype, {ctype, "void *"})
        if cname not in allowed and cname not in ("uintptr_t", "intptr_t"):
            raise TypeError(f"expected {ctype} cdata, not {cname}")
        return ffi.cast(ctype, pointer)
    raise TypeError(f"expected a cffi pointer or an integer address, not {type(pointer).__name__}")
