"""``@ffi.def_extern`` entry points for every callback libssl makes into Python.

Each callback finds its Python object through an ex_data handle (an
``ffi.new_handle`` of a *weak* reference, so the handle never keeps its owner
alive), runs the Python callable, and never lets an exception unwind through
C: the exception is parked on the connection and re-raised by the ``step()``
or ``do_handshake()`` that triggered it (docs/architecture.md, rule 7). Where OpenSSL lets
the callback fail the handshake, it does.

Every ``extern "Python"`` declared in ``ossl_build.py`` has its
``def_extern`` here, so importing this module (``connection.py`` does) is what
makes the callbacks callable from C.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core import ocsp, verify_pause
from ossl_handshake.core.handles import connection_of, context_of
from ossl_handshake.core.pauses import PAUSE
from ossl_handshake.tls.alpn import alpn_entries, alpn_name
from ossl_handshake.tls.roles import Role

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection
    from ossl_handshake.core.context import Context, Hooks


def hooks_of(ssl: Any, conn: Connection | None) -> Hooks | None:
    """The callbacks that apply to ``ssl``: the snapshot its :class:`Connection`
    was created with (``conn._hooks``), else (an SSL made by C code, or a
    connection that has none) the current ones of its context."""
    hooks: Hooks | None = getattr(conn, "_hooks", None) if conn is not None else None
    if hooks is not None:
        return hooks
    ctx = conn.context if conn is not None else context_of(lib.SSL_get_SSL_CTX(ssl))
    return ctx._hooks() if ctx is not None else None


def hook_of(ssl: Any, name: str) -> tuple[Connection | None, Any]:
    """The :class:`Connection` of ``ssl`` and its ``name`` callback (from
    :func:`hooks_of`), None when it has none: every trampoline's first step."""
    conn = connection_of(ssl)
    hooks = hooks_of(ssl, conn)
    return conn, getattr(hooks, name, None) if hooks is not None else None


def park(conn: Connection | None, exc: BaseException) -> None:
    """Keep ``exc`` for re-raising after the C call returns (first one wins)."""
    if conn is not None and conn._callback_error is None:
        conn._callback_error = exc
        # Tells the C driver (ossl_drive_pair) to stop after this step.
        state = getattr(conn, "_state", None)
        if state is not None:
            state.cb_error = 1


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_info_cb(ssl: Any, where: int, ret: int) -> None:
    conn = connection_of(ssl)
    if conn is None or conn._on_info is None:
        return
    try:
        conn._on_info(conn, where, ret)
    except BaseException as exc:  # parked, re-raised by step()
        park(conn, exc)


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_msg_cb(
    write_p: int, version: int, content_type: int, buf: Any, length: int, ssl: Any, arg: Any
) -> None:
    conn = connection_of(ssl)
    if conn is None or conn._on_message is None:
        return
    try:
        data = bytes(ffi.buffer(buf, length)) if length else b""
        conn._on_message(conn, bool(write_p), version, content_type, data)
    except BaseException as exc:
        park(conn, exc)


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_keylog_cb(ssl: Any, line: Any) -> None:
    # Reached through the C trampoline on whichever SSL_CTX the SSL uses now
    # (after an SNI switch, the new one): the writer is the connection's own.
    conn, writer = hook_of(ssl, "keylog")
    if writer is None:
        return
    try:
        writer(ffi.string(line).decode("ascii", "replace"))
    except BaseException as exc:
        park(conn, exc)


# -- configuration callbacks (issue 3) ------------------------------------------
#
# Each finds the Python callable in the hooks the connection was created
# with (hooks_of). The connection is looked up first: it keeps its contexts
# alive, and it is where an exception is parked. Which context's callable
# applies follows OpenSSL: the verify and servername callbacks and the
# session callback are the ones of the SSL_CTX the SSL was created from
# (copied at SSL_new / session_ctx); the ALPN callback is read from the
# current SSL_CTX, i.e. after an SNI switch the selection of the context
# switched to.

_TLSEXT_OK = int(lib.SSL_TLSEXT_ERR_OK)
_TLSEXT_FATAL = int(lib.SSL_TLSEXT_ERR_ALERT_FATAL)
_TLSEXT_NOACK = int(lib.SSL_TLSEXT_ERR_NOACK)
_X509_V_OK = int(lib.X509_V_OK)
_APP_VERIFY = int(lib.X509_V_ERR_APPLICATION_VERIFICATION)
_AD_INTERNAL_ERROR = 80


def _cert_der(x509: Any) -> bytes:
    n = lib.i2d_X509(x509, ffi.NULL)
    if n <= 0:
        return b""
    buf = ffi.new("unsigned char[]", n)
    lib.i2d_X509(x509, ffi.new("unsigned char **", buf))
    return bytes(ffi.buffer(buf, n))


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_verify_cb(preverify_ok: int, store: Any) -> int:
    """``SSL_CTX_set_verify`` callback: ask ``Context._verify_callback``; fail closed."""
    ptr = lib.X509_STORE_CTX_get_ex_data(store, lib.SSL_get_ex_data_X509_STORE_CTX_idx())
    if ptr == ffi.NULL:
        lib.X509_STORE_CTX_set_error(store, _APP_VERIFY)
        return 0
    ssl = ffi.cast("SSL *", ptr)
    conn = connection_of(ssl)
    hooks = hooks_of(ssl, conn)
    fn = hooks.verify if hooks is not None else None
    if fn is None or conn is None:
        # The callable is unreachable (an SSL made by C code, or a context
        # gone): rejecting is the only safe answer.
        lib.X509_STORE_CTX_set_error(store, _APP_VERIFY)
        return 0
    error = int(lib.X509_STORE_CTX_get_error(store))
    try:
        # A deferred answer (SSL_set_retry_verify, core/cert_callbacks.py).
        decided = verify_pause.before(conn, ssl)
        accept: object
        if decided is not None:
            accept = decided
        else:
            x509 = lib.X509_STORE_CTX_get_current_cert(store)
            der = _cert_der(x509) if x509 != ffi.NULL else b""
            depth = int(lib.X509_STORE_CTX_get_error_depth(store))
            answer: object = fn(conn, bool(preverify_ok), depth, error, der)
            if answer is PAUSE:
                return verify_pause.defer(conn, ssl, hooks)
            if not isinstance(answer, bool):
                raise TypeError(f"verify_callback must return a bool or PAUSE, not {answer!r}")
            accept = answer
    except BaseException as exc:  # parked, re-raised by step()
        park(conn, exc)
        lib.X509_STORE_CTX_set_error(store, _APP_VERIFY)
        return 0
    if accept:
        return 1
    if error == _X509_V_OK:
        lib.X509_STORE_CTX_set_error(store, _APP_VERIFY)
    return 0


def switch_context(conn: Connection, ssl: Any, chosen: Context) -> None:
    """``SSL_set_SSL_CTX`` to ``chosen`` from a server callback (servername, ClientHello).

    The one switch path: under ``chosen``'s guard, counting ``conn`` as its
    user, with the key log trampoline installed when the connection logs
    keys, and the connection keeping ``chosen`` alive.
    """
    if chosen is not conn.context and chosen is not conn._sni_context:
        chosen._switch_to(ssl, conn)  # under its guard; counts conn as its user
        conn._sni_context = chosen  # the SSL now uses it: keep it alive


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_servername_cb(ssl: Any, alert: Any, arg: Any) -> int:
    """``SSL_CTX_set_tlsext_servername_callback``: switch context, accept or reject."""
    from ossl_handshake.core.context import Context, SNIRejected

    conn, fn = hook_of(ssl, "servername")
    if fn is None or conn is None:
        alert[0] = _AD_INTERNAL_ERROR
        return _TLSEXT_FATAL
    p = lib.SSL_get_servername(ssl, 0)
    name = ffi.string(p).decode("utf-8", "replace") if p != ffi.NULL else None
    try:
        chosen = fn(conn, name)
        if chosen is not None:
            if not isinstance(chosen, Context) or chosen.role is not Role.SERVER:
                raise TypeError(
                    f"servername_callback must return a server Context or None, not {chosen!r}"
                )
            switch_context(conn, ssl, chosen)
    except SNIRejected as rej:
        alert[0] = rej.alert_code
        return _TLSEXT_FATAL
    except BaseException as exc:
        park(conn, exc)
        alert[0] = _AD_INTERNAL_ERROR
        return _TLSEXT_FATAL
    return _TLSEXT_OK


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_alpn_select_cb(ssl: Any, out: Any, outlen: Any, in_: Any, inlen: int, arg: Any) -> int:
    """``SSL_CTX_set_alpn_select_cb``: pick from a preference list or ask a callable."""
    conn = connection_of(ssl)
    switched = conn._sni_context if conn is not None else None
    # After an SNI switch OpenSSL calls the new context's callback: its selection.
    hooks = switched._hooks() if switched is not None else hooks_of(ssl, conn)
    if hooks is None or hooks.alpn_select is None:
        return _TLSEXT_NOACK
    offered = alpn_entries(bytes(ffi.buffer(in_, inlen)))
    select = hooks.alpn_select
    choice: bytes | None = None
    try:
        if callable(select):
            # RFC 7301 IDs are opaque: the selector gets the bytes as sent.
            picked = select([p for _, p in offered])
            if picked is not None:
                try:
                    choice = alpn_name(picked)  # bytes, or an ASCII str
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"alpn_select returned an invalid protocol: {exc}") from None
        else:
            protos = {p for _, p in offered}
            choice = next((p for p in select if p in protos), None)
    except BaseException as exc:
        park(conn, exc)
        return _TLSEXT_FATAL
    if choice is None:
        return _TLSEXT_FATAL if hooks.alpn_required else _TLSEXT_NOACK
    for offset, proto in offered:
        if proto == choice:
            out[0] = in_ + offset  # points into the ClientHello, valid for the handshake
            outlen[0] = len(proto)
            return _TLSEXT_OK
    if conn is None:
        return _TLSEXT_FATAL
    # Not offered by the client (a deliberate protocol violation): OpenSSL
    # keeps only the pointer, so the bytes live on the connection.
    conn._alpn_buffer = ffi.new("unsigned char[]", choice)
    out[0] = conn._alpn_buffer
    outlen[0] = len(choice)
    return _TLSEXT_OK


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_new_session_cb(ssl: Any, session: Any) -> int:
    """``SSL_CTX_sess_set_new_cb``: hand the session (and its reference) to Python."""
    from ossl_handshake.core.session import Session

    conn, fn = hook_of(ssl, "new_session")
    if fn is None or conn is None:
        return 0  # OpenSSL keeps its reference
    sess = Session(session)  # returning 1 below hands OpenSSL's reference to this object
    try:
        fn(conn, sess)
    except BaseException as exc:
        park(conn, exc)
    return 1


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_ocsp_status_cb(ssl: Any, arg: Any) -> int:
    """``SSL_CTX_set_tlsext_status_cb``: staple (server) or judge the staple (client)."""
    conn = connection_of(ssl)
    return ocsp.status_callback(ssl, conn, hooks_of(ssl, conn), park)


# -- PSK (core/psk.py) ------------------------------------------------------------
#
# The psk config is the connection's hooks' ``psk``: a PSK on a client, a
# PskServer on a server. A lookup that raises fails the handshake (return 0,
# libssl sends an alert) and is re-raised by the step that ran it.


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_psk_use_session_cb(ssl: Any, md: Any, id_: Any, idlen: Any, sess: Any) -> int:
    """``SSL_CTX_set_psk_use_session_callback``: offer the client's PSK as a session."""
    sess[0] = ffi.NULL
    conn, psk = hook_of(ssl, "psk")
    if psk is None or conn is None:
        return 1  # no PSK: the handshake goes on without one
    try:
        buf = ffi.new("unsigned char[]", psk.identity)
        s = lib.ossl_psk_session(ssl, md, psk.key, len(psk.key), psk.cipher_id)
        if s == ffi.NULL:
            return 1  # the digest a HelloRetryRequest fixed is not this PSK's
        conn._psk_buffer = buf  # libssl keeps only the pointer
        conn._psk_identity = psk.identity
        id_[0] = buf
        idlen[0] = len(psk.identity)
        sess[0] = s  # libssl takes this reference
    except BaseException as exc:
        park(conn, exc)
        return 0
    return 1


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_psk_find_session_cb(ssl: Any, identity: Any, identity_len: int, sess: Any) -> int:
    """``SSL_CTX_set_psk_find_session_callback``: the server's key for an identity."""
    sess[0] = ffi.NULL
    conn, cfg = hook_of(ssl, "psk")
    if cfg is None or conn is None:
        return 1
    name = bytes(ffi.buffer(identity, identity_len))
    try:
        found = cfg.find(name)
        if found is None:
            return 1  # unknown identity: no PSK (a full handshake, or a failure without a cert)
        s = lib.ossl_psk_session(ssl, ffi.NULL, found.key, len(found.key), found.cipher_id)
        if s == ffi.NULL:
            raise ValueError(f"cipher {found.cipher} is not available for this PSK")
        conn._psk_identity = name
        sess[0] = s
    except BaseException as exc:
        park(conn, exc)
        return 0
    return 1


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_psk_client_cb(
    ssl: Any, hint: Any, identity: Any, max_identity_len: int, psk: Any, max_psk_len: int
) -> int:
    """``SSL_CTX_set_psk_client_callback`` (TLS 1.2 PSK suites): identity and key; 0 fails."""
    conn, cfg = hook_of(ssl, "psk")
    if cfg is None or conn is None:
        return 0
    try:
        if b"\x00" in cfg.identity or len(cfg.identity) > max_identity_len:
            raise ValueError(f"PSK identity {cfg.identity!r} does not fit a TLS 1.2 identity")
        if len(cfg.key) > max_psk_len:
            raise ValueError(f"PSK key of {len(cfg.key)} bytes exceeds {max_psk_len}")
        ffi.memmove(identity, cfg.identity + b"\x00", len(cfg.identity) + 1)
        ffi.memmove(psk, cfg.key, len(cfg.key))
        conn._psk_identity = cfg.identity
    except BaseException as exc:
        park(conn, exc)
        return 0
    return len(cfg.key)


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_psk_server_cb(ssl: Any, identity: Any, psk: Any, max_psk_len: int) -> int:
    """``SSL_CTX_set_psk_server_callback`` (TLS 1.2 PSK suites): the key; 0 = unknown."""
    conn, cfg = hook_of(ssl, "psk")
    if cfg is None or conn is None or identity == ffi.NULL:
        return 0
    name = ffi.string(identity)
    try:
        found = cfg.find(name)
        if found is None:
            return 0
        if len(found.key) > max_psk_len:
            raise ValueError(f"PSK key of {len(found.key)} bytes exceeds {max_psk_len}")
        ffi.memmove(psk, found.key, len(found.key))
        conn._psk_identity = name
    except BaseException as exc:
        park(conn, exc)
        return 0
    return len(found.key)
