"""Find the Python object that owns an ``SSL *`` or ``SSL_CTX *``.

Each owner stores an ``ffi.new_handle`` of a *weak* reference to itself in the
pointer's ex_data (``ossl_attach``/``ossl_set_ctx_handle``), so the handle never
keeps its owner alive and a collected owner reads as None. :class:`SharedGuard`
is the guard of the objects threads share (contexts, sessions).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from ossl_handshake._native import ffi, lib

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection
    from ossl_handshake.core.context import Context


def connection_of(ssl: Any) -> Connection | None:
    """The live :class:`Connection` that owns ``ssl``, or None."""
    handle = lib.ossl_ssl_handle(ssl)
    if handle == ffi.NULL:
        return None
    ref: weakref.ref[Connection] = ffi.from_handle(handle)
    return ref()


def context_of(ctx: Any) -> Context | None:
    """The live :class:`Context` that owns ``ctx`` (an ``SSL_CTX *``), or None."""
    handle = lib.ossl_ctx_handle(ctx)
    if handle == ffi.NULL:
        return None
    ref: weakref.ref[Context] = ffi.from_handle(handle)
    return ref()
