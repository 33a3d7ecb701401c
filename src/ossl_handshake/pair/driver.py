"""Two in-process peers and the driver that takes them through a handshake.

The driver keeps protocol logic free of I/O: it alternates ``step()`` on the
two :class:`Connection` objects and moves the bytes between their BIO pairs
(in C, or through a ``wire`` that can watch and break them). It stops when
both finished, when one failed (after delivering that side's last flight so
the peer sees the alert), or when neither can move: one side blocked while
the other is done, or a full round with no step finishing and no byte moved
(docs/architecture.md, "How the C and Python drivers are kept equal";
a rule, not an iteration cap, though ``max_steps`` still
guards against a peer that loops).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.ca_lists import ca_names_of
from ossl_handshake.core.connection import Connection, _thread_result, join
from ossl_handshake.core.context import Context
from ossl_handshake.core.early_data import ReadEarly
from ossl_handshake.core.errors import (
    ClosedError,
    ErrorCode,
    ErrorRecord,
    NoProgressError,
    PauseError,
    ReturnCode,
    SSLError,
    drain,
    error_for_step,
    records,
)
from ossl_handshake.core.guard import run_both
from ossl_handshake.core.inputs import c_int
from ossl_handshake.core.pauses import Pause, PauseHook, may_pause, pause_mode
from ossl_handshake.core.post_handshake import read_step
from ossl_handshake.core.session import Session
from ossl_handshake.core.step import Step
from ossl_handshake.pair.result import (
    EarlyDataResult,
    ExportRequest,
    HandshakeResult,
    KeyingMaterial,
    SideResult,
    StepRecord,
)
from ossl_handshake.tls.roles import Role

if TYPE_CHECKING:
    from ossl_handshake.core.early_data import EarlyRead
    from ossl_handshake.observe.trace import Trace


#: The largest step budget: ``ossl_drive_pair`` counts steps in a C int.
_MAX_STEPS = 2**31 - 1


class WireLike(Protocol):
    """What the driver needs from a wire: move bytes from ``src`` to ``dst``."""

    def transfer(self, src: Connection, dst: Connection) -> int:
        """Move what ``src`` wrote toward ``dst``; return how many bytes ``dst`` received."""


def memory_pair(
    client_ctx: Context,
    server_ctx: Context,
    *,
    server_name: str | None = None,
    verify_host: str | bool | None = None,
    session: Session | None = None,
    direct: bool = False,
    bio_size: int = 0,
) -> tuple[Connection, Connection]:
    """A client and a server :class:`Connection` on memory transports.

    Each gets its own BIO pair (``bio_size`` bytes per direction, 0 = 17 KiB)
    unless ``direct`` puts both on one shared pair, where bytes never enter
    Python (fastest; no wire, no byte-level faults).
    """
    own = None if direct else bio_size  # direct: join() makes the only pair
    client = Connection(
        client_ctx,
        Role.CLIENT,
        server_name=server_name,
        verify_host=verify_host,
        session=session,
        bio_size=own,
    )
    server = Connection(server_ctx, Role.SERVER, bio_size=own)
    if direct:
        join(client, server, size=bio_size)
    return client, server


def _stuck(
    client: Connection, server: Connection, last: dict[Role, Step | None], wire: Any = None
) -> NoProgressError:
    def wait(role: Role, conn: Connection) -> str:
        st = last[role]
        if conn.is_init_finished:
            return "done"
        if st is None:
            return "not started"
        return f"{st.error_code.name} in {st.state!r}"

    msg = (
        "no progress: client waits for "
        f"{wait(Role.CLIENT, client)}, server waits for {wait(Role.SERVER, server)}, "
        "and no bytes are in flight"
    )
    held = getattr(wire, "held", None)
    if held is not None:
        for role in Role:
            n = int(held(role))
            if n:
                msg += f"; the wire holds back {n} bytes from the {role.value}"

    return NoProgressError(
        msg, error_code=ErrorCode.WANT_READ, state=client.state, operation="handshake"
    )


def drive(
    client: Connection,
    server: Connection,
    *,
    wire: WireLike | None = None,
    max_steps: int | None = None,
    settle: bool = True,
    trace: Trace | bool | None = None,
    on_pause: PauseHook | None = None,
    pause_every_callback: bool = False,
    keying_material: Iterable[ExportRequest] = (),
    _fast: bool = True,
) -> HandshakeResult:
    """Drive both peers until done, failed or stuck; never raises for TLS failures.

    Returns a :class:`HandshakeResult` whose ``error`` is the first failure
    (a :class:`NoProgressError` when stuck). With ``settle`` the client
    processes what the server sent after finishing (TLS 1.3 tickets), so its
    session is resumable right away.

    ``trace`` (``True`` or a :class:`~ossl_handshake.trace.Trace`) attaches
    the trace's observers to both peers, records every step, and moves the
    bytes through Python (``bio_read``/``bio_write``) so that each flight is
    recorded; with a ``wire`` that has a ``tap`` attribute the wire reports
    its deliveries instead. The trace is returned as ``result.trace``.

    With a ``wire`` (:class:`~ossl_handshake.wire.Wire`) every byte goes
    through it; bytes it still queues count as in flight, ``max_steps``
    defaults to its policy's ``step_budget``, the result keeps it as
    ``result.wire``, and a fault that never fired raises
    :class:`~ossl_handshake.faults.FaultNotFiredError` (with ``.result``).

    ``max_steps`` (default 1000) is an int in 1..2**31-1, the C loop's int;
    anything else raises ``ValueError``/``TypeError`` before the first step.

    **Pauses** (:mod:`ossl_handshake.core.pauses`): a step that pauses is
    progress, never "no progress". ``on_pause(pause)`` is called for each
    pause and may answer it (``pause.resume(...)``); an unanswered pause
    stops the drive with ``result.paused`` (the :class:`Pause`: which side,
    which callback, the state) and ``result.error`` its
    :class:`~ossl_handshake.core.errors.PauseError`; answer it and call
    ``drive`` again to go on. ``pause_every_callback`` is BoringSSL's async
    mode: every callback pauses once before its first call and the driver
    resumes it (``resume()``), so any scenario runs with a pause at each
    callback. Pausing drives take the Python loop.

    A connection closed by one of its own callbacks during the drive raises
    :class:`~ossl_handshake.ClosedError` (the close takes effect when that
    step returns; no result is reported for a freed SSL), on both drivers.

    When nothing needs a step or a byte in Python (:func:`_fast_path_ok`),
    the whole handshake runs in one C call (``glue/drive.c``), on the
    connections' own BIO pairs or on a shared one, with the same steps.
    """
    if client is server:
        raise ValueError("drive needs two different connections, got the same one twice")
    if client.role is not Role.CLIENT or server.role is not Role.SERVER:
        raise ValueError(
            f"drive(client, server) got a {client.role.value} and a {server.role.value}: "
            "pass the client first, the server second"
        )
    if client._state.handshake_done and server._state.handshake_done:
        # An established pair with a renegotiation, KeyUpdate or CertificateRequest
        # queued by hand: the post-handshake loop completes it.
        who = _post_handshake_initiator(client, server)
        if who is not None:
            return drive_post_handshake(
                client,
                server,
                initiator=who,
                wire=wire,
                max_steps=max_steps,
                trace=trace,
                check=False,
            )
    # Direct: the SSLs are on BIOs Python does not hold (a shared pair from
    # join(), or BIOs set by C code on an adopted SSL): nothing to move.
    direct = server._peer is client or client._transport.kind in ("direct", "none")
    if wire is not None and direct:
        raise ValueError("a wire needs connections with their own BIO pairs (not direct=True)")
    tr: Trace | None = None
    if trace is not None and trace is not False:
        from ossl_handshake.observe.trace import Trace as _Trace

        tr = _Trace() if trace is True else trace
        tr.attach(client)
        tr.attach(server)
    if max_steps is None:
        max_steps = int(getattr(wire, "step_budget", 1000))
    # An int for the C loop (ossl_drive_pair takes a C int): refused here, not
    # as cffi's OverflowError, and the same in both modes.
    c_int(max_steps, "max_steps", 1, _MAX_STEPS)
    settled = False
    lazy: Callable[[], list[StepRecord]] | None = None
    sides: tuple[SideResult, SideResult] | None = None
    own_pairs = client._transport.kind == "memory" and server._transport.kind == "memory"
    pausing = on_pause is not None or pause_every_callback
    if _fast and (direct or own_pairs) and _fast_path_ok(client, server, wire, tr, pausing):
        steps, error, failed_side, settled, lazy, sides = _drive_c(
            client, server, max_steps, settle, own_pairs=not direct, wire=wire
        )
    else:
        with pause_mode(client, server, pause_every_callback):
            steps, error, failed_side = _drive_python(
                client, server, wire, max_steps, direct, tr, partial(_answer, on_pause)
            )
    if error is None and settle and not settled:
        if not direct:
            _flush(_mover(wire, tr), server, client)
        try:
            client.process_pending()
        except SSLError as exc:  # e.g. a ticket record the wire broke
            error, failed_side = exc, Role.CLIENT
    for conn in (client, server):
        if conn.closed:  # by one of its callbacks, in a step that then ended well
            raise ClosedError(
                f"the {conn.role.value} was closed during the handshake, by one of its callbacks"
            )
    if sides is None:
        sides = (SideResult.of(client), SideResult.of(server))
    result = HandshakeResult(
        client=sides[0],
        server=sides[1],
        steps=steps,
        failed_side=failed_side,
        error=error,
        trace=tr,
        wire=wire,
        paused=error.pause if isinstance(error, PauseError) else None,
    )
    if keying_material and error is None:
        requests = tuple(keying_material)
        for side, conn in ((result.client, client), (result.server, server)):
            side.__dict__["keying"] = KeyingMaterial.of(conn, requests)
    if lazy is not None:
        # Measured: building the steps of a handshake nobody inspects costs
        # more than 1 % of it, so a C drive that ended well builds them
        # on first read of result.steps (through the same _step_of).
        del result.__dict__["steps"]
        result.__dict__["_raw_steps"] = lazy
    if error is not None:
        error.result = result
    check_fired = getattr(wire, "check_fired", None)
    if check_fired is not None:
        check_fired(result)  # a fault that never fired fails the scenario
    return result


def _fast_path_ok(
    client: Connection,
    server: Connection,
    wire: WireLike | None,
    trace: Trace | None,
    pausing: bool = False,
) -> bool:
    """Whether the C driver may run this handshake: nothing needs a step or a
    byte in Python (no trace or observer, no wire but one the C driver can
    carry (``Wire.c_carriable``: no faults, keys or tap), neither side failed
    already, no pause hook or pause mode, no callback that may pause).
    A feature that needs Python between two steps adds its condition here."""
    carriable = getattr(wire, "c_carriable", None)
    return (
        not pausing
        and (wire is None or (carriable is not None and bool(carriable(client, server))))
        and trace is None
        and client._on_info is None
        and client._on_message is None
        and server._on_info is None
        and server._on_message is None
        and client._failed is None
        and server._failed is None
        and not may_pause(client)  # the C loop cannot resume a pause (core/pauses.py)
        and not may_pause(server)
    )


def _drive_python(
    client: Connection,
    server: Connection,
    wire: WireLike | None,
    max_steps: int,
    direct: bool,
    tr: Trace | None,
    answer: Callable[[Pause], bool] = lambda p: False,
) -> tuple[list[StepRecord], SSLError | None, Role | None]:
    """The driver loop in Python: any transport, wire, trace, observers and pauses.

    ``answer(pause)`` is asked for each paused step: True when the pause was
    resumed (the loop goes on), False to stop with the pause as the error.
    """
    steps: list[StepRecord] = []
    peers = ((0, client, server), (1, server, client))
    error: SSLError | None = None
    failed_side: Role | None = None
    move = _mover(wire, tr)
    if tr is not None and wire is not None and hasattr(wire, "tap"):
        setattr(wire, "tap", tr.on_transfer)  # noqa: B010 - WireLike has no tap
    idle_rounds = 0
    n = 0
    # Per side (0 client, 1 server), kept in lists: Role is an Enum whose hash
    # runs Python code. Only a step returning 1 finishes a side here, so that
    # is tracked instead of asking libssl; a side's state changes only in its
    # own steps, so its last step's state is the next step's "before".
    fin = [client.is_init_finished, server.is_init_finished]
    prev: list[Step | None] = [None, None]
    while n < max_steps:
        progressed = False
        for i, me, other in peers:
            if fin[i]:
                # A finished side may still have bytes held by the wire
                # (byte-at-a-time delivery of its last flight).
                if wire is not None and _in_flight(wire, me.role):
                    n += 1
                    if move(me, other):
                        progressed = True
                continue
            p = prev[i]
            before = p.state if p is not None else me.state
            st = me.step()
            if tr is not None:
                tr.record_step(me, st, before)
            n += 1
            prev[i] = st
            sent = 0 if direct else move(me, other)
            steps.append(StepRecord(len(steps), st, sent))
            if st.done:
                fin[i] = progressed = True
            elif sent or st.state != before:
                progressed = True
            pause = st.pause
            if pause is not None:
                if not answer(pause):
                    error, failed_side = st.error, me.role
                    break
                progressed = True  # an answered pause is progress
            if st.failed:
                error = st.error
                failed_side = me.role
                break
        if isinstance(error, PauseError):
            break
        if error is not None:
            last = {Role.CLIENT: prev[0], Role.SERVER: prev[1]}
            _let_peer_see(client, server, failed_side, direct, move, steps, last, tr)
            break
        if fin[0] and fin[1]:
            break
        if not progressed and not (wire is not None and _in_flight(wire, None)):
            idle_rounds += 1
            if idle_rounds >= 2 or client.is_init_finished or server.is_init_finished:
                last = {Role.CLIENT: prev[0], Role.SERVER: prev[1]}
                error = _stuck(client, server, last, wire)
                failed_side = _waiting_side(client, server)
                break
        else:
            idle_rounds = 0
    else:
        error, failed_side = _out_of_steps(client, server, max_steps)
    return steps, error, failed_side


def _answer(on_pause: PauseHook | None, pause: Pause) -> bool:
    """The driver's handling of a pause: the test's hook first, then pause mode's own."""
    if on_pause is not None and not pause.resumed:
        on_pause(pause)
    if pause.auto and not pause.resumed:
        pause.resume()  # pause mode: the callable runs on the next step
    return pause.resumed


def _mover(wire: WireLike | None, tr: Trace | None) -> Any:
    """What moves bytes between two connections with their own BIO pairs."""
    if wire is not None:
        return wire.transfer
    return tr.transfer if tr is not None else _move


#: Step records the C driver fills per call (a handshake takes 4-8 steps; a
#: longer one empties the buffer and continues).
_R = TypeVar("_R", bound=HandshakeResult)
_REC_CAP = 16
_drive_tls = threading.local()
_SUCCESS = ReturnCode.SUCCESS
_NONE = ErrorCode.NONE
_ROLES = (Role.CLIENT, Role.SERVER)
_NULL = ffi.NULL
_D_DONE = int(lib.OSSL_DRIVE_DONE)
_D_FAILED = int(lib.OSSL_DRIVE_FAILED)
_D_CALLBACK = int(lib.OSSL_DRIVE_CALLBACK)
_D_STUCK = int(lib.OSSL_DRIVE_STUCK)
_D_BUDGET = int(lib.OSSL_DRIVE_BUDGET)
_D_QUEUE = int(lib.OSSL_DRIVE_QUEUE)
_D_MOVE = int(lib.OSSL_DRIVE_MOVE)
_D_SETTLE = int(lib.OSSL_DRIVE_SETTLE)
_D_NOMEM = int(lib.OSSL_DRIVE_NOMEM)
#: ``ossl_bio_move``'s limit for "everything pending" (``transfer_to``'s default).


def _drive_scratch() -> tuple[Any, Any]:
    """This thread's loop state and one-byte peek buffer (taken, not shared:
    a callback that drives another pair in the same thread gets fresh ones)."""
    s: tuple[Any, Any] | None = getattr(_drive_tls, "s", None)
    if s is None:
        return (ffi.new("ossl_drive_state *"), ffi.new("char[1]"))
    _drive_tls.s = None
    return s


def _drive_c(
    client: Connection,
    server: Connection,
    max_steps: int,
    settle: bool,
    *,
    own_pairs: bool,
    wire: WireLike | None = None,
) -> tuple[
    list[StepRecord],
    SSLError | None,
    Role | None,
    bool,
    Callable[[], list[StepRecord]] | None,
    tuple[SideResult, SideResult] | None,
]:
    """The driver loop in C: same steps, same rules, one call for the whole handshake.

    ``own_pairs`` (the default path, :func:`memory_pair`): each connection on
    its own BIO pair, stepped and its bytes moved to the peer's pair by
    ``ossl_drive_own_pairs``. Otherwise (direct mode) both share one pair and
    ``ossl_drive_pair`` only steps them. Both guards are held for the call
    (``run_both``), and the GIL is released for all of it (cffi). A drive that
    ends well also settles the client and snapshots both sides under the same
    guards: one guarded call per handshake.

    Python only turns the records into :class:`Step` objects (through
    :func:`~ossl_handshake.core.errors.error_for_step`, the same mapping as
    every other step) and handles the endings exactly as :func:`_drive_python`
    does: the failing step's error from the captured queue, then the peer's
    reaction in Python; a parked callback exception raised from the step it
    happened in; the no-progress and budget errors.

    With a ``wire`` (one that ``c_carriable``, on own pairs) every move is
    the wire's, in C (``ossl_drive_wire``): its log becomes the wire's
    backlog (:func:`_hand_off`) before Python moves anything through it.
    """
    scratch = _drive_scratch()
    log = ffi.new("ossl_wire_log *") if wire is not None else None
    move: Any = wire.transfer if wire is not None else _move
    d, one = scratch
    recs = ffi.new("ossl_step_rec[]", _REC_CAP)  # kept by a lazy step list
    first = True
    lazy: Callable[[], list[StepRecord]] | None = None
    d.started = 0
    res = _thread_result()
    conns = (client, server)
    steps: list[StepRecord] = []
    last: list[Step | None] = [None, None]
    error: SSLError | None = None
    failed_side: Role | None = None
    settled = False
    sides: tuple[SideResult, SideResult] | None = None

    def record_steps(code: int, nrec: int) -> None:
        """Turn the C records into Steps while both guards are held (the last
        record's queue and callback exception are in ``res``)."""
        for j in range(nrec):
            r = recs[j]
            conn = conns[r.side]
            if j == nrec - 1 and code == _D_CALLBACK:
                conn._raise_callback_error(res)  # raises, as step() does
            # The driver stops after a step that left a queue, so only the
            # last record can have one, and it is the one in res.
            errs = records(res) if j == nrec - 1 and r.nerr else ()
            st = _step_of(r, _ROLES[r.side], errs)
            if st.failed:
                conn._failed = st
            last[r.side] = st
            steps.append(StepRecord(len(steps), st, int(r.sent)))

    def c_loop(cssl: Any, sssl: Any) -> tuple[int, int]:
        """The drive's code, and with ``settle`` after a good one, the settle's."""
        if log is not None:
            cnet, snet = client._memory().net, server._memory().net
            code = int(
                lib.ossl_drive_wire(cssl, sssl, cnet, snet, log, d, recs, _REC_CAP, max_steps, res)
            )
        elif own_pairs:
            cnet, snet = client._memory().net, server._memory().net
            code = int(
                lib.ossl_drive_own_pairs(cssl, sssl, cnet, snet, d, recs, _REC_CAP, max_steps, res)
            )
        else:
            cnet = snet = _NULL
            code = int(lib.ossl_drive_pair(cssl, sssl, d, recs, _REC_CAP, max_steps, res))
        settled = _D_DONE
        if code == _D_DONE and settle:
            # The server's last flight (tickets) moves first, as drive() flushes it.
            if log is not None:
                settled = int(lib.ossl_drive_wire_settle(cssl, snet, cnet, log, one, res))
            else:
                settled = int(lib.ossl_drive_settle(cssl, snet, cnet, one, res))
        if _D_NOMEM in (code, settled):
            raise MemoryError("the C driver's wire log could not grow")
        if _D_MOVE in (code, settled):
            raise SSLError("BIO_write to peer failed", errors=drain(), operation="BIO_write")
        return code, settled

    try:
        while True:

            def drive_once(cssl: Any, sssl: Any, first: bool = first) -> tuple[int, int]:
                nonlocal error, failed_side, settled, sides
                code, settle_code = c_loop(cssl, sssl)
                nrec = int(d.nrec)
                # A first call that ended well had no failure, queue or
                # callback: every record maps to a Step from the record alone,
                # built (lazily) if someone reads result.steps.
                if not (code == _D_DONE and first):
                    record_steps(code, nrec)
                    nrec = 0
                if code == _D_DONE:
                    if settle:
                        settled = True
                        if settle_code == _D_SETTLE:
                            error = _settle_locked(client, cssl, res)
                        failed_side = Role.CLIENT if error is not None else None
                    sides = (
                        SideResult.of_snapshot(
                            client, lib.ossl_snapshot_new(cssl), ca_names_of(cssl)
                        ),
                        SideResult.of_snapshot(server, lib.ossl_snapshot_new(sssl)),
                    )
                return code, nrec

            code, lazy_n = run_both(client._guard, server._guard, drive_once)
            if lazy_n:
                lazy = partial(_steps_of, recs, lazy_n)
            first = False
            if code == _D_DONE:
                break
            if code == _D_FAILED:
                st = steps[-1].step
                error, failed_side = st.error, st.role
                lastd = {Role.CLIENT: last[0], Role.SERVER: last[1]}
                if log is not None:
                    _hand_off(wire, client, server, log)  # the alert crosses the wire
                    log = None
                _let_peer_see(client, server, failed_side, not own_pairs, move, steps, lastd)
                break
            if code == _D_STUCK:
                lastd = {Role.CLIENT: last[0], Role.SERVER: last[1]}
                error = _stuck(client, server, lastd, wire)
                failed_side = _waiting_side(client, server)
                break
            if code == _D_BUDGET:
                error = NoProgressError(
                    f"step budget of {max_steps} exhausted",
                    state=client.state,
                    operation="handshake",
                )
                failed_side = _waiting_side(client, server)
                break
            # _D_FULL or _D_QUEUE: the records are taken; continue where it stopped.
    finally:
        _drive_tls.s = scratch
        if log is not None:
            _hand_off(wire, client, server, log)
    return steps, error, failed_side, settled, lazy, sides


def _hand_off(wire: Any, client: Connection, server: Connection, log: Any) -> None:
    """Give the wire what ``ossl_drive_wire`` logged (``Wire._carried``), then
    free the log. The log is ours, not libssl's: no guard is needed."""
    try:
        d = log.d
        streams = (
            bytes(ffi.buffer(d[0].buf, d[0].len)) if d[0].len else b"",
            bytes(ffi.buffer(d[1].buf, d[1].len)) if d[1].len else b"",
        )
        fl = log.flights
        flights = [
            (int(fl[j].dir), int(fl[j].len), int(fl[j].whole_end)) for j in range(log.nflights)
        ]
        dl = log.dels
        deliveries = [(int(dl[j].dir), int(dl[j].n)) for j in range(log.ndels)]
    finally:
        lib.ossl_wire_log_free(log)
    wire._carried(client, server, streams, flights, deliveries)


def _settle_locked(client: Connection, cssl: Any, res: Any) -> SSLError | None:
    """The rest of ``client.process_pending()`` once ``ossl_drive_settle``'s
    ``SSL_peek_ex`` filled ``res`` with something to map (the client's guard
    held): a parked callback exception is raised, a fatal error returned, as
    drive() records it."""
    try:
        client._last_errno = int(res.sys_errno)
        if client._callback_error is not None:
            client._raise_callback_error(res)
        client._peeked(cssl, res)
    except SSLError as exc:
        return exc
    return None


def _step_of(rec: Any, role: Role, errors: tuple[ErrorRecord, ...]) -> Step:
    """The :class:`Step` of one C driver record (``ossl_step_rec``)."""
    ret = int(rec.ret)
    exc = error_for_step(rec, role=role, errors=errors)
    if exc is None:
        return Step(role, ret, _SUCCESS, _NONE, ffi.string(rec.state).decode())
    return Step(role, ret, ReturnCode.of(ret), exc.error_code, exc.state, exc)


def _steps_of(recs: Any, n: int) -> list[StepRecord]:
    """StepRecords of C records with no failure and no error queue among them
    (their state strings are libssl's static ones, valid after SSL_free)."""
    return [
        StepRecord(j, _step_of(recs[j], _ROLES[recs[j].side], ()), int(recs[j].sent))
        for j in range(n)
    ]


def _waiting_side(client: Connection, server: Connection) -> Role:
    return Role.SERVER if client.is_init_finished else Role.CLIENT


def _let_peer_see(
    client: Connection,
    server: Connection,
    failed: Role | None,
    direct: bool,
    move: Any,
    steps: list[StepRecord],
    last: dict[Role, Step | None],
    tr: Trace | None = None,
) -> None:
    """Deliver the failing side's last flight (its alert) and let the peer react once."""
    me, other = (client, server) if failed is Role.CLIENT else (server, client)
    if other.is_init_finished:
        if not direct:
            _flush(move, me, other)
        if other.failed is None:
            # The alert may already have crossed with the failing step's
            # transfer; reading it records alert_received on the peer.
            with contextlib.suppress(SSLError):
                other.process_pending()
        return
    if other.failed is not None:
        return
    if not direct:
        _flush(move, me, other)
    before = other.state
    st = other.step()
    if tr is not None:
        tr.record_step(other, st, before)
    last[other.role] = st
    steps.append(StepRecord(len(steps), st, 0 if direct else move(other, me)))


def _move(src: Connection, dst: Connection) -> int:
    return src.transfer_to(dst)


def _flush(move: Any, src: Connection, dst: Connection, limit: int = 1 << 16) -> int:
    """Move until nothing more moves (a wire may deliver a byte or a record per call)."""
    total = 0
    for _ in range(limit):
        n = int(move(src, dst))
        if not n:
            break
        total += n
    return total


def _in_flight(wire: Any, role: Role | None) -> int:
    """Bytes a wire still holds for delivery (0 for wires without ``in_flight``)."""
    fn = getattr(wire, "in_flight", None)
    if fn is None:
        return 0
    if role is None:
        return int(fn(Role.CLIENT)) + int(fn(Role.SERVER))
    return int(fn(role))


def handshake(
    client: Connection,
    server: Connection,
    *,
    wire: WireLike | None = None,
    max_steps: int | None = None,
    check: bool = True,
    trace: Trace | bool | None = None,
    on_pause: PauseHook | None = None,
    pause_every_callback: bool = False,
    keying_material: Iterable[ExportRequest] = (),
) -> HandshakeResult:
    """Drive a handshake between two memory-transport peers (see :func:`drive`).

    With ``check`` (the default) the first failure is raised, with the
    result attached as ``exc.result``; otherwise it is returned in the result.
    ``trace=True`` (or a :class:`~ossl_handshake.trace.Trace`) records it
    as ``result.trace``. ``on_pause`` and ``pause_every_callback``: see
    :func:`drive` (an unanswered pause is raised, or returned as
    ``result.paused`` with ``check=False``).
    """
    result = drive(
        client,
        server,
        wire=wire,
        max_steps=max_steps,
        trace=trace,
        on_pause=on_pause,
        pause_every_callback=pause_every_callback,
        keying_material=keying_material,
    )
    if check and result.error is not None:
        raise result.error
    return result


# --- beyond the first handshake: renegotiation, PHA, key update, 0-RTT ---
#
# These always take the Python loop (the C fast path drives first handshakes
# only). A side in a handshake is stepped with SSL_do_handshake; a side that
# is not reads (SSL_peek_ex, core/post_handshake.read_step), which is where
# libssl processes and answers post-handshake messages: a renegotiation
# ClientHello or HelloRequest, a CertificateRequest, a KeyUpdate. That is how
# OpenSSL's own test/helpers/ssltestlib.c completes them (create_ssl_connection
# followed by SSL_read on the peer).


def _post_handshake_initiator(client: Connection, server: Connection) -> Role | None:
    """The side of an established pair that queued a post-handshake request, if any."""
    for conn in (client, server):
        if conn.failed is None and (conn.in_init or conn.renegotiate_pending):
            return conn.role
    return None


def _drive_after(
    client: Connection,
    server: Connection,
    initiator: Role | None,
    wire: WireLike | None,
    max_steps: int | None,
    tr: Trace | None,
    early: Callable[[Connection], Step | None] | None = None,
) -> tuple[list[StepRecord], SSLError | None, Role | None]:
    """The post-handshake loop: rounds of (client, server) until a quiet round with
    neither side in a handshake, a failure, no progress, or the step budget.

    ``initiator`` is stepped (``SSL_do_handshake``) first even though it is
    not in init yet: that call starts a scheduled renegotiation. A side
    whose handshake has not finished (a client writing early data is not
    "in init") is stepped too. ``early(conn)`` may take a side's turn
    instead (the server's ``SSL_read_early_data``), returning None to pass.
    """
    direct = server._peer is client or client._transport.kind in ("direct", "none")
    if wire is not None and direct:
        raise ValueError("a wire needs connections with their own BIO pairs (not direct=True)")
    if max_steps is None:
        max_steps = int(getattr(wire, "step_budget", 1000))
    c_int(max_steps, "max_steps", 1, _MAX_STEPS)
    move = _mover(wire, tr)
    if tr is not None and wire is not None and hasattr(wire, "tap"):
        setattr(wire, "tap", tr.on_transfer)  # noqa: B010 - WireLike has no tap
    steps: list[StepRecord] = []
    peers = ((0, client, server), (1, server, client))
    kick = [initiator is Role.CLIENT, initiator is Role.SERVER]
    last: dict[Role, Step | None] = {Role.CLIENT: None, Role.SERVER: None}
    error: SSLError | None = None
    failed_side: Role | None = None
    n = idle = 0
    while n < max_steps:
        progressed = False
        for i, me, other in peers:
            before = me.state
            taken = early(me) if early is not None else None
            if taken is not None:
                st = taken
            elif kick[i] or me.in_init or not me.is_init_finished:
                kick[i] = False
                st = me.step()
            else:
                st = read_step(me)
            if tr is not None:
                tr.record_step(me, st, before)
            n += 1
            last[me.role] = st
            sent = 0 if direct else _flush(move, me, other)
            steps.append(StepRecord(len(steps), st, sent))
            if sent or st.state != before:
                progressed = True
            if st.failed:
                error, failed_side = st.error, me.role
                break
        if error is not None:
            _let_peer_see(client, server, failed_side, direct, move, steps, last, tr)
            break
        busy = client.in_init or server.in_init or bool(wire is not None and _in_flight(wire, None))
        if not progressed and not busy:
            break  # a quiet round, nobody in a handshake: done
        if not progressed:
            idle += 1
            if idle >= 2:
                error = _stuck(client, server, last, wire)
                failed_side = _waiting_side(client, server)
                break
        else:
            idle = 0
    else:
        error, failed_side = _out_of_steps(client, server, max_steps)
    return steps, error, failed_side


def _out_of_steps(
    client: Connection, server: Connection, max_steps: int
) -> tuple[SSLError, Role | None]:
    """The error of a drive that used its whole step budget, and the side that waits."""
    error = NoProgressError(
        f"step budget of {max_steps} exhausted", state=client.state, operation="handshake"
    )
    return error, _waiting_side(client, server)


def _after_result(
    client: Connection,
    server: Connection,
    run: tuple[list[StepRecord], SSLError | None, Role | None],
    wire: WireLike | None,
    tr: Trace | None,
    check: bool,
) -> HandshakeResult:
    steps, error, failed_side = run
    result = HandshakeResult(
        client=SideResult.of(client),
        server=SideResult.of(server),
        steps=steps,
        failed_side=failed_side,
        error=error,
        trace=tr,
        wire=wire,
    )
    return _finish(result, error, wire, check)


def _finish(result: _R, error: SSLError | None, wire: WireLike | None, check: bool) -> _R:
    """Link the error to its result, let the wire check its faults fired, raise (``check``)."""
    if error is not None:
        error.result = result
    check_fired = getattr(wire, "check_fired", None)
    if check_fired is not None:
        check_fired(result)
    if check and error is not None:
        raise error
    return result


def _trace_of(trace: Trace | bool | None, client: Connection, server: Connection) -> Trace | None:
    if trace is None or trace is False:
        return None
    from ossl_handshake.observe.trace import Trace as _Trace

    tr = _Trace() if trace is True else trace
    tr.attach(client)
    tr.attach(server)
    return tr


def _check_pair(client: Connection, server: Connection) -> None:
    if client is server or client.role is not Role.CLIENT or server.role is not Role.SERVER:
        raise ValueError("pass a client and a server Connection, the client first")


def _after(
    client: Connection,
    server: Connection,
    initiator: Role | str | None,
    request: Callable[[Connection], None] | None,
    wire: WireLike | None,
    max_steps: int | None,
    trace: Trace | bool | None,
    check: bool,
) -> HandshakeResult:
    """The post-handshake drivers' common path: ``request`` on the initiator, then drive."""
    _check_pair(client, server)
    who = Role(initiator) if initiator is not None else None
    tr = _trace_of(trace, client, server)
    if request is not None:
        request(client if who is Role.CLIENT else server)
    run = _drive_after(client, server, who, wire, max_steps, tr)
    return _after_result(client, server, run, wire, tr, check)


def drive_post_handshake(
    client: Connection,
    server: Connection,
    *,
    initiator: Role | str | None = None,
    wire: WireLike | None = None,
    max_steps: int | None = None,
    trace: Trace | bool | None = None,
    check: bool = True,
) -> HandshakeResult:
    """Complete what was requested on an established pair by hand (``conn.renegotiate()``,
    ``conn.key_update()``, ``server.verify_client_post_handshake()``), every step recorded.

    ``initiator`` (the side that made the request) is stepped first with
    ``SSL_do_handshake``, which sends what it queued; every side in a
    handshake is stepped, every other side reads. Ends after a quiet round
    with neither side in a handshake.
    """
    return _after(client, server, initiator, None, wire, max_steps, trace, check)


def renegotiate(
    client: Connection,
    server: Connection,
    *,
    initiator: Role | str = Role.CLIENT,
    abbreviated: bool = False,
    wire: WireLike | None = None,
    max_steps: int | None = None,
    trace: Trace | bool | None = None,
    check: bool = True,
) -> HandshakeResult:
    """Renegotiate an established TLS ≤ 1.2 pair, every step recorded.

    ``initiator`` calls ``SSL_renegotiate`` (``SSL_renegotiate_abbreviated``
    with ``abbreviated``): a client sends a new ClientHello, a server a
    HelloRequest, at its next ``SSL_do_handshake``; the peer takes part from
    inside ``SSL_read``. The wire and its faults see the second handshake's
    records. Raises the first failure (``check``) or returns it in the result.
    """

    def request(conn: Connection) -> None:
        conn.renegotiate(abbreviated=abbreviated)

    return _after(client, server, initiator, request, wire, max_steps, trace, check)


def post_handshake_auth(
    client: Connection,
    server: Connection,
    *,
    wire: WireLike | None = None,
    max_steps: int | None = None,
    trace: Trace | bool | None = None,
    check: bool = True,
) -> HandshakeResult:
    """TLS 1.3 post-handshake client authentication on an established pair.

    The server calls ``SSL_verify_client_post_handshake`` and sends the
    CertificateRequest; the client answers (Certificate, CertificateVerify,
    Finished) from inside a read, and the server verifies them in its read.
    ``result.server.peer_subject`` / ``peer_chain`` report the certificate
    obtained (``server.peer_certificate`` too). The client's context needs
    ``post_handshake_auth=True``, the server's ``verify=True``.
    """

    def request(conn: Connection) -> None:
        conn.verify_client_post_handshake()

    return _after(client, server, Role.SERVER, request, wire, max_steps, trace, check)


def update_keys(
    client: Connection,
    server: Connection,
    *,
    initiator: Role | str = Role.CLIENT,
    request_peer: bool = True,
    wire: WireLike | None = None,
    max_steps: int | None = None,
    trace: Trace | bool | None = None,
    check: bool = True,
) -> HandshakeResult:
    """TLS 1.3 KeyUpdate from ``initiator``; with ``request_peer`` the peer answers with its own.

    Both sides' :attr:`~ossl_handshake.Connection.key_updates_sent` /
    ``key_updates_received`` count the messages.
    """

    def request(conn: Connection) -> None:
        conn.key_update(request_peer)

    return _after(client, server, initiator, request, wire, max_steps, trace, check)


def early_data_handshake(
    client: Connection,
    server: Connection,
    data: bytes,
    *,
    wire: WireLike | None = None,
    max_steps: int | None = None,
    trace: Trace | bool | None = None,
    check: bool = True,
) -> HandshakeResult:
    """A handshake with 0-RTT: the client writes ``data`` as early data, the server reads it.

    The client must offer a session that allows early data (``session=``
    from a server with ``max_early_data``). The client's
    ``SSL_write_early_data`` writes the ClientHello and the early data; the
    server calls ``SSL_read_early_data`` until it reports FINISH, then both
    finish the handshake. ``result.early_data`` is what the server read (in
    order), ``result.early_data_reads`` each ``SSL_read_early_data`` outcome,
    and ``result.client_early_status`` / ``server_early_status`` the
    ``SSL_get_early_data_status`` of each side.
    """
    _check_pair(client, server)
    tr = _trace_of(trace, client, server)
    client.write_early_data(data)
    reads: list[EarlyRead] = []
    got = bytearray()
    finished = False

    def read_early(conn: Connection) -> Step | None:
        nonlocal finished
        if conn is not server or finished:
            return None
        r = conn.read_early_data()
        reads.append(r)
        got.extend(r.data)
        state = conn.state
        if r.status is ReadEarly.ERROR:
            assert r.error is not None
            return Step(conn.role, 0, ReturnCode.of(0), r.error.error_code, state, r.error)
        finished = r.status is ReadEarly.FINISH
        return Step(conn.role, 1, _SUCCESS, _NONE, state)

    steps, error, failed_side = _drive_after(
        client, server, Role.CLIENT, wire, max_steps, tr, early=read_early
    )
    result = EarlyDataResult(
        client=SideResult.of(client),
        server=SideResult.of(server),
        steps=steps,
        failed_side=failed_side,
        error=error,
        trace=tr,
        wire=wire,
        early_data=bytes(got),
        early_reads=reads,
        client_status=client.early_data_status,
        server_status=server.early_data_status,
    )
    return _finish(result, error, wire, check)


__all__ = [
    "HandshakeResult",
    "SideResult",
    "drive",
    "drive_post_handshake",
    "early_data_handshake",
    "handshake",
    "memory_pair",
    "post_handshake_auth",
    "renegotiate",
    "update_keys",
]
