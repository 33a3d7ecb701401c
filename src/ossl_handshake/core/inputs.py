"""Checks of what callers hand to C: the one place for each input rule.

A str for C has no NUL (C would cut it there) and is ASCII where OpenSSL
expects ASCII; an int is range-checked here rather than by cffi (whose
``OverflowError`` names no argument); a bytes-like object is counted in bytes;
a pointer to adopt is checked for what can be told from its value
(docs/architecture.md, rule 9).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ossl_handshake._native import LOADED_FILES, ffi, lib, text


def no_nul(value: str, what: str) -> None:
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL character (C would cut it there): {value!r}")


def c_string(value: object, what: str) -> bytes:
    """The one conversion of a str for C: ``TypeError`` unless a str, ``ValueError``
    for a NUL anywhere (the C string would end there) or non-ASCII text."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    no_nul(value, what)
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"{what} must be ASCII: {value!r}") from None


def c_list(value: object, what: str) -> bytes:
    """A colon-separated OpenSSL list from a str or an iterable of str."""
    if isinstance(value, str):
        return c_string(value, what)
    if isinstance(value, (bytes, bytearray)) or not isinstance(value, Iterable):
        raise TypeError(f"{what} must be a str or a list of str, not {type(value).__name__}")
    items = list(value)
    for item in items:
        c_string(item, what)
    return c_string(":".join(items), what)


def c_int(value: object, what: str, low: int, high: int) -> int:
    """An int for C, checked here instead of by cffi (a bare ``OverflowError``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{what} must be in {low}..{high}, not {value!r}")
    return int(value)


def _str_path(value: object, what: str) -> str:
    """A str path (str or os.PathLike of str) without NUL."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{what} must be a path (str or os.PathLike), not {type(value).__name__}")
    raw = os.fspath(value)
    if not isinstance(raw, str):
        raise TypeError(f"{what} must be a str path, not {type(raw).__name__}")
    no_nul(raw, what)
    return raw


def path_bytes(value: object, what: str) -> bytes:
    raw = _str_path(value, what)
    p = Path(raw)
    if not p.exists():
        raise FileNotFoundError(f"{what}: no such file: {p}")
    if not p.is_file() and what != "capath":
        raise ValueError(f"{what}: not a regular file: {p}")
    return os.fsencode(p)


def dir_bytes(value: object, what: str) -> bytes:
    """An existing directory's path as bytes (a provider search path)."""
    raw = _str_path(value, what)
    if not Path(raw).is_dir():
        raise NotADirectoryError(f"{what}: no such directory: {raw}")
    return os.fsencode(raw)


def check_timeout(value: object) -> float | None:
    """A socket timeout as ``socket.settimeout`` takes it: None, or finite seconds ≥ 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"timeout must be None or a number of seconds, not {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"timeout must be finite and >= 0 (or None), not {value!r}")
    return seconds


def check_seconds(value: object, what: str) -> float:
    """A duration that must be given: finite seconds > 0 (a proxy's deadline, gap, idle)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{what} must be finite and > 0, not {value!r}")
    return seconds


def check_address(value: object, what: str) -> tuple[str, int]:
    """A TCP address ``(host, port)``, or ``"host:port"`` (``[v6]:port``), port 0..65535."""
    if isinstance(value, str):
        host, sep, port_text = value.rpartition(":")
        if not sep or not host or not port_text.isdigit():
            raise ValueError(f"{what} must be HOST:PORT, not {value!r}")
        value = (host.removeprefix("[").removesuffix("]"), int(port_text))
    if not isinstance(value, tuple) or len(value) != 2:
        raise TypeError(f"{what} must be a (host, port) tuple or 'HOST:PORT', not {value!r}")
    host, port = value
    if not isinstance(host, str) or not host:
        raise TypeError(f"{what}: host must be a non-empty str, not {host!r}")
    no_nul(host, what)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"{what}: port must be an int in 0..65535, not {port!r}")
    return host, port


#: The PEM label of DHE parameters (``openssl dhparam``, ``openssl genpkey -genparam``).
_DH_PEM_LABEL = b"-----BEGIN DH PARAMETERS-----"


def dh_params_pem(value: object) -> bytes | None:
    """``Context.set_dh_params``'s argument: None for ``"auto"``, else the PEM text.

    ``"auto"``; a path (str or os.PathLike) to a PEM file; or the PEM bytes
    themselves. A file or bytes without a ``DH PARAMETERS`` block is a
    ``ValueError`` naming what was given, before any C call.
    """
    if value == "auto":
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        pem, where = bytes(value), "dh_params bytes"
    elif isinstance(value, (str, os.PathLike)):
        where = f"dh_params file {os.fspath(value)!r}"
        pem = Path(os.fsdecode(path_bytes(value, "dh_params"))).read_bytes()
    else:
        raise TypeError(
            f"dh_params must be 'auto', a PEM file path or PEM bytes, not {type(value).__name__}"
        )
    if _DH_PEM_LABEL not in pem:
        raise ValueError(f"{where}: no {_DH_PEM_LABEL.decode()} block")
    if len(pem) > 1 << 20:
        raise ValueError(f"{where}: larger than 1 MiB, not DH parameters")
    return pem


def take_bytes(data: object) -> memoryview:
    """A bytes-like ``data`` as a flat byte view (``nbytes`` long), or TypeError/ValueError.

    ``len()`` of a memoryview counts items, not bytes (``array('I')``): the
    view is cast to unsigned bytes so that every count is a byte count.
    """
    if isinstance(data, str):
        raise TypeError("data must be bytes-like, not str (encode it first)")
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"data must be bytes-like, not {type(data).__name__}") from None
    if not view.c_contiguous:
        raise ValueError("data must be a contiguous buffer")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def cert_data(value: object, what: str) -> bytes:
    """PEM or DER bytes of a certificate, key, CA or CRL (bytes-like, not empty, < 2 GiB).

    A ``str`` is refused (``TypeError``): it would be a path elsewhere, and
    PEM text is passed as ``bytes``.
    """
    if isinstance(value, str):
        raise TypeError(f"{what} data must be bytes (PEM or DER), not str")
    view = take_bytes(value)
    if view.nbytes == 0:
        raise ValueError(f"{what} data is empty")
    if view.nbytes >= 1 << 31:
        raise ValueError(f"{what} data is larger than OpenSSL's int length")
    return view.tobytes()


def take_writable(buffer: object, what: str) -> memoryview:
    """A writable bytes-like ``buffer`` as a flat byte view, or TypeError/ValueError."""
    try:
        view = memoryview(buffer)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be a writable buffer, not {type(buffer).__name__}") from None
    if view.readonly:
        raise TypeError(f"{what} must be writable (a bytearray or memoryview), not read-only")
    if not view.c_contiguous:
        raise ValueError(f"{what} must be a contiguous buffer")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


#: cdata pointer types :func:`as_pointer` accepts for each target type (a
#: foreign cffi module may spell the typedef out as its struct).
_POINTER_ALIASES = {
    "SSL *": {"SSL *", "struct ssl_st *", "void *"},
    "SSL_CTX *": {"SSL_CTX *", "struct ssl_ctx_st *", "void *"},
}
_ADDRESS_LIMIT = 1 << (8 * ffi.sizeof("void *"))
_POINTER_ALIGN = ffi.alignof("void *")


def _same_libssl(ptr: Any, ctype: str) -> Any:
    """``ptr``, unless the object was made by another libssl than ours (it would crash us).

    ``ossl_object_libssl`` (glue/compat.c) finds the libssl its SSL_METHOD
    belongs to; an object whose origin cannot be told is let through.
    """
    origin = text(lib.ossl_object_libssl(ptr))
    ours = LOADED_FILES[0]
    if origin and ours and os.path.realpath(origin) != os.path.realpath(ours):
        raise ValueError(
            f"this {ctype} was made by {origin}, not by {ours}, the libssl ossl_handshake "
            "uses: build the code that made it against the same OpenSSL (OPENSSL_DIR)"
        )
    return ptr


def as_pointer(pointer: Any, ctype: str) -> Any:
    # Only what can be told from the value itself is checked: a freed or
    # foreign pointer of the right type cannot be detected (undefined behaviour).
    if isinstance(pointer, int) and not isinstance(pointer, bool):
        if pointer == 0:
            raise ValueError(f"cannot adopt a NULL {ctype}")
        if not 4096 <= pointer < _ADDRESS_LIMIT or pointer % _POINTER_ALIGN:
            raise ValueError(f"{pointer:#x} is not a valid {ctype} address")
        return _same_libssl(ffi.cast(ctype, pointer), ctype)
    if isinstance(pointer, ffi.CData):
        if pointer == ffi.NULL:
            raise ValueError(f"cannot adopt a NULL {ctype}")
        cname = ffi.typeof(pointer).cname
        allowed = _POINTER_ALIASES.get(ctype, {ctype, "void *"})
        if cname not in allowed and cname not in ("uintptr_t", "intptr_t"):
            raise TypeError(f"expected {ctype} cdata, not {cname}")
        return _same_libssl(ffi.cast(ctype, pointer), ctype)
    raise TypeError(f"expected a cffi pointer or an integer address, not {type(pointer).__name__}")


def check_callable(fn: object, what: str) -> None:
    """A callback argument: a callable or None (``TypeError`` otherwise)."""
    if fn is not None and not callable(fn):
        raise TypeError(f"{what} must be callable or None, not {fn!r}")


# --- beyond the first handshake (exporters, PSK, early data) ---


def exporter_label(value: object) -> bytes:
    """An exporter label (RFC 5705): ASCII text (str or bytes), non-empty, no NUL.

    ``SSL_export_keying_material`` takes the label's length, so a NUL would
    not cut it; it is refused anyway: labels are registered ASCII strings.
    """
    if isinstance(value, str):
        if not value.isascii():
            raise ValueError(f"label must be ASCII: {value!r}")
        value = value.encode("ascii")
    raw = value
    if not isinstance(raw, bytes):
        raise TypeError(f"label must be a str or bytes, not {type(value).__name__}")
    if not raw:
        raise ValueError("label must not be empty")
    if b"\x00" in raw or not raw.isascii():
        raise ValueError(f"label must be ASCII text without NUL: {value!r}")
    return raw


def psk_bytes(value: object, what: str, *, low: int = 1, high: int = 256) -> bytes:
    """A PSK identity or key as bytes (a str identity is UTF-8), ``low``..``high`` bytes long."""
    if isinstance(value, str):
        no_nul(value, what)
        value = value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
    if not isinstance(value, bytes):
        raise TypeError(f"{what} must be bytes or str, not {type(value).__name__}")
    if not low <= len(value) <= high:
        raise ValueError(f"{what} must be {low}..{high} bytes, not {len(value)}")
    return value
