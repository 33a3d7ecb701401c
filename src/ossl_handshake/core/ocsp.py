"""OCSP stapling (RFC 6066 ``status_request``, RFC 6960 responses).

A client asks for a staple with ``SSL_CTX_set_tlsext_status_type`` /
``SSL_set_tlsext_status_type(TLSEXT_STATUSTYPE_ocsp)`` (``Context(ocsp=True)``,
``Connection.request_ocsp()``). Both sides then run the context's status
callback (``SSL_CTX_set_tlsext_status_cb``, our ``py_ocsp_status_cb``):

- on the **server**, while it answers the ClientHello, only when the client
  asked: the ``ocsp_response`` of the context (DER bytes, or a callable
  ``(conn) -> bytes | None``) is stapled with ``SSL_set_tlsext_status_ocsp_resp``
  (libssl takes an ``OPENSSL_malloc`` copy). ``None`` staples nothing
  (``SSL_TLSEXT_ERR_NOACK``). Raising :class:`OCSPRejected` fails the
  handshake (``SSL_TLSEXT_ERR_ALERT_FATAL``: OpenSSL sends ``internal_error``);
  any other exception does too and is re-raised as
  :class:`~ossl_handshake.CallbackError`.
- on the **client**, after the server's certificate (and the staple, if any)
  arrived: ``ocsp_verify(conn, response)`` sees the DER bytes
  (``SSL_get_tlsext_status_ocsp_resp``), or ``None`` when nothing was
  stapled; True accepts, False fails the handshake with the
  ``bad_certificate_status_response`` alert (the callback returned 0), an
  exception fails it and becomes a ``CallbackError``. OpenSSL itself never
  judges the response: that is the callback's job, and
  :meth:`~ossl_handshake.Connection.ocsp_status` (or :func:`inspect_ocsp`)
  reads it for the peer's certificate.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.errors import ConfigurationError
from ossl_handshake.core.inputs import cert_data

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection
    from ossl_handshake.core.context import Hooks

__all__ = ["OCSPRejected", "OCSPStatus", "inspect_ocsp"]

#: Server: ``(connection) -> DER OCSPResponse or None``.
OCSPResponder = Callable[["Connection"], "bytes | None"]
#: Client: ``(connection, DER response or None) -> accept?``.
OCSPVerifier = Callable[["Connection", "bytes | None"], bool]

_NULL = ffi.NULL
_OK = int(lib.SSL_TLSEXT_ERR_OK)
_NOACK = int(lib.SSL_TLSEXT_ERR_NOACK)
_FATAL = int(lib.SSL_TLSEXT_ERR_ALERT_FATAL)
_STATUS = {
    int(lib.V_OCSP_CERTSTATUS_GOOD): "good",
    int(lib.V_OCSP_CERTSTATUS_REVOKED): "revoked",
    int(lib.V_OCSP_CERTSTATUS_UNKNOWN): "unknown",
}


class OCSPRejected(Exception):
    """Raise from a server's ``ocsp_response`` callable to fail the handshake.

    OpenSSL answers ``SSL_TLSEXT_ERR_ALERT_FATAL`` from the status callback
    with an ``internal_error`` alert; the handshake fails as an ordinary
    :class:`~ossl_handshake.ProtocolError` on both sides (no ``CallbackError``).
    """


def _when(epoch: int) -> datetime.datetime | None:
    if epoch < 0:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)


@dataclass(frozen=True)
class OCSPStatus:
    """What an OCSPResponse says of one certificate (``ossl_ocsp_inspect`` in C).

    ``response_status`` is the OCSPResponseStatus (0 successful);
    ``cert_status`` ``"good"``, ``"revoked"``, ``"unknown"`` or None when the
    response has no SingleResponse for the certificate (``found`` False);
    ``reason`` the CRL reason code of a revocation; ``current`` the verdict
    of ``OCSP_check_validity`` (thisUpdate not in the future, nextUpdate not
    past, with ``slack`` seconds of leeway); ``signature_ok`` that of
    ``OCSP_basic_verify`` against the trust store (None: not checked).
    :attr:`ok` is all of them.
    """

    response_status: int
    found: bool
    cert_status: str | None
    reason: int | None
    this_update: datetime.datetime | None
    next_update: datetime.datetime | None
    revoked_at: datetime.datetime | None
    current: bool
    signature_ok: bool | None

    @property
    def ok(self) -> bool:
        """Successful, for this certificate, ``good``, current and (if checked) signed."""
        return (
            self.response_status == int(lib.OCSP_RESPONSE_STATUS_SUCCESSFUL)
            and self.cert_status == "good"
            and self.current
            and self.signature_ok is not False
        )


def _status(info: Any) -> OCSPStatus:
    return OCSPStatus(
        response_status=int(info.response_status),
        found=bool(info.found),
        cert_status=_STATUS.get(int(info.cert_status)) if info.found else None,
        reason=int(info.reason) if info.reason >= 0 else None,
        this_update=_when(int(info.this_update)),
        next_update=_when(int(info.next_update)),
        revoked_at=_when(int(info.revoked_at)),
        current=bool(info.current),
        signature_ok=None if info.signature < 0 else bool(info.signature),
    )


def _inspect(
    der: bytes, leaf: Any, issuer: Any, store: Any, untrusted: Any, slack: int
) -> OCSPStatus:
    info = ffi.new("ossl_ocsp_info *")
    if not lib.ossl_ocsp_inspect(der, len(der), leaf, issuer, store, untrusted, slack, info):
        raise ConfigurationError(
            "the bytes are not a DER OCSPResponse", operation="d2i_OCSP_RESPONSE"
        )
    return _status(info)


def _x509(data: bytes | None, what: str) -> Any:
    if data is None:
        return _NULL
    raw = cert_data(data, what)
    pp = ffi.new("const unsigned char **", ffi.from_buffer(raw))
    x = lib.d2i_X509(ffi.NULL, pp, len(raw))
    if x == _NULL:
        lib.ossl_clear_errors()
        raise ConfigurationError(f"{what} is not a DER certificate", operation="d2i_X509")
    return ffi.gc(x, lib.X509_free)


def inspect_ocsp(
    response: bytes,
    *,
    cert: bytes | None = None,
    issuer: bytes | None = None,
    slack: int = 300,
) -> OCSPStatus:
    """Read a DER OCSPResponse: for ``cert`` issued by ``issuer`` (both DER), or
    the first SingleResponse without them. The signature is not checked here
    (:meth:`Connection.ocsp_status` checks it against the connection's trust store).
    """
    der = cert_data(response, "OCSP response")
    if (cert is None) != (issuer is None):
        raise ValueError("give both cert and issuer, or neither")
    return _inspect(der, _x509(cert, "cert"), _x509(issuer, "issuer"), _NULL, _NULL, slack)


def stapled(ssl: Any) -> bytes | None:
    """``SSL_get_tlsext_status_ocsp_resp``: the stapled response, None without one."""
    p = ffi.new("const unsigned char **")
    n = int(lib.ossl_get_ocsp_response(ssl, p))
    return bytes(ffi.buffer(p[0], n)) if n >= 0 and p[0] != _NULL else None


def _nth(sk: Any, i: int) -> Any:
    if sk == _NULL:
        return _NULL
    stack = ffi.cast("OPENSSL_STACK *", sk)
    if lib.OPENSSL_sk_num(stack) <= i:
        return _NULL
    return ffi.cast("X509 *", lib.OPENSSL_sk_value(stack, i))


def peer_status(ssl: Any, slack: int) -> OCSPStatus | None:
    """The stapled response read for the peer's leaf, its signature checked
    against the trust store of the ``SSL``'s context (None: nothing stapled).

    The issuer is the second certificate of ``SSL_get0_verified_chain`` (or
    of the peer's chain when verification did not build one).
    """
    der = stapled(ssl)
    if der is None:
        return None
    chain = lib.SSL_get_peer_cert_chain(ssl)
    verified = lib.SSL_get0_verified_chain(ssl)
    leaf = _nth(chain, 0)
    issuer = _nth(verified, 1)
    if issuer == _NULL:
        issuer = _nth(chain, 1)
    if leaf == _NULL or issuer == _NULL:
        leaf = issuer = _NULL
    store = lib.SSL_CTX_get_cert_store(lib.SSL_get_SSL_CTX(ssl))
    return _inspect(der, leaf, issuer, store, chain, slack)


def status_callback(
    ssl: Any,
    conn: Connection | None,
    hooks: Hooks | None,
    park: Callable[[Connection | None, BaseException], None],
) -> int:
    """The body of ``py_ocsp_status_cb`` on either side (see the module docstring)."""
    if lib.SSL_is_server(ssl):
        source = hooks.ocsp_response if hooks is not None else None
        if source is None or conn is None:
            return _NOACK
        try:
            der = source(conn) if callable(source) else source
            if der is None:
                return _NOACK
            if not isinstance(der, (bytes, bytearray, memoryview)) or not len(der):
                raise TypeError(f"ocsp_response must give DER bytes or None, not {der!r}")
            raw = bytes(der)
            if not lib.ossl_set_ocsp_response(ssl, raw, len(raw)):
                raise MemoryError("SSL_set_tlsext_status_ocsp_resp failed")
        except OCSPRejected:
            return _FATAL
        except BaseException as exc:
            park(conn, exc)
            return _FATAL
        return _OK
    verify = hooks.ocsp_verify if hooks is not None else None
    if verify is None:
        return 1  # requested without a verifier: keep the staple for reading
    if conn is None:
        return 0
    try:
        accept = verify(conn, stapled(ssl))
        if not isinstance(accept, bool):
            raise TypeError(f"ocsp_verify must return a bool, not {accept!r}")
    except BaseException as exc:
        park(conn, exc)
        return 0
    return 1 if accept else 0
