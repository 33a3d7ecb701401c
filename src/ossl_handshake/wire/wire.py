"""``Wire``: moves bytes between two memory-transport peers, record by record, and breaks them.

The driver (:func:`~ossl_handshake.pair.drive`) calls :meth:`Wire.transfer`
after every step of a side. The wire takes everything that side wrote into
its network BIO (``BIO_read`` through :meth:`Connection.bio_read`), cuts it
into TLS records (:mod:`ossl_handshake.tls.records`), passes each *flight* (what
the side wrote since its last transfer) through the faults
(:mod:`ossl_handshake.wire.faults`), queues the result and delivers from the
queue to the peer (``BIO_write`` through :meth:`Connection.bio_write`) as
the delivery policy allows. Bytes the peer's BIO cannot take yet stay queued
and go out in later transfers. A close fault ends the direction with
``BIO_shutdown_wr`` on the receiver.

Everything is deterministic: no clocks, no randomness; the same scenario
with the same keys moves the same bytes in the same order.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ossl_handshake.tls.records import Record, RecordStream, VersionState
from ossl_handshake.tls.roles import Role
from ossl_handshake.wire.decrypt import Decryptor, Resealer, TrafficKeys
from ossl_handshake.wire.faults import Chunk, Fault, FaultNotFiredError


class Endpoint(Protocol):
    """What the wire needs of a peer: its role and its network BIO half.

    :class:`~ossl_handshake.core.connection.Connection` on a memory BIO pair
    is one; a TCP proxy's socket ends can be others.
    """

    @property
    def role(self) -> Role: ...

    def bio_read(self, n: int = -1) -> bytes: ...

    def bio_write(self, data: bytes | bytearray | memoryview) -> int: ...

    def bio_shutdown_wr(self) -> None: ...


Tap = Callable[[Role, bytes], None]


@dataclass
class Segment:
    """One delivery unit in a direction's queue (or the EOF mark)."""

    data: bytes
    eof: bool = False


@dataclass(frozen=True)
class Flight:
    """What one side wrote between two transfers: its stream offset, bytes and records."""

    direction: Role
    index: int
    offset: int
    data: bytes
    records: tuple[Record, ...]

    def __len__(self) -> int:
        return len(self.data)


class Policy:
    """How much of the queue one transfer delivers. The default, :class:`Flights`, sends all."""

    #: Segments delivered per transfer (None: all).
    units: int | None = None
    #: Bytes delivered per transfer (None: no limit beyond the receiver's buffer).
    nbytes: int | None = None
    #: Default step budget for :func:`~ossl_handshake.pair.drive` under this policy.
    step_budget: int = 1000

    def segments(self, chunks: Sequence[Chunk]) -> list[Segment]:
        """Turn a flight's chunks (after faults) into queue segments."""
        data = b"".join(c.data for c in chunks if not c.eof)
        out = [Segment(data)] if data else []
        if any(c.eof for c in chunks):
            out.append(Segment(b"", eof=True))
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Flights(Policy):
    """Deliver each flight whole, as soon as the sender wrote it (the default)."""


class Records(Policy):
    """Deliver one record (or one injected chunk) per transfer."""

    units = 1
    step_budget = 10_000

    def segments(self, chunks: Sequence[Chunk]) -> list[Segment]:
        return [Segment(c.data, c.eof) for c in chunks if c.data or c.eof]


class Bytes(Policy):
    """Deliver one byte per transfer: every record arrives split at every offset."""

    nbytes = 1
    step_budget = 200_000


class Split(Policy):
    """Split each record at the given offsets (from its first header byte); a piece per transfer."""

    units = 1
    step_budget = 20_000

    def __init__(self, *offsets: int) -> None:
        if not offsets or any(o <= 0 for o in offsets):
            raise ValueError("Split needs one or more positive offsets")
        self.offsets = sorted(set(offsets))

    def segments(self, chunks: Sequence[Chunk]) -> list[Segment]:
        out: list[Segment] = []
        for c in chunks:
            if c.eof:
                out.append(Segment(b"", eof=True))
                continue
            start = 0
            for off in self.offsets:
                if start < off < len(c.data):
                    out.append(Segment(c.data[start:off]))
                    start = off
            if start < len(c.data):
                out.append(Segment(c.data[start:]))
        return out

    def __repr__(self) -> str:
        return f"Split({', '.join(map(str, self.offsets))})"


class Coalesce(Policy):
    """Hold a side's flights until ``flights`` of them accumulated, then send them as one.

    A side that makes a step without writing anything is waiting for its
    peer; what it sent so far is released then, so coalescing never
    deadlocks a handshake by itself. Held flights count as in flight.
    """

    def __init__(self, flights: int = 2) -> None:
        if flights < 2:
            raise ValueError("Coalesce needs flights >= 2")
        self.flights = flights

    def __repr__(self) -> str:
        return f"Coalesce({self.flights})"


FLIGHTS = Flights()
RECORDS = Records()
BYTES = Bytes()


@dataclass
class _Direction:
    role: Role
    stream: RecordStream
    queue: deque[Segment] = field(default_factory=deque)
    closed: bool = False
    flights: list[Flight] = field(default_factory=list)
    coalesced: list[Chunk] = field(default_factory=list)
    coalesced_count: int = 0
    offset: int = 0
    delivered: int = 0


class Wire:
    """Joins a client and a server :class:`Connection` (each on its own BIO pair).

    ``Wire(faults=(...), policy=FLIGHTS)``; ``client_policy``/``server_policy``
    override the policy for one sending direction. Attributes for tests:
    ``records[role]`` (every record the side wrote, before faults),
    ``flights[role]``, ``deliveries`` (``(sender, bytes)`` per delivery),
    ``faults``. ``tap`` (None or ``fn(sender_role, data)``) is called with
    exactly the bytes delivered to the peer, once per delivery.

    ``keys`` (a :class:`~ossl_handshake.wire.decrypt.TrafficKeys`, e.g.
    :class:`ossl_handshake.observe.decrypt.KeyLog`) makes the wire decrypt
    TLS 1.3 records: ``records`` then carry the encrypted handshake messages
    (selectors aim at them by ``handshake_type``), message edits
    (:class:`~ossl_handshake.wire.faults.EditMessage`) are sealed again, and
    with ``resequence`` (the default) every record delivered after a
    dropped, duplicated or injected one is sealed with the sequence number
    the receiver expects (:mod:`ossl_handshake.wire.decrypt`).
    """

    def __init__(
        self,
        faults: Iterable[Fault] = (),
        *,
        policy: Policy = FLIGHTS,
        client_policy: Policy | None = None,
        server_policy: Policy | None = None,
        tap: Tap | None = None,
        keys: TrafficKeys | None = None,
        resequence: bool = True,
    ) -> None:
        self.faults: list[Fault] = list(faults)
        for f in self.faults:
            if not isinstance(f, Fault):
                raise TypeError(f"faults must be Fault objects, not {type(f).__name__}")
        self.policies = {
            Role.CLIENT: client_policy or policy,
            Role.SERVER: server_policy or policy,
        }
        self.tap: Tap | None = tap
        versions = VersionState()
        self._dirs = {r: _Direction(r, RecordStream(r, versions)) for r in Role}
        #: The TLS 1.3 decryption state (None without ``keys``).
        self.decryptor: Decryptor | None = None
        self._resealer: Resealer | None = None
        if keys is not None:
            self.decryptor = Decryptor(keys, versions)
            self._resealer = Resealer(self.decryptor, resequence=resequence)
        self.deliveries: list[tuple[Role, bytes]] = []
        self._ends: dict[Role, weakref.ref[Endpoint]] = {}

    # -- what crossed ----------------------------------------------------------

    @property
    def records(self) -> dict[Role, list[Record]]:
        """Every record each side wrote, in order, as parsed before any fault."""
        return {r: [rec for f in d.flights for rec in f.records] for r, d in self._dirs.items()}

    @property
    def flights(self) -> dict[Role, list[Flight]]:
        """Every flight each side wrote, in order (bytes before any fault)."""
        return {r: list(d.flights) for r, d in self._dirs.items()}

    @property
    def step_budget(self) -> int:
        """The step budget the driver uses by default with this wire (depends on the policy)."""
        return max(p.step_budget for p in self.policies.values())

    def in_flight(self, direction: Role) -> int:
        """Bytes (plus 1 for a pending EOF) from ``direction`` that will be delivered later.

        Counts the queue, coalesced flights and the start of a record the
        sender has not finished writing (its BIO filled up mid-record).
        """
        d = self._dirs[direction]
        n = sum(len(s.data) + (1 if s.eof else 0) for s in d.queue)
        return n + sum(len(c.data) for c in d.coalesced) + len(d.stream.partial)

    def held(self, direction: Role) -> int:
        """Bytes from ``direction`` that faults hold back until an event (delay, reorder)."""
        return sum(f.held(direction) for f in self.faults)

    @property
    def pending(self) -> int:
        """Bytes in flight in both directions (see :meth:`in_flight`)."""
        return sum(self.in_flight(r) for r in Role)

    def unfired(self) -> list[Fault]:
        """Faults that never fired and are not optional."""
        return [f for f in self.faults if not f.fired and not f.optional]

    def check_fired(self, result: object = None) -> None:
        """Raise :class:`FaultNotFiredError` when a non-optional fault never fired."""
        missed = self.unfired()
        if missed:
            names = "; ".join(repr(f) for f in missed)
            raise FaultNotFiredError(
                f"fault never fired (its selector matched no record): {names}\n" + self.describe(),
                missed,
                result,
            )

    def describe(self) -> str:
        """Each direction's records by flight, for assertion messages."""
        lines = []
        for role, d in self._dirs.items():
            lines.append(f"{role.value} -> {role.peer.value}:")
            for f in d.flights:
                recs = ", ".join(r.describe() for r in f.records) or "(partial record)"
                lines.append(f"  flight {f.index} @{f.offset} ({len(f)} B): {recs}")
            if d.closed:
                lines.append("  (closed: EOF delivered)")
        return "\n".join(lines)

    # -- moving bytes ---------------------------------------------------------

    def transfer(self, src: Endpoint, dst: Endpoint) -> int:
        """Take what ``src`` wrote (``BIO_read``), apply faults, deliver to ``dst`` (``BIO_write``).

        Returns the number of bytes ``dst`` accepted in this call.
        """
        direction = src.role
        self._check_ends(src, dst)
        d = self._dirs[direction]
        policy = self.policies[direction]
        data = src.bio_read()
        if self.decryptor is not None and self.decryptor.waiting:
            self._catch_up()
        if data:
            index = len(d.flights)
            records = d.stream.feed(data, index)
            if self.decryptor is not None:
                records = self.decryptor.annotate(direction, records)
            d.flights.append(Flight(direction, index, d.offset, data, tuple(records)))
            d.offset += len(data)
            chunks = [Chunk(r.data, r) for r in records]
            for fault in self.faults:
                chunks = fault.process(direction, index, chunks)
            released: dict[Role, list[Chunk]] = {Role.CLIENT: [], Role.SERVER: []}
            for fault in self.faults:
                for c in fault.on_flight(direction, index):
                    released[c.direction or direction].append(c)
            chunks += released[direction]
            if self._resealer is not None:
                chunks = self._resealer.process(direction, chunks)
                if released[direction.peer]:
                    released[direction.peer] = self._resealer.process(
                        direction.peer, released[direction.peer]
                    )
            if isinstance(policy, Coalesce):
                d.coalesced += chunks
                d.coalesced_count += 1
                if d.coalesced_count >= policy.flights:
                    self._release_coalesced(d, policy)
            else:
                d.queue.extend(policy.segments(chunks))
            other = self._dirs[direction.peer]
            if released[other.role]:
                other.queue.extend(self.policies[other.role].segments(released[other.role]))
        elif d.coalesced:
            self._release_coalesced(d, policy)  # the sender is waiting: stop holding
        return self._deliver(d, dst, policy)

    def _catch_up(self) -> None:
        """Put records decrypted late (their key log line came after them) into the flights."""
        assert self.decryptor is not None
        for role, opened in self.decryptor.catch_up().items():
            flights = self._dirs[role].flights
            for index, rec in opened:
                f = flights[rec.flight]
                records = tuple(rec if r.index == index else r for r in f.records)
                flights[rec.flight] = dataclasses.replace(f, records=records)

    def refresh(self) -> None:
        """Decrypt the records whose keys arrived late (``records``, ``describe`` show them)."""
        if self.decryptor is not None:
            self._catch_up()

    def _check_ends(self, src: Endpoint, dst: Endpoint) -> None:
        if src.role is dst.role:
            raise ValueError(f"both ends of the wire are {src.role.value}s")
        for conn in (src, dst):
            known = self._ends.get(conn.role)
            if known is None:
                self._ends[conn.role] = weakref.ref(conn)
            elif known() is not conn:
                raise ValueError("a Wire carries one connection pair: make a new Wire per pair")

    def _release_coalesced(self, d: _Direction, policy: Policy) -> None:
        d.queue.extend(policy.segments(d.coalesced))
        d.coalesced = []
        d.coalesced_count = 0

    def _deliver(self, d: _Direction, dst: Endpoint, policy: Policy) -> int:
        total = 0
        units = 0
        queue = d.queue
        while queue and (policy.units is None or units < policy.units):
            seg = queue[0]
            if seg.eof:
                if not d.closed:
                    dst.bio_shutdown_wr()
                    d.closed = True
                queue.clear()
                break
            if d.closed:
                queue.popleft()  # nothing reaches a closed direction
                continue
            budget = None if policy.nbytes is None else policy.nbytes - total
            piece = seg.data if budget is None else seg.data[:budget]
            n = dst.bio_write(piece)
            if n:
                sent = piece[:n]
                total += n
                d.delivered += n
                self.deliveries.append((d.role, sent))
                if self.tap is not None:
                    self.tap(d.role, sent)
            if n < len(seg.data):
                queue[0] = Segment(seg.data[n:])
                break
            queue.popleft()
            units += 1
        return total

    def flush(self, src: Endpoint, dst: Endpoint) -> int:
        """Transfer until nothing more moves (end phases: a final alert, tickets)."""
        total = 0
        while True:
            n = self.transfer(src, dst)
            if not n:
                return total
            total += n

    def __repr__(self) -> str:
        pol = self.policies
        return (
            f"<Wire client:{pol[Role.CLIENT]!r} server:{pol[Role.SERVER]!r} "
            f"faults={self.faults!r} in_flight={self.pending}>"
        )


__all__ = [
    "BYTES",
    "FLIGHTS",
    "RECORDS",
    "Bytes",
    "Coalesce",
    "Flight",
    "Flights",
    "Policy",
    "Records",
    "Segment",
    "Split",
    "Wire",
]
