"""Loading private keys, with a password or none, without OpenSSL ever prompting.

The C password callback installed on every ``SSL_CTX`` (``ossl_ctx_init``)
hands OpenSSL the password given for this one load, and with none fails at
once instead of reading the terminal.
"""

from __future__ import annotations

from typing import Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.errors import ConfigurationError, ErrorRecord, drain

_ERR_LIB_X509 = 11
_X509_R_KEY_VALUES_MISMATCH = 116


def password_bytes(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"password must be str or bytes (or a callable returning one), not {value!r}")


def load_key(ctx: Any, key_b: bytes, password: object) -> tuple[int, Any, tuple[ErrorRecord, ...]]:
    """``ossl_ctx_use_key_file`` with ``password`` for this load only:
    (return value, the ``ossl_password`` OpenSSL was handed, drained errors)."""
    pw = ffi.new("ossl_password *")
    buf = None
    if password is not None:
        raw = password_bytes(password)
        buf = ffi.new("char[]", raw)
        pw.pw, pw.len = buf, len(raw)
    lib.ossl_clear_errors()
    try:
        ret = int(lib.ossl_ctx_use_key_file(ctx, key_b, pw))
    finally:
        if buf is not None:
            ffi.memmove(buf, b"\x00" * len(buf), len(buf))  # do not keep it around
    errors = drain() if ret != 1 else ()
    return ret, pw, errors


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
