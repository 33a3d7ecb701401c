"""Loading private keys, with a password or none, without OpenSSL ever prompting.

The C password callback installed on every ``SSL_CTX`` (``ossl_ctx_init``)
hands OpenSSL the password given for this one load, and with none fails at
once instead of reading the terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.errors import ConfigurationError, ErrorRecord, drain

_T = TypeVar("_T")

_ERR_LIB_X509 = 11
_X509_R_KEY_VALUES_MISMATCH = 116


def password_bytes(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"password must be str or bytes (or a callable returning one), not {value!r}")


def _load_once(
    call: Callable[[Any], _T], password: object, failed: Callable[[_T], bool]
) -> tuple[_T, Any, tuple[ErrorRecord, ...]]:
    pw = ffi.new("ossl_password *")
    buf = None
    if password is not None:
        raw = password_bytes(password)
        buf = ffi.new("char[]", raw)
        pw.pw, pw.len = buf, len(raw)
    lib.ossl_clear_errors()
    try:
        ret = call(pw)
    finally:
        if buf is not None:
            ffi.memmove(buf, b"\x00" * len(buf), len(buf))  # do not keep it around
    errors = drain() if failed(ret) else ()
    return ret, pw, errors


def load_with_password(
    call: Callable[[Any], _T], password: object, failed: Callable[[_T], bool]
) -> tuple[_T, Any, tuple[ErrorRecord, ...], object]:
    """``call(pw)`` with ``password`` in the ``ossl_password`` for this load only.

    A callable ``password`` is called only when the first try (with none)
    shows the key is encrypted, then the load is tried again. Returns (the
    call's result, the ``ossl_password`` OpenSSL was handed, the errors
    drained when ``failed(result)``, the password given or None).
    """
    given = None if callable(password) else password
    ret, pw, errors = _load_once(call, given, failed)
    if failed(ret) and pw.asked and not pw.too_long and callable(password):
        given = password()  # the key is encrypted: now ask
        ret, pw, errors = _load_once(call, password_bytes(given), failed)
    return ret, pw, errors, given


def load_key(
    ctx: Any, key_b: bytes, password: object
) -> tuple[int, Any, tuple[ErrorRecord, ...], object]:
    """``ossl_ctx_use_key_file`` through :func:`load_with_password`."""
    return load_with_password(
        lambda pw: int(lib.ossl_ctx_use_key_file(ctx, key_b, pw)), password, lambda r: r != 1
    )


def key_error(
    pw: Any, errors: tuple[ErrorRecord, ...], given: bool, key: object, cert: object
) -> ConfigurationError:
    op = "SSL_CTX_use_PrivateKey_file"
    if pw.too_long:
        why = f"the password for {key} is longer than OpenSSL accepts"
    elif pw.asked and not given:
        why = f"key {key} is encrypted: pass password= to load it"
    elif pw.asked:
        why = f"wrong password for key {key} (or the key is damaged)"
    elif any(
        # 3.0 checks the key against the certificate inside this call
        # (X509_check_private_key): X509 "key values mismatch".
        e.library_code == _ERR_LIB_X509 and e.reason_code == _X509_R_KEY_VALUES_MISMATCH
        for e in errors
    ):
        why = f"key {key} does not match certificate {cert}"
    else:
        why = f"cannot load {key}"
    return ConfigurationError(f"{op} failed: {why}", errors=errors, operation=op)
