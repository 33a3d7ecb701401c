"""Asynchronous crypto jobs (``SSL_MODE_ASYNC``) and the library contexts they run in.

With ``SSL_MODE_ASYNC`` set, libssl runs each handshake call inside an
``ASYNC_JOB`` (ASYNC_start_job(3)); a provider (or, before 3.0, an engine)
whose operation calls ``ASYNC_pause_job()`` suspends the job and the call
returns ``SSL_ERROR_WANT_ASYNC``: the application waits on the job's fds
(:func:`all_fds`) and calls the same operation again, which resumes the job
where it paused. When the thread's job pool (:func:`init_thread`) has no job
left the call returns ``SSL_ERROR_WANT_ASYNC_JOB`` (SSL_get_error(3)).

A provider is chosen per context: :class:`LibraryContext` is an
``OSSL_LIB_CTX`` of its own with the providers loaded into it, and
``Context(library=..., propquery=...)`` makes its ``SSL_CTX`` there
(``SSL_CTX_new_ex``), so a test provider never serves other contexts.

Library contexts live until the process exits: an ``SSL_CTX``, a session's
certificates and keys keep pointers into their library context and its
providers without a reference count, so freeing one while anything made in it
lives is a use-after-free. OpenSSL makes a library context safe to use from
several threads at once (OSSL_LIB_CTX(3)), so it needs no guard.
"""

from __future__ import annotations

import enum
import threading
from os import PathLike, fspath
from typing import TYPE_CHECKING, Any, ClassVar

from ossl_handshake._native import FEATURES, ffi, lib
from ossl_handshake.core.errors import ConfigurationError, ErrorCode, drain
from ossl_handshake.core.inputs import c_int, c_string, dir_bytes
from ossl_handshake.core.pauses import KINDS, Pause

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection
    from ossl_handshake.core.step import Step

__all__ = [
    "AsyncJobPause",
    "AsyncPause",
    "AsyncStatus",
    "LibraryContext",
    "init_thread",
]

_NULL = ffi.NULL
#: More async fds than any engine or provider sets per job; ``all_fds`` asks again if not.
_FDS = 16
#: The upper bound ASYNC_init_thread's sizes are checked against (a size_t pool size).
_MAX_POOL = 1 << 20


def _need_providers(what: str) -> None:
    if not FEATURES["providers"]:
        raise ConfigurationError(
            f"{what} needs OpenSSL 3.0 or later (no providers or library contexts before)",
            operation="OSSL_LIB_CTX_new",
        )


class LibraryContext:
    """An ``OSSL_LIB_CTX`` (``OSSL_LIB_CTX_new``, OpenSSL 3.0+) and the providers loaded into it.

    ``search_path`` sets where :meth:`load_provider` finds provider modules
    (``OSSL_PROVIDER_set_default_search_path``; by default OpenSSL's
    ``MODULESDIR``). A new library context has no provider: load
    ``"default"`` for the algorithms of OpenSSL's default provider. Kept
    until the process exits (module docstring).
    """

    _alive: ClassVar[list[LibraryContext]] = []
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, *, search_path: str | PathLike[str] | None = None) -> None:
        _need_providers("LibraryContext")
        path = dir_bytes(search_path, "search_path") if search_path is not None else None
        ptr = lib.ossl_libctx_new()
        if ptr == _NULL:
            raise ConfigurationError(
                "OSSL_LIB_CTX_new failed", errors=drain(), operation="OSSL_LIB_CTX_new"
            )
        self._ptr = ptr
        self.providers: tuple[str, ...] = ()
        with LibraryContext._lock:
            LibraryContext._alive.append(self)
        if path is not None and not lib.ossl_libctx_search_path(ptr, path):
            raise ConfigurationError(
                f"cannot set the provider search path to {fspath(search_path or '')!r}",
                errors=drain(),
                operation="OSSL_PROVIDER_set_default_search_path",
            )

    @property
    def ptr(self) -> Any:
        """The ``OSSL_LIB_CTX *`` (cffi ``void *``), valid until the process exits."""
        return self._ptr

    def load_provider(self, name: str) -> None:
        """``OSSL_PROVIDER_load``: load and activate provider ``name`` in this context.

        ``name`` is a built-in provider (``default``, ``base``, ``legacy``,
        ``null``) or a module file ``<name>.so`` in the search path. A failure
        raises :class:`ConfigurationError` with the queue (e.g. "unable to
        load provider" / "name=..."); a provider stays loaded for good.
        """
        raw = c_string(name, "name")
        with LibraryContext._lock:
            if lib.ossl_provider_load(self._ptr, raw) == _NULL:
                raise ConfigurationError(
                    f"cannot load provider {name!r}",
                    errors=drain(),
                    operation="OSSL_PROVIDER_load",
                )
            self.providers = (*self.providers, name)

    def __repr__(self) -> str:
        return f"<LibraryContext providers={list(self.providers)}>"


def new_ssl_ctx(server: bool, library: LibraryContext | None, propquery: str | None) -> Any:
    """``SSL_CTX_new_ex(libctx, propq, TLS_{client,server}_method())`` for :class:`Context`.

    ``propquery`` is the property query every fetch of the context uses
    (property(7)): ``"?provider=pause"`` prefers a provider's algorithms and
    falls back to the others.
    """
    _need_providers("Context(library=..., propquery=...)")
    if library is not None and not isinstance(library, LibraryContext):
        raise TypeError(f"library must be a LibraryContext, not {type(library).__name__}")
    propq = c_string(propquery, "propquery") if propquery is not None else _NULL
    libctx = library.ptr if library is not None else _NULL
    ctx = lib.ossl_ssl_ctx_new_ex(libctx, propq, 1 if server else 0)
    if ctx == _NULL:
        raise ConfigurationError(
            f"SSL_CTX_new_ex refused property query {propquery!r}",
            errors=drain(),
            operation="SSL_CTX_new_ex",
        )
    return ctx


def init_thread(max_size: int, init_size: int = 0) -> None:
    """``ASYNC_init_thread``: this thread's pool of async jobs, at most ``max_size`` (0: no limit).

    ``init_size`` jobs are created at once. A call that needs a job when all
    ``max_size`` are paused gets ``SSL_ERROR_WANT_ASYNC_JOB``. OpenSSL makes
    a pool on a thread's first job; this replaces the thread's pool
    (``ASYNC_cleanup_thread`` first, which frees only the idle jobs), so call
    it in a thread before its first asynchronous handshake, or when none of
    its jobs is paused.
    """
    high = c_int(max_size, "max_size", 0, _MAX_POOL)
    low = c_int(init_size, "init_size", 0, _MAX_POOL)
    if high and low > high:
        raise ValueError(f"init_size ({low}) is larger than max_size ({high})")
    lib.ASYNC_cleanup_thread()
    if not lib.ASYNC_init_thread(high, low):
        raise ConfigurationError(
            "ASYNC_init_thread failed", errors=drain(), operation="ASYNC_init_thread"
        )


class AsyncStatus(enum.IntEnum):
    """``SSL_get_async_status`` (3.0+): what the connection's async job reports."""

    UNSUPPORTED = lib.ASYNC_STATUS_UNSUPPORTED  #: no job, or the engine does not say
    ERR = lib.ASYNC_STATUS_ERR
    OK = lib.ASYNC_STATUS_OK
    EAGAIN = lib.ASYNC_STATUS_EAGAIN


def all_fds(ssl: Any) -> tuple[int, ...]:
    """``SSL_get_all_async_fds``: every fd the paused job waits on (called under the guard)."""
    cap = _FDS
    while True:
        fds = ffi.new("int[]", cap)
        n = int(lib.ossl_async_fds(ssl, fds, cap))
        if n < 0:
            raise ConfigurationError(
                "SSL_get_all_async_fds failed", errors=drain(), operation="SSL_get_all_async_fds"
            )
        if n <= cap:
            return tuple(int(fds[i]) for i in range(n))
        cap = n


def changed_fds(ssl: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``SSL_get_changed_async_fds``: (added, removed) since the job last resumed."""
    add, delete = ffi.new("int[]", _FDS), ffi.new("int[]", _FDS)
    nadd, ndel = ffi.new("size_t *"), ffi.new("size_t *")
    ok = int(lib.ossl_async_changed_fds(ssl, add, nadd, delete, ndel, _FDS))
    if ok != 1:
        raise ConfigurationError(
            "SSL_get_changed_async_fds failed"
            + ("" if ok == 0 else f" (more than {_FDS} fds changed)"),
            errors=drain(),
            operation="SSL_get_changed_async_fds",
        )
    return (
        tuple(int(add[i]) for i in range(nadd[0])),
        tuple(int(delete[i]) for i in range(ndel[0])),
    )


def status(ssl: Any) -> AsyncStatus:
    """``SSL_get_async_status`` (3.0+, ``FEATURES["async_status"]``); UNSUPPORTED before a job."""
    value = int(lib.ossl_async_status(ssl))
    if value < 0:
        raise ConfigurationError(
            "SSL_get_async_status failed"
            + ("" if FEATURES["async_status"] else " (it needs OpenSSL 3.0 or later)"),
            errors=drain(),
            operation="SSL_get_async_status",
        )
    return AsyncStatus(value)


#: The ``SSL_get_error`` codes of a paused asynchronous job.
ASYNC_CODES = frozenset({ErrorCode.WANT_ASYNC, ErrorCode.WANT_ASYNC_JOB})


class AsyncPause(Pause, kind=ErrorCode.WANT_ASYNC):
    """A handshake paused in (or waiting for) an asynchronous job: what, where, how to go on.

    A :class:`~ossl_handshake.core.pauses.Pause` (docs/architecture.md, the
    pauses row): ``kind`` is ``WANT_ASYNC`` (the job paused: wait until
    :attr:`fds` are readable) or ``WANT_ASYNC_JOB`` (:class:`AsyncJobPause`:
    no job was free; wait until another job of the thread finishes); ``role``
    and ``state`` are the paused side and its ``SSL_state_string_long``;
    ``callback`` is ``"async"``. :meth:`resume` takes no answer and drives
    nothing: the next ``SSL_do_handshake`` (``step()``, ``do_handshake()``)
    resumes the job where it paused, or starts one. ``auto`` is True: no
    application answer is needed, so the pair driver resumes it by retrying.
    """

    callback: ClassVar[str] = "async"

    def __init__(self, conn: Connection, state: str = "", *, kind: ErrorCode | None = None) -> None:
        super().__init__(conn, state, auto=True)
        if kind is not None:
            if kind not in ASYNC_CODES:
                raise ValueError(f"not an async pause: {kind!r}")
            self.kind = kind

    @classmethod
    def of(cls, conn: Connection, step: Step) -> AsyncPause | None:
        """The pause ``step`` stands for, or None when it is not an async pause."""
        if step.error_code not in ASYNC_CODES:
            return None
        made = step.pause
        if isinstance(made, AsyncPause):
            return made
        return KINDS[step.error_code](conn, step.state)  # type: ignore[return-value]

    @property
    def fds(self) -> tuple[int, ...]:
        """The fds to wait on before going on (``SSL_get_all_async_fds``; () for WANT_ASYNC_JOB)."""
        conn = self.connection
        if conn is None or self.kind is not ErrorCode.WANT_ASYNC:
            return ()
        return conn.async_fds()


class AsyncJobPause(AsyncPause, kind=ErrorCode.WANT_ASYNC_JOB):
    """``WANT_ASYNC_JOB``: the thread's job pool (:func:`init_thread`) had no free job."""
