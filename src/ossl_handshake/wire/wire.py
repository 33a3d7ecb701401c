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

**What a transfer costs.** Only the record *boundaries* are needed to move
bytes (a record is delivered once it is whole), so a transfer reads just the
length fields (:func:`~ossl_handshake.tls.records.whole_records`). When
nothing looks at records while bytes move (no faults, no keys, a policy that
delivers bytes rather than records), the flight is kept as bytes and parsed
into :class:`Record` and :class:`Flight` objects the first time someone
reads them (:attr:`Wire.records`, :attr:`Wire.flights`, :meth:`Wire.describe`),
in the order the flights crossed, so the shared version state sees the
ServerHello before the records that depend on it: the objects are the ones
an eager parse would have built.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ossl_handshake.tls.records import Record, RecordStream, VersionState, whole_records
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


class _Direction:
    """One sending direction's state (a plain class: a wire is built per handshake)."""

    __slots__ = (
        "closed",
        "coalesced",
        "coalesced_count",
        "count",
        "delivered",
        "end",
        "flights",
        "offset",
        "partial",
        "queue",
        "role",
        "stream",
        "versions",
    )

    def __init__(self, role: Role, versions: VersionState) -> None:
        self.role = role
        self.versions = versions
        #: The record parser, made on the first parse.
        self.stream: RecordStream | None = None
        self.queue: deque[Segment] = deque()
        self.closed = False
        #: Flights parsed into records (the wire's backlog holds the later ones).
        self.flights: list[Flight] = []
        self.coalesced: list[Chunk] = []
        self.coalesced_count = 0
        #: Flights and bytes the sender wrote so far (parsed or not).
        self.count = 0
        self.offset = 0
        self.delivered = 0
        #: The start of a record the sender has not finished writing.
        self.partial = b""
        #: The endpoint that sends in this direction (weak: the wire keeps no peer alive).
        self.end: weakref.ref[Endpoint] | None = None


def _plain(policy: Policy) -> bool:
    """True for a policy that delivers a flight's bytes without looking at its records."""
    return type(policy).segments is Policy.segments and not isinstance(policy, Coalesce)


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
        self._client = _Direction(Role.CLIENT, versions)
        self._server = _Direction(Role.SERVER, versions)
        #: Flights not parsed yet, in the order they crossed: (direction, index, offset,
        #: data, its whole records).
        self._backlog: deque[tuple[_Direction, int, int, bytes, bytes]] = deque()
        self._parsing = threading.Lock()  # a report may read records while bytes move
        #: The TLS 1.3 decryption state (None without ``keys``).
        self.decryptor: Decryptor | None = None
        self._resealer: Resealer | None = None
        if keys is not None:
            self.decryptor = Decryptor(keys, versions)
            self._resealer = Resealer(self.decryptor, resequence=resequence)
        self.deliveries: list[tuple[Role, bytes]] = []

    # -- what crossed ----------------------------------------------------------

    @property
    def records(self) -> dict[Role, list[Record]]:
        """Every record each side wrote, in order, as parsed before any fault."""
        self._parse()
        return {d.role: [rec for f in d.flights for rec in f.records] for d in self._both()}

    @property
    def flights(self) -> dict[Role, list[Flight]]:
        """Every flight each side wrote, in order (bytes before any fault)."""
        self._parse()
        return {d.role: list(d.flights) for d in self._both()}

    @property
    def step_budget(self) -> int:
        """The step budget the driver uses by default with this wire (depends on the policy)."""
        return max(p.step_budget for p in self.policies.values())

    def in_flight(self, direction: Role) -> int:
        """Bytes (plus 1 for a pending EOF) from ``direction`` that will be delivered later.

        Counts the queue, coalesced flights and the start of a record the
        sender has not finished writing (its BIO filled up mid-record).
        """
        d = self._dir(direction)
        n = len(d.partial)
        if d.queue:
            n += sum(len(s.data) + (1 if s.eof else 0) for s in d.queue)
        if d.coalesced:
            n += sum(len(c.data) for c in d.coalesced)
        return n

    def held(self, direction: Role) -> int:
        """Bytes from ``direction`` that faults hold back until an event (delay, reorder)."""
        if not self.faults:
            return 0
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
        self._parse()
        lines = []
        for d in self._both():
            role = d.role
            lines.append(f"{role.value} -> {role.peer.value}:")
            for f in d.flights:
                recs = ", ".join(r.describe() for r in f.records) or "(partial record)"
                lines.append(f"  flight {f.index} @{f.offset} ({len(f)} B): {recs}")
            if d.closed:
                lines.append("  (closed: EOF delivered)")
        return "\n".join(lines)

    # -- carried by the C driver -------------------------------------------------

    def c_carriable(self, client: Endpoint, server: Endpoint) -> bool:
        """Whether the C driver may carry this wire between ``client`` and ``server``.

        True for a wire that only delivers whole records as soon as they
        crossed: no faults, no ``keys``, no ``tap``, a policy that keeps the
        base ``segments`` with no per-transfer limit (``FLIGHTS``), nothing
        queued or partial, and not a subclass with its own ``transfer``. The
        C driver (``ossl_drive_wire``) then logs what each transfer would
        have moved and :meth:`_carried` makes it this wire's backlog.
        """
        if type(self).transfer is not Wire.transfer:
            return False
        if self.faults or self.decryptor is not None or self.tap is not None:
            return False
        for d, end in ((self._client, client), (self._server, server)):
            policy = self.policies[d.role]
            if not _plain(policy) or policy.units is not None or policy.nbytes is not None:
                return False
            if d.queue or d.partial or d.coalesced or d.closed:
                return False
            known = d.end
            if known is not None and known() is not end:
                return False  # transfer() raises the mismatch
        return True

    def _carried(
        self,
        client: Endpoint,
        server: Endpoint,
        streams: tuple[bytes, bytes],
        flights: Sequence[tuple[int, int, int]],
        deliveries: Sequence[tuple[int, int]],
    ) -> None:
        """Take what the C driver carried as if :meth:`transfer` had moved it.

        ``streams[i]``: every byte side ``i`` (0 client, 1 server) wrote in
        the drive; ``flights``: ``(side, bytes read, stream offset where its
        whole records end)`` per transfer that read something, in the order
        they crossed; ``deliveries``: ``(side, bytes)`` per ``BIO_write``.
        The backlog, partial records, queue, ``deliveries`` and counters end
        up as the Python transfers leave them.
        """
        self._check_ends(client, server)
        dirs = self._both()
        read = [0, 0]
        whole = [0, 0]
        for i, n, end in flights:
            d = dirs[i]
            data = streams[i][read[i] : read[i] + n]
            self._backlog.append((d, d.count, d.offset, data, streams[i][whole[i] : end]))
            d.count += 1
            d.offset += n
            read[i] += n
            whole[i] = end
        sent = [0, 0]
        for i, n in deliveries:
            self.deliveries.append((dirs[i].role, streams[i][sent[i] : sent[i] + n]))
            sent[i] += n
        start = [0, 0]
        for i, _n, end in flights:
            first = max(start[i], sent[i])
            if end > first:  # whole records the receiver had no room for yet
                dirs[i].queue.append(Segment(streams[i][first:end]))
            start[i] = end
        for i, d in enumerate(dirs):
            d.delivered += sent[i]
            d.partial = streams[i][whole[i] :]

    # -- moving bytes ---------------------------------------------------------

    def transfer(self, src: Endpoint, dst: Endpoint) -> int:
        """Take what ``src`` wrote (``BIO_read``), apply faults, deliver to ``dst`` (``BIO_write``).

        Returns the number of bytes ``dst`` accepted in this call.
        """
        d = self._check_ends(src, dst)
        direction = d.role
        policy = self.policies[direction]
        data = src.bio_read()
        if self.decryptor is not None and self.decryptor.waiting:
            self._catch_up()
        if data:
            index = d.count
            d.count += 1
            whole = d.partial + data if d.partial else data
            end = whole_records(whole)
            d.partial = whole[end:]
            if end < len(whole):
                whole = whole[:end]
            self._backlog.append((d, index, d.offset, data, whole))
            d.offset += len(data)
            if not self.faults and self._resealer is None and _plain(policy):
                # Nothing reads the records on the way: move the bytes, parse later.
                if whole:
                    d.queue.append(Segment(whole))
                return self._deliver(d, dst, policy)
            self._parse()
            records = d.flights[-1].records
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
            other = self._server if d is self._client else self._client
            if released[other.role]:
                other.queue.extend(self.policies[other.role].segments(released[other.role]))
        elif d.coalesced:
            self._release_coalesced(d, policy)  # the sender is waiting: stop holding
        return self._deliver(d, dst, policy)

    def _parse(self) -> None:
        """Parse the flights of the backlog into records, in the order they crossed.

        With keys the records are annotated (decrypted) here too; a wire with
        keys parses each flight in its own transfer, before the faults.
        """
        backlog = self._backlog
        if not backlog:
            return
        with self._parsing:
            while backlog:
                d, index, offset, data, whole = backlog[0]
                if d.stream is None:
                    d.stream = RecordStream(d.role, d.versions)
                records = d.stream.feed_whole(whole, index)
                if self.decryptor is not None:
                    records = self.decryptor.annotate(d.role, records)
                d.flights.append(Flight(d.role, index, offset, data, tuple(records)))
                backlog.popleft()

    def _catch_up(self) -> None:
        """Put records decrypted late (their key log line came after them) into the flights."""
        assert self.decryptor is not None
        self._parse()
        for role, opened in self.decryptor.catch_up().items():
            flights = self._dir(role).flights
            for index, rec in opened:
                f = flights[rec.flight]
                records = tuple(rec if r.index == index else r for r in f.records)
                flights[rec.flight] = dataclasses.replace(f, records=records)

    def refresh(self) -> None:
        """Decrypt the records whose keys arrived late (``records``, ``describe`` show them)."""
        if self.decryptor is not None:
            self._catch_up()

    def _both(self) -> tuple[_Direction, _Direction]:
        return self._client, self._server

    def _dir(self, role: Role) -> _Direction:
        """The direction ``role`` sends in (compared by identity: a Role's hash runs Python)."""
        if role is Role.CLIENT:
            return self._client
        if role is Role.SERVER:
            return self._server
        raise ValueError(f"not a Role: {role!r}")

    def _check_ends(self, src: Endpoint, dst: Endpoint) -> _Direction:
        """``src``'s direction, once both ends are known to be this wire's pair."""
        if src.role is dst.role:
            raise ValueError(f"both ends of the wire are {src.role.value}s")
        sending, receiving = self._dir(src.role), self._dir(dst.role)
        for conn, d in ((src, sending), (dst, receiving)):
            known = d.end
            if known is None:
                d.end = weakref.ref(conn)
            elif known() is not conn:
                raise ValueError("a Wire carries one connection pair: make a new Wire per pair")
        return sending

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
