"""Pauses: a handshake suspended in a callback (or an async job) and how it resumes.

A *pause* is a handshake step whose ``SSL_get_error`` code says "the
application is not done yet": ``WANT_CLIENT_HELLO_CB`` (the ClientHello
callback returned ``SSL_CLIENT_HELLO_RETRY``), ``WANT_X509_LOOKUP`` (a
certificate callback returned -1), ``WANT_RETRY_VERIFY`` (the verify callback
called ``SSL_set_retry_verify``), ``WANT_ASYNC`` / ``WANT_ASYNC_JOB`` (an
asynchronous crypto job). Moving bytes does not end a pause; answering it
does. Every kind has one shape:

- the step (:class:`~ossl_handshake.Step`) has ``error_code`` (the kind),
  ``state`` and ``pause``; ``do_handshake()`` raises the matching
  :class:`~ossl_handshake.core.errors.PauseError` subclass, whose ``pause``
  is the same object;
- a :class:`Pause` has ``kind`` (the :class:`ErrorCode`), ``role``,
  ``state``, ``callback`` (which callback paused) and ``resume(**answer)``;
  ``conn.resume(**answer)`` answers the connection's pending pause;
- ``resume()`` without an answer means "call the callback again" (or, for
  an async job, "the job can go on"); with an answer (``accept=True``,
  ``reject="access_denied"``, ``cert=...``) libssl gets that answer on the
  next ``SSL_do_handshake`` without the callback running again;
- stepping again before ``resume`` pauses again at the same place: libssl
  calls the callback, which answers "retry" without calling Python.

How a callback pauses: the Python callable returns :data:`PAUSE`. In pause
mode (``drive(..., pause_every_callback=True)``, BoringSSL's async mode) the
trampoline pauses once before the first call of every callback, and the
driver resumes with ``resume()``, so the callable runs exactly as without
pauses, one step later.

**Adding a pause kind** (as core/async_jobs.py does for ``WANT_ASYNC``): subclass
:class:`Pause` with the class keyword ``kind=``::

    class AsyncPause(Pause, kind=ErrorCode.WANT_ASYNC):
        callback = "async"

        def _check(self, answer: dict[str, Any]) -> dict[str, Any]:
            return super()._check(answer)   # no keywords: resume() only

The class keyword registers it (:data:`KINDS`); the first class registered
for a kind is the one :func:`pause_for` builds when a step pauses with that
code and no callback left a more specific pause on the connection (an async
job pauses inside libssl, no Python callback runs). A trampoline that pauses
calls :func:`begin` with its pause instance before returning "retry" to
libssl, and :func:`consult` first on every call. The error class for the
code is in ``core/errors.py`` (``PAUSE_CLASSES``); a new code adds its
subclass there, one line in the one mapping.
"""

from __future__ import annotations

import contextlib
import enum
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from ossl_handshake.core.errors import ClosedError, ErrorCode

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection
    from ossl_handshake.core.step import Step
    from ossl_handshake.tls.roles import Role

__all__ = ["KINDS", "PAUSE", "Pause", "begin", "consult", "pause_for"]


class _PauseAnswer(enum.Enum):
    PAUSE = "PAUSE"

    def __repr__(self) -> str:
        return "PAUSE"


#: Return this from a callback to pause the handshake at that callback.
PAUSE = _PauseAnswer.PAUSE

#: A driver's pause hook: ``on_pause(pause)``, answering with ``pause.resume(...)``.
PauseHook = Callable[["Pause"], None]

#: The default :class:`Pause` class of each kind (filled by subclassing with ``kind=``).
KINDS: dict[ErrorCode, type[Pause]] = {}


class Pause:
    """One paused handshake: what paused, where, and how to go on.

    ``kind`` is the ``SSL_get_error`` code the step returned, ``role`` the
    side, ``state`` ``SSL_state_string_long`` at the pause, ``callback`` the
    name of the callback that paused (``"client_hello"``, ``"cert"``,
    ``"client_cert"``, ``"verify"``, ``"async"``), ``auto`` True when pause
    mode made it (the callable has not run yet). ``resumed`` turns True at
    :meth:`resume`; ``answer`` is what was given.
    """

    kind: ErrorCode
    callback: ClassVar[str] = "callback"

    def __init_subclass__(cls, kind: ErrorCode | None = None, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if kind is not None:
            cls.kind = kind
            KINDS.setdefault(kind, cls)

    def __init__(self, conn: Connection, state: str = "", *, auto: bool = False) -> None:
        # Weak: the connection holds its pending pause, not the other way round.
        self._connection = weakref.ref(conn)
        self.role: Role = conn.role
        self.state = state
        self.auto = auto
        self.resumed = False
        self.answer: dict[str, Any] = {}

    @property
    def connection(self) -> Connection | None:
        """The paused connection (None once it was collected)."""
        return self._connection()

    def resume(self, **answer: Any) -> None:
        """Answer the pause; the next ``SSL_do_handshake`` goes on with it.

        No keywords: the callback runs again (it may pause again). The
        keywords a kind takes are in its class docstring; an unknown one is a
        ``TypeError``, a bad value a ``TypeError``/``ValueError``, resuming
        twice a ``RuntimeError``, and resuming a pause whose connection was
        closed (or collected) a ``ClosedError``. Nothing is driven here: step or
        ``do_handshake()`` again.
        """
        if self.resumed:
            raise RuntimeError(f"{self!r} was already resumed")
        conn = self.connection
        if conn is None or conn.closed:
            # Nothing would ever read the answer: say so instead of storing it.
            raise ClosedError(f"{self!r}: its connection is closed")
        self.answer = self._check(dict(answer))
        self.resumed = True

    def _check(self, answer: dict[str, Any]) -> dict[str, Any]:
        """Validate an answer (subclasses accept their keywords); returns the normalized one."""
        if answer:
            raise TypeError(f"{type(self).__name__}.resume() takes no answer, got {sorted(answer)}")
        return answer

    def __repr__(self) -> str:
        how = "resumed" if self.resumed else "pending"
        return (
            f"<{type(self).__name__} {self.kind.name} {self.role.value} "
            f"{self.callback} in {self.state!r} {how}>"
        )


class GenericPause(Pause):
    """A pause of a kind nothing registered: ``resume()`` only."""

    def __init__(self, conn: Connection, state: str = "", *, kind: ErrorCode) -> None:
        super().__init__(conn, state)
        self.kind = kind


class Consult(enum.Enum):
    """What a trampoline should do, from :func:`consult`."""

    FRESH = "fresh"  # no pause of this callback: run it
    WAITING = "waiting"  # paused and not resumed: answer "retry" again
    AGAIN = "again"  # resumed without an answer: run the callable again
    ANSWERED = "answered"  # resumed with an answer: apply it, do not run the callable


def consult(conn: Connection, callback: str) -> tuple[Consult, dict[str, Any]]:
    """The trampoline's first question: is ``callback`` paused on ``conn``, and answered?

    A resumed pause is consumed here (the connection has no pending pause
    afterwards).
    """
    p: Pause | None = conn._pause
    if p is None or p.callback != callback:
        return Consult.FRESH, {}
    if not p.resumed:
        return Consult.WAITING, {}
    conn._pause = None
    if p.answer:
        return Consult.ANSWERED, p.answer
    return Consult.AGAIN, {}


def auto_pause(conn: Connection, callback: str) -> bool:
    """Pause mode: True the first time ``callback`` runs on ``conn`` (then remembered)."""
    if not conn._pause_mode or callback in conn._paused_once:
        return False
    conn._paused_once = conn._paused_once | {callback}
    return True


def begin(conn: Connection, pause: Pause) -> None:
    """A trampoline pauses: ``pause`` becomes the connection's pending pause."""
    conn._pause = pause


def pause_for(conn: Connection, step: Step) -> Pause:
    """The :class:`Pause` of a paused step: the one a callback began, else a new one of
    the kind registered for the step's code (built from the step alone)."""
    p: Pause | None = conn._pause
    code = step.error_code
    if p is not None and p.kind == code and not p.resumed:
        p.state = step.state
        return p
    cls = KINDS.get(code)
    made = cls(conn, step.state) if cls is not None else GenericPause(conn, step.state, kind=code)
    conn._pause = made
    return made


def requested(conn: Connection) -> ErrorCode | None:
    """The pause code a callback of ``conn`` asked libssl for (see ``error_for``)."""
    p: Pause | None = conn._pause
    return p.kind if p is not None else None


def may_pause(conn: Connection) -> bool:
    """True when ``conn`` can pause during a drive: a pending pause, pause mode,
    or a callback in its hooks that can pause (the C fast path cannot resume)."""
    if conn._pause is not None or conn._pause_mode:
        return True
    hooks = conn._hooks
    return (
        hooks.client_hello is not None
        or hooks.cert is not None
        or hooks.client_cert is not None
        or hooks.verify_may_pause
    )


@contextlib.contextmanager
def pause_mode(client: Connection, server: Connection, on: bool) -> Iterator[None]:
    """Pause mode on both connections for one drive (restored afterwards)."""
    if not on:
        yield
        return
    saved = client._pause_mode, server._pause_mode
    client._pause_mode = server._pause_mode = True
    try:
        yield
    finally:
        client._pause_mode, server._pause_mode = saved
