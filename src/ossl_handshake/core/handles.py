"""Find the Python object that owns an ``SSL *`` or ``SSL_CTX *``.

Each owner stores an ``ffi.new_handle`` of a *weak* reference to itself in the
pointer's ex_data (``ossl_attach``/``ossl_set_ctx_handle``), so the handle never
keeps its owner alive and a collected owner reads as None. :class:`SharedGuard`
is the guard of the objects threads share (contexts, sessions).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.guard import Guard

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection
    from ossl_handshake.core.context import Context

P = ParamSpec("P")
T = TypeVar("T")


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


class SharedGuard:
    """A :class:`~ossl_handshake.core.guard.Guard` for an object many threads use at once.

    A :class:`~ossl_handshake.Context` or :class:`~ossl_handshake.Session`
    is meant to be shared: many threads create connections from one context
    at the same time. So where a connection's guard answers a second thread
    with ``BusyError``, here the second thread waits its turn (the calls
    are short: ``SSL_new``, a setter, a getter) and then goes through the
    guard, which still does the rest: a closed object raises
    ``ClosedError``, and :meth:`close` never frees under a call. A call made
    again on the thread that holds the turn (from a callback) goes straight
    to the guard: reads are allowed, anything else is ``BusyError``.
    """

    __slots__ = ("_holder", "_turn", "guard")

    def __init__(self, ptr: Any, what: str, free: Callable[[Any], None]) -> None:
        self.guard = Guard(ptr, what, free)
        self._turn = threading.Lock()
        self._holder: int | None = None

    @property
    def closed(self) -> bool:
        return self.guard.closed

    def run(self, fn: Callable[Concatenate[Any, P], T], *args: P.args, **kw: P.kwargs) -> T:
        """``fn(ptr, ...)`` under the guard, after the calls of other threads."""
        me = threading.get_ident()
        if self._holder == me:
            return self.guard.run(fn, *args, **kw)
        with self._turn:
            try:
                self._holder = me
                return self.guard.run(fn, *args, **kw)
            finally:
                self._holder = None

    def read(self, fn: Callable[Concatenate[Any, P], T], *args: P.args, **kw: P.kwargs) -> T:
        """Like :meth:`run`, and also allowed from a callback of this object's own call."""
        if self._holder == threading.get_ident():
            return self.guard.read(fn, *args, **kw)
        return self.run(fn, *args, **kw)

    def close(self) -> None:
        """:meth:`Guard.close`: waits for the call in progress, not for the queue."""
        self.guard.close()
