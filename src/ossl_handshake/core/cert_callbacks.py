"""Certificate callbacks: choose a certificate per connection, or pause while choosing.

- ``SSL_CTX_set_cert_cb`` (both roles; SSL_CTX_set_cert_cb(3)): libssl calls
  it on a server after the ClientHello was processed, before it picks the
  certificate, and on a client when the server asked for one. The Python
  callable ``fn(request)`` gets a :class:`CertRequest`, may load a
  certificate with :meth:`CertRequest.use` (``SSL_use_certificate`` +
  ``SSL_use_PrivateKey``, as ``Connection.use_certificate``), and returns
  None/True (go on: 1), False (fail: 0, an ``internal_error`` alert) or
  :data:`~ossl_handshake.core.pauses.PAUSE` (-1:
  ``SSL_ERROR_WANT_X509_LOOKUP``, a :class:`CertPause`).
- ``SSL_CTX_set_client_cert_cb`` (clients; SSL_CTX_set_client_cert_cb(3)):
  called when the server asked for a certificate and none is configured.
  ``fn(request)`` returns a certificate (an :class:`~ossl_handshake.certs.Identity`
  or a ``(cert, key)`` pair of PEM paths: libssl takes the loaded ``X509``
  and ``EVP_PKEY``), None (send none) or PAUSE (-1:
  ``SSL_ERROR_WANT_X509_LOOKUP``, a :class:`ClientCertPause`).

An exception fails the handshake and is re-raised as
:class:`~ossl_handshake.CallbackError`. Encrypted keys are not loaded here
(no password is asked for): load those into the :class:`Context`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core import certdata, pauses
from ossl_handshake.core.ca_lists import ca_names_of
from ossl_handshake.core.callbacks import hook_of, park
from ossl_handshake.core.errors import ConfigurationError, ErrorCode, drain
from ossl_handshake.core.inputs import path_bytes

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection
    from ossl_handshake.tls.roles import Role

#: ``(request) -> None | bool | PAUSE`` for ``SSL_CTX_set_cert_cb``.
CertCallback = Callable[["CertRequest"], Any]
#: ``(request) -> Identity | (cert, key) | None | PAUSE`` for ``SSL_CTX_set_client_cert_cb``.
ClientCertCallback = Callable[["CertRequest"], Any]
#: A certificate answer: an object with ``cert`` and ``key`` paths, or a ``(cert, key)`` pair.
CertAnswer = Any

__all__ = [
    "CertCallback",
    "CertPause",
    "CertRequest",
    "ClientCertCallback",
    "ClientCertPause",
    "cert_paths",
]

_NULL = ffi.NULL


def cert_paths(answer: CertAnswer, key: Any = None) -> tuple[bytes, bytes]:
    """``(cert, key)`` file names from an Identity-like object, a pair, or a cert and key.

    The key defaults to the certificate file (a PEM holding both).
    """
    if key is None and hasattr(answer, "cert") and hasattr(answer, "key"):
        answer, key = answer.cert, answer.key
    elif key is None and isinstance(answer, tuple):
        if len(answer) != 2:
            raise TypeError(f"a certificate pair is (cert, key), not {answer!r}")
        answer, key = answer
    if not isinstance(answer, (str, os.PathLike)):
        raise TypeError(f"cert must be a path, a (cert, key) pair or an Identity, not {answer!r}")
    return path_bytes(answer, "cert"), path_bytes(key if key is not None else answer, "key")


class CertRequest:
    """What a certificate callback is told, and what it may do.

    ``connection`` and ``role`` are the side asked; ``server_name`` the SNI
    name a server received (``SSL_get_servername``); ``ca_names`` the CA
    names a client was sent (``SSL_get_client_CA_list``). Valid only during
    the call.
    """

    def __init__(self, conn: Connection, ssl: Any) -> None:
        self.connection = conn
        self.role: Role = conn.role
        self._ssl = ssl
        p = lib.SSL_get_servername(ssl, 0)
        self.server_name = ffi.string(p).decode("utf-8", "replace") if p != _NULL else None
        self.ca_names = ca_names_of(ssl)
        self.used: Path | None = None

    def use(self, cert: CertAnswer, key: Any = None) -> None:
        """Load a certificate chain and key for this connection only.

        ``SSL_certs_clear`` then ``SSL_use_certificate`` + ``SSL_add1_chain_cert``
        + ``SSL_use_PrivateKey`` (PEM or DER files, as :meth:`Connection.use_certificate
        <ossl_handshake.Connection.use_certificate>`) + ``SSL_check_private_key``
        (SSL_CTX_use_certificate(3)): the certificates the context gave this
        ``SSL`` are dropped first (OpenSSL keeps one per key type and would
        otherwise still choose among them). A bad file or a key that does
        not match is a :class:`~ossl_handshake.ConfigurationError` (the
        callback then fails the handshake, re-raised as ``CallbackError``).
        """
        if self._ssl is None:
            raise RuntimeError("CertRequest.use() is only valid during the callback")
        cert_b, key_b = cert_paths(cert, key)
        use_files(self._ssl, cert_b, key_b)
        self.used = Path(os.fsdecode(cert_b))


def use_files(ssl: Any, cert_b: bytes, key_b: bytes) -> None:
    """The loads of :meth:`CertRequest.use`, on an ``SSL`` inside its callback.

    The same path as :meth:`Connection.use_certificate
    <ossl_handshake.Connection.use_certificate>` (:mod:`ossl_handshake.core.certdata`):
    ``SSL_certs_clear``, ``SSL_use_certificate`` + ``SSL_add1_chain_cert``,
    ``SSL_use_PrivateKey``, ``SSL_check_private_key``; no password.
    """
    cert_raw, key_raw, name = certdata.read_pair(os.fsdecode(cert_b), os.fsdecode(key_b))
    certdata.use_pair(ssl, cert_raw, key_raw, None, ssl=True, name=name)


class CertPause(pauses.Pause, kind=ErrorCode.WANT_X509_LOOKUP):
    """The ``SSL_CTX_set_cert_cb`` callback paused (returned -1).

    ``resume()`` runs the callback again; ``resume(cert=..., key=...)``
    loads that certificate and goes on; ``resume(use_context=True)`` goes on
    with the context's certificate; ``resume(fail=True)`` fails the handshake.
    """

    callback = "cert"

    def _check(self, answer: dict[str, Any]) -> dict[str, Any]:
        extra = set(answer) - {"cert", "key", "use_context", "fail"}
        if extra:
            raise TypeError(f"CertPause.resume() got unexpected {sorted(extra)}")
        if "cert" in answer:
            answer["paths"] = cert_paths(answer.pop("cert"), answer.pop("key", None))
        elif "key" in answer:
            raise TypeError("key= needs cert=")
        return answer


class ClientCertPause(pauses.Pause, kind=ErrorCode.WANT_X509_LOOKUP):
    """The client-certificate callback paused (returned -1).

    ``resume()`` runs the callback again; ``resume(cert=..., key=...)`` sends
    that certificate; ``resume(cert=None)`` sends none.
    """

    callback = "client_cert"

    def _check(self, answer: dict[str, Any]) -> dict[str, Any]:
        extra = set(answer) - {"cert", "key"}
        if extra:
            raise TypeError(f"ClientCertPause.resume() got unexpected {sorted(extra)}")
        if "cert" not in answer and answer:
            raise TypeError("key= needs cert=")
        if answer:
            cert = answer.pop("cert")
            answer["paths"] = None if cert is None else cert_paths(cert, answer.pop("key", None))
        return answer


def _cert_result(result: object) -> int:
    if result is None or result is True:
        return 1
    if result is False:
        return 0
    raise TypeError(f"cert_callback must return None, a bool or PAUSE, not {result!r}")


def _run_hook(
    ssl: Any,
    callback: str,
    pause: type[pauses.Pause],
    answered: Callable[[dict[str, Any]], int],
    returned: Callable[[object], int],
) -> int:
    """The two certificate callbacks' common path: a resumed pause's answer
    (``answered``), an automatic or asked-for pause (-1), or the Python
    callable's result (``returned``); an exception is parked (0)."""
    conn, fn = hook_of(ssl, callback)
    if fn is None or conn is None:
        return 0
    request = CertRequest(conn, ssl)
    try:
        status, answer = pauses.consult(conn, callback)
        if status is pauses.Consult.WAITING:
            return -1
        if status is pauses.Consult.ANSWERED:
            return answered(answer)
        if pauses.auto_pause(conn, callback):
            pauses.begin(conn, pause(conn, auto=True))
            return -1
        result = fn(request)
        if result is pauses.PAUSE:
            pauses.begin(conn, pause(conn))
            return -1
        return returned(result)
    except BaseException as exc:  # parked, re-raised by step()
        park(conn, exc)
        return 0
    finally:
        request._ssl = None


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_cert_cb(ssl: Any, arg: Any) -> int:
    """``SSL_CTX_set_cert_cb``: 1 go on, 0 fail, -1 retry (``WANT_X509_LOOKUP``)."""

    def answered(answer: dict[str, Any]) -> int:
        if answer.get("fail"):
            return 0
        if "paths" in answer:
            use_files(ssl, *answer["paths"])
        return 1

    return _run_hook(ssl, "cert", CertPause, answered, _cert_result)


def _hand_over(ssl: Any, x509: Any, pkey: Any, paths: tuple[bytes, bytes]) -> int:
    """Load the pair into libssl's out-parameters (it takes ownership): 1, or raise.

    The callback can only return a leaf, so the chain file is first loaded
    into the ``SSL`` too (:func:`use_files`): libssl's ``SSL_use_certificate``
    of the same leaf afterwards keeps the intermediates.
    """
    use_files(ssl, *paths)
    if lib.ossl_load_cert_key(paths[0], paths[1], x509, pkey) != 1:
        raise ConfigurationError(
            f"cannot load certificate {os.fsdecode(paths[0])} with key {os.fsdecode(paths[1])}",
            errors=drain(),
            operation="PEM_read_bio_X509/PEM_read_bio_PrivateKey",
        )
    return 1


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_client_cert_cb(ssl: Any, x509: Any, pkey: Any) -> int:
    """``SSL_CTX_set_client_cert_cb``: 1 with a pair, 0 for none, -1 retry."""

    def answered(answer: dict[str, Any]) -> int:
        paths = answer["paths"]
        return 0 if paths is None else _hand_over(ssl, x509, pkey, paths)

    def returned(result: object) -> int:
        return 0 if result is None else _hand_over(ssl, x509, pkey, cert_paths(result))

    return _run_hook(ssl, "client_cert", ClientCertPause, answered, returned)
