"""``Guard``: the one way to touch an ``SSL *`` or ``SSL_CTX *`` (docs/architecture.md,
"Ownership and guards").

libssl objects and BIO pairs have no locking of their own, and ``free`` under a
running call is a use-after-free. So each owner (``Connection``, ``Context``)
keeps its pointer inside a ``Guard`` and reaches it only through
:meth:`Guard.run`, which hands the pointer to a function for the whole
operation:

1. **One caller at a time.** A second thread that arrives while a call is in
   progress gets :class:`~ossl_handshake.BusyError` at once (misuse is
   detected, not suffered); the rare caller that slips past that check in a
   race waits for the lock instead of sharing the pointer.
2. **Callbacks may read, not drive.** A Python callback that libssl runs inside
   a guarded call, on the same thread, may read the object
   (``run(..., reentrant=True)``, e.g. ``conn.state`` in ``on_info``); a call
   that would drive libssl again raises ``BusyError``.
3. **Close never frees under a call.** :meth:`close` marks the object closing,
   wakes waiters (a ``read()`` in poll raises ``ClosedError``), waits for the
   call in progress to return, then frees. From a callback of the object's own
   call it cannot wait for itself: the free happens when that call returns.
4. **No asynchronous exception can leave the guard held.** The lock is taken by
   the ``with`` statement (its ``__enter__`` is C: a signal handler that raises
   either runs before the lock is held or is unwound by ``__exit__``), and the
   owner mark is set and cleared inside the ``try``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from ossl_handshake._native import ffi
from ossl_handshake.core.errors import BusyError, ClosedError

P = ParamSpec("P")
T = TypeVar("T")

_get_ident = threading.get_ident


class Guard:
    """Owns one libssl pointer; :meth:`run` lends it out, :meth:`close` frees it once."""

    __slots__ = ("_closing", "_free", "_lock", "_owner", "_ptr", "_wakers", "what")

    def __init__(self, ptr: Any, what: str, free: Callable[[Any], None]) -> None:
        self._ptr = ptr
        self._free = free
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._closing = False
        self._wakers: list[Callable[[], None]] = []
        self.what = what

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (the free may still be pending)."""
        return self._closing or self._ptr == ffi.NULL

    @property
    def held_here(self) -> bool:
        """True inside a call of this guard on the current thread (a callback of it)."""
        return self._owner == _get_ident() and self._lock.locked()

    @property
    def in_call(self) -> bool:
        """True while some thread is inside :meth:`run`."""
        return self._lock.locked()

    def _check(self, reentrant: bool) -> bool:
        """Raise for a closed object or a conflicting caller; True for a re-entrant read."""
        if self._closing or self._ptr == ffi.NULL:
            raise ClosedError(f"{self.what} is closed")
        if self._owner == _get_ident() and self._lock.locked():
            if reentrant:
                return True
            raise BusyError(
                f"{self.what} re-entered from one of its own callbacks: "
                "a callback may read the object but not drive it"
            )
        if self._lock.locked():
            raise BusyError(f"{self.what} is in use by another thread")
        return False

    def run(
        self,
        fn: Callable[Concatenate[Any, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``fn(ptr, *args, **kwargs)`` with the pointer held for the whole call.

        The read-only variant is :meth:`read`.
        """
        self._check(False)
        return self._locked(fn, *args, **kwargs)

    def _locked(
        self,
        fn: Callable[Concatenate[Any, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        with self._lock:
            try:
                self._owner = _get_ident()
                ptr = self._ptr
                if self._closing or ptr == ffi.NULL:
                    raise ClosedError(f"{self.what} was closed while this call waited")
                return fn(ptr, *args, **kwargs)
            finally:
                self._owner = None
                if self._closing:
                    self._release()

    def read(
        self,
        fn: Callable[Concatenate[Any, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Like :meth:`run`, but also allowed from a callback of this object's own call."""
        if self._check(True):
            return fn(self._ptr, *args, **kwargs)
        return self._locked(fn, *args, **kwargs)

    def add_waker(self, wake: Callable[[], None]) -> None:
        """``wake()`` runs when :meth:`close` starts, before it waits (e.g. poll wake-up)."""
        self._wakers.append(wake)

    def close(self) -> None:
        """Free the pointer once no call uses it. Idempotent.

        Waits for a call in progress on another thread (memory BIOs and
        sockets with a timeout return at once; a blocking socket only when its
        call does). From a callback of this object's own call, the free
        happens when that call returns.
        """
        if self._ptr == ffi.NULL:
            return
        self._closing = True
        for wake in self._wakers:
            wake()
        if self._owner == _get_ident() and self._lock.locked():
            return  # our own call frees it on the way out (run's finally)
        with self._lock:
            self._release()

    def _release(self) -> None:
        """Free under the lock (callers hold it)."""
        ptr, self._ptr = self._ptr, ffi.NULL
        self._closing = True
        if ptr != ffi.NULL:
            self._free(ptr)


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


def run_both(
    first: Guard,
    second: Guard,
    fn: Callable[[Any, Any], T],
) -> T:
    """``fn(first_ptr, second_ptr)`` holding both guards, taken in a fixed order.

    The order (by ``id``) means two threads moving bytes in opposite
    directions between the same two connections cannot deadlock.
    """
    if first is second:
        raise ValueError(f"{first.what}: both guards are the same object")
    a, b = (first, second) if id(first) < id(second) else (second, first)

    def inner(pa: Any) -> T:
        def both(pb: Any) -> T:
            return fn(pa, pb) if a is first else fn(pb, pa)

        return b.run(both)

    return a.run(inner)
