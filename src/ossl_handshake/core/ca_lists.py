"""CA name lists of client authentication (the ``certificate_authorities`` a server sends).

A server's CertificateRequest lists the CA names it accepts
(``SSL_CTX_set_client_CA_list``); a client reads what arrived with
``SSL_get_client_CA_list`` (SSL_get_client_CA_list(3)). Reading runs under
the connection's guard (``Guard.read``, so a callback may read it); setting
runs under the context's.
"""

from __future__ import annotations

import os
import ssl as _stdlib_ssl
from pathlib import Path
from typing import Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.errors import ConfigurationError, drain, ensure
from ossl_handshake.core.inputs import path_bytes
from ossl_handshake.core.x509 import x509_name

_NULL = ffi.NULL


def names_of_stack(sk: Any) -> list[str]:
    """RFC 2253 texts of a ``STACK_OF(X509_NAME)`` (borrowed, not freed)."""
    stack = ffi.cast("OPENSSL_STACK *", sk)
    return [
        x509_name(ffi.cast("X509_NAME *", lib.OPENSSL_sk_value(stack, i)))
        for i in range(int(lib.OPENSSL_sk_num(stack)))
    ]


def ca_names_of(ssl: Any) -> list[str] | None:
    """``SSL_get_client_CA_list``: None when there is no list (NULL), else its names.

    On a client: the names of the server's CertificateRequest (an empty
    list when it sent none, or None before one arrived, depending on the
    version); on a server: the list it will send (its own, else its
    ``SSL_CTX``'s).
    """
    sk = lib.SSL_get_client_CA_list(ssl)
    if sk == _NULL:
        return None
    return names_of_stack(sk)


def load_ca_file(path: str | os.PathLike[str]) -> Any:
    """``SSL_load_client_CA_file``: the subjects of a PEM file as a new stack.

    A file with no certificate, or none readable, is a :class:`ConfigurationError`.
    """
    raw = path_bytes(path, "CA list file")
    sk = lib.SSL_load_client_CA_file(raw)
    errors = drain()
    if sk == _NULL:
        raise ConfigurationError(
            f"SSL_load_client_CA_file failed: no certificate names in {path}",
            errors=errors,
            operation="SSL_load_client_CA_file",
        )
    return sk


def set_ca_list(ctx: Any, names: list[str | os.PathLike[str]] | None) -> None:
    """``SSL_CTX_set_client_CA_list`` from PEM files (their subjects); ``[]`` sends an
    empty list. The stacks made here are handed to OpenSSL (it frees them)."""
    if not names:
        lib.SSL_CTX_set_client_CA_list(ctx, lib.OPENSSL_sk_new_null())
        return
    first, *rest = names
    lib.SSL_CTX_set_client_CA_list(ctx, load_ca_file(first))
    for extra in rest:
        for der in _pem_certificates(extra):
            add_ca_der(ctx, der)


def _pem_certificates(path: str | os.PathLike[str]) -> list[bytes]:
    """The DER of every certificate in a PEM file."""
    try:
        text = Path(path).read_text("ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read CA file {path}: {exc}") from exc
    end = "-----END CERTIFICATE-----"
    blocks = [b + end for b in text.split(end) if "-----BEGIN CERTIFICATE-----" in b]
    if not blocks:
        raise ConfigurationError(f"no certificate in {path}")
    return [_stdlib_ssl.PEM_cert_to_DER_cert(b[b.index("-----BEGIN") :]) for b in blocks]


def add_ca_der(ctx: Any, der: bytes) -> None:
    """``SSL_CTX_add_client_CA`` with the subject of one DER certificate."""
    buf = ffi.new("unsigned char[]", der)
    pp = ffi.new("const unsigned char **", buf)
    x509 = lib.d2i_X509(_NULL, pp, len(der))
    if x509 == _NULL:
        raise ConfigurationError("not a DER certificate", errors=drain(), operation="d2i_X509")
    try:
        ensure(lib.SSL_CTX_add_client_CA, ctx, x509, operation="SSL_CTX_add_client_CA")
    finally:
        lib.X509_free(x509)
