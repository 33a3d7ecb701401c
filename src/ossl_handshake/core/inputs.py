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


def path_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{what} must be a path (str or os.PathLike), not {type(value).__name__}")
    raw = os.fspath(value)
    if not isinstance(raw, str):
        raise TypeError(f"{what} must be a str path, not {type(raw).__name__}")
    no_nul(raw, what)
    p = Path(raw)
    if not p.exists():
        raise FileNotFoundError(f"{what}: no such file: {p}")
    if not p.is_file() and what != "capath":
        raise ValueError(f"{what}: not a regular file: {p}")
    return os.fsencode(p)


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
