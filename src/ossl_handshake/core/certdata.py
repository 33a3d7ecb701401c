"""Certificates, private keys, trust anchors and CRLs from memory (PEM or DER bytes).

The parsing is C (``glue/certdata.c``): PEM when the bytes hold a
``-----BEGIN`` header (every block, in order), otherwise DER (one object or
several concatenated). What is parsed is installed with the calls that take
objects instead of files:

- a certificate chain: ``SSL_CTX_use_certificate`` (the first certificate, the
  leaf), ``SSL_CTX_clear_chain_certs`` then ``SSL_CTX_add1_chain_cert`` for each
  of the others; per connection ``SSL_use_certificate`` / ``SSL_add1_chain_cert``;
- a private key: ``PEM_read_bio_PrivateKey`` (with the password callback that
  never prompts) or ``d2i_AutoPrivateKey``, then ``SSL_CTX_use_PrivateKey`` /
  ``SSL_use_PrivateKey`` and ``SSL_CTX_check_private_key`` / ``SSL_check_private_key``;
- trust anchors: ``X509_STORE_add_cert`` on ``SSL_CTX_get_cert_store``;
- CRLs: ``X509_STORE_add_crl``.

:func:`use_pair` is the one way a chain and its key are loaded: by
``Context.load_cert_chain`` (bytes), ``Connection.use_certificate`` and the
certificate callbacks' ``CertRequest.use`` (files read by :func:`read_pair`).

Bytes that hold no such object, or a damaged one, are a
:class:`~ossl_handshake.ConfigurationError` naming what was expected; a
value of the wrong type is a ``TypeError`` (``core/inputs.py``).
Every function here runs with the owner's guard held (it is handed the
``SSL_CTX *`` or ``SSL *``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.errors import ConfigurationError, drain, ensure
from ossl_handshake.core.inputs import cert_data
from ossl_handshake.core.keys import (
    _ERR_LIB_X509,
    _X509_R_KEY_VALUES_MISMATCH,
    key_error,
    load_with_password,
)

__all__ = [
    "add_ca_data",
    "add_crl_data",
    "read_data",
    "read_pair",
    "use_chain_data",
    "use_key_data",
    "use_pair",
]

_NULL = ffi.NULL
Password = str | bytes | Callable[[], "str | bytes"]


def read_data(value: object, what: str) -> bytes:
    """The bytes of ``value``: bytes-like as given, a path (str/PathLike) read from disk.

    A missing or unreadable file is a :class:`ConfigurationError` naming it.
    """
    if isinstance(value, (str, os.PathLike)):
        try:
            with open(value, "rb") as f:
                return cert_data(f.read(), what)
        except OSError as exc:
            raise ConfigurationError(f"cannot read {what} {value}: {exc.strerror}") from exc
    return cert_data(value, what)


def read_pair(cert: object, key: object) -> tuple[bytes, bytes, str]:
    """The bytes of a certificate chain and its key (:func:`read_data`; ``key``
    defaults to ``cert``), and the name errors give the key."""
    key_src = key if key is not None else cert
    name = f"key {key_src}" if isinstance(key_src, (str, os.PathLike)) else "key from memory"
    return read_data(cert, "cert"), read_data(key_src, "key"), name


def use_pair(
    target: Any,
    cert_raw: bytes,
    key_raw: bytes,
    password: Password | None,
    *,
    ssl: bool = False,
    name: str = "key",
) -> None:
    """:func:`use_chain_data` then :func:`use_key_data`: the one way a chain and key are loaded
    from bytes, into an ``SSL_CTX`` or (``ssl=True``) one ``SSL``."""
    use_chain_data(target, cert_raw, ssl=ssl)
    use_key_data(target, key_raw, password, ssl=ssl, name=name)


def _parse_chain(data: bytes, what: str) -> Any:
    lib.ossl_clear_errors()
    sk = lib.ossl_certs_from_data(data, len(data))
    if sk == _NULL:
        raise ConfigurationError(
            f"{what}: the bytes are not PEM or DER certificates",
            errors=drain(),
            operation="PEM_read_bio_X509/d2i_X509",
        )
    return ffi.gc(sk, lib.ossl_chain_free)


def _certs(sk: Any) -> list[Any]:
    stack = ffi.cast("OPENSSL_STACK *", sk)
    return [
        ffi.cast("X509 *", lib.OPENSSL_sk_value(stack, i)) for i in range(lib.OPENSSL_sk_num(stack))
    ]


def use_chain_data(target: Any, data: bytes, *, ssl: bool = False) -> None:
    """Install the leaf and chain in ``data`` on an ``SSL_CTX`` (or an ``SSL``: ``ssl=True``).

    The first certificate is the leaf (``SSL_[CTX_]use_certificate``); the
    others replace the chain (``SSL_[CTX_]clear_chain_certs``, then
    ``SSL_[CTX_]add1_chain_cert``, which takes its own reference of each).
    """
    sk = _parse_chain(data, "certificate")
    certs = _certs(sk)
    if ssl:
        # An SSL holds one certificate per key type, copied from its SSL_CTX:
        # without clearing them, the context's ECDSA one could still be chosen.
        lib.SSL_certs_clear(target)
    use, clear, add = (
        (lib.SSL_use_certificate, lib.SSL_clear_chain_certs, lib.SSL_add1_chain_cert)
        if ssl
        else (
            lib.SSL_CTX_use_certificate,
            lib.SSL_CTX_clear_chain_certs,
            lib.SSL_CTX_add1_chain_cert,
        )
    )
    ensure(use, target, certs[0], what="the certificate was refused")
    clear(target)
    for x in certs[1:]:
        ensure(add, target, x, what="a chain certificate was refused")


def use_key_data(
    target: Any, data: bytes, password: Password | None, *, ssl: bool = False, name: str = "key"
) -> None:
    """Parse the private key in ``data`` and install it (``SSL_[CTX_]use_PrivateKey``),
    then check it against the certificate (``SSL_[CTX_]check_private_key``).

    ``password`` as for files: a callable is called only when the key turns
    out to be encrypted.
    """
    key, pw, errors, given = load_with_password(
        lambda pw: lib.ossl_key_from_data(data, len(data), pw), password, lambda k: k == _NULL
    )
    if key == _NULL:
        err = key_error(pw, errors, given is not None, name.removeprefix("key "), "certificate")
        op = "PEM_read_bio_PrivateKey"  # key_error speaks of the file call
        err = ConfigurationError(
            err.message.replace("SSL_CTX_use_PrivateKey_file", op), errors=errors, operation=op
        )
        if not pw.asked and not pw.too_long:
            err = ConfigurationError(
                f"{name}: the bytes are not a PEM or DER private key",
                errors=errors,
                operation="PEM_read_bio_PrivateKey/d2i_AutoPrivateKey",
            )
        raise err
    key = ffi.gc(key, lib.EVP_PKEY_free)
    use, check = (
        (lib.SSL_use_PrivateKey, lib.SSL_check_private_key)
        if ssl
        else (lib.SSL_CTX_use_PrivateKey, lib.SSL_CTX_check_private_key)
    )
    try:
        ensure(use, target, key, what=f"{name} was refused")
    except ConfigurationError as exc:
        # 3.0 checks the key against the certificate inside the call.
        if any(
            e.library_code == _ERR_LIB_X509 and e.reason_code == _X509_R_KEY_VALUES_MISMATCH
            for e in exc.errors
        ):
            raise ConfigurationError(
                f"{name} does not match the certificate", errors=exc.errors, operation=exc.operation
            ) from None
        raise
    ensure(check, target, what=f"{name} does not match the certificate")


def add_ca_data(ctx: Any, data: bytes) -> int:
    """Add every certificate in ``data`` to the trust store (``X509_STORE_add_cert``).

    Returns how many were added.
    """
    sk = _parse_chain(data, "cadata")
    store = lib.SSL_CTX_get_cert_store(ctx)
    certs = _certs(sk)
    for x in certs:
        ensure(lib.X509_STORE_add_cert, store, x, what="a trust anchor was refused")
    return len(certs)


def add_crl_data(ctx: Any, data: bytes) -> int:
    """Add every CRL in ``data`` (PEM or DER) to the trust store (``X509_STORE_add_crl``).

    Returns how many were added. A CRL is consulted only with
    ``VerifyFlags.CRL_CHECK`` (leaf) or ``CRL_CHECK_ALL`` (every level).
    """
    lib.ossl_clear_errors()
    n = int(lib.ossl_store_add_crls(lib.SSL_CTX_get_cert_store(ctx), data, len(data)))
    if n < 0:
        raise ConfigurationError(
            "crl: the bytes are not PEM or DER CRLs",
            errors=drain(),
            operation="PEM_read_bio_X509_CRL/d2i_X509_CRL",
        )
    return n
