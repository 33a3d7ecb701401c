"""Faults a :class:`~ossl_handshake.wire.Wire` applies to the records it carries.

A fault is aimed by a :class:`Select` (direction, record index, flight,
content type, handshake message type, encrypted or not) and acts on at most
``times`` matching records (default 1; ``None`` for every match). Faults
compose: the wire passes each flight's records through every fault in the
order given, and each fault sees the output of the previous one (selectors
always match on the *original* record, so a duplicated record can still be
corrupted; injected bytes are never matched).

Every fault counts how often it fired (:attr:`Fault.fired`). After a drive
with a wire, :func:`~ossl_handshake.pair.drive` raises
:class:`FaultNotFiredError` when a fault never fired (unless it was created
with ``optional=True``): a scenario whose fault missed its target must fail,
not pass as if the fault had been survived.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ossl_handshake.tls.names import CONTENT_TYPES
from ossl_handshake.tls.records import Record
from ossl_handshake.tls.roles import Role

_CONTENT_CODES = {name: code for code, name in CONTENT_TYPES.items()}


class FaultNotFiredError(AssertionError):
    """A fault never matched a record: the scenario did not test what it claims.

    ``faults`` lists the faults that did not fire; ``result`` is the
    :class:`~ossl_handshake.result.HandshakeResult` of the drive.
    """

    def __init__(self, message: str, faults: list[Fault], result: Any = None) -> None:
        super().__init__(message)
        self.faults = faults
        self.result = result


@dataclass(frozen=True)
class Select:
    """Which records a fault aims at; every given field must match (None = any).

    ``direction`` is the *sender* (``Role.SERVER``: server to client).
    ``record`` and ``flight`` are 0-based indexes within the direction.
    ``content_type`` is a name (``"alert"``, ``"handshake"``,
    ``"application_data"``, ``"change_cipher_spec"``) or number.
    ``handshake_type`` (``"Certificate"``) matches records in which a
    message of that type starts: plaintext handshake records (TLS 1.2, the
    hellos of TLS 1.3) and, when the wire has keys (``Wire(keys=...)``),
    the encrypted TLS 1.3 messages (EncryptedExtensions, Certificate,
    CertificateVerify, Finished, NewSessionTicket, KeyUpdate...); without
    keys those stay unnamed: aim by ``record`` instead.
    ``encrypted`` restricts to protected (True) or plaintext (False) records.
    Selectors see only the outer record header: an encrypted TLS 1.3 alert
    is an ``application_data`` record, so there ``content_type="alert"``
    matches only alerts sent before the keys were in place (TLS 1.2 alerts
    keep their record type, encrypted or not).
    """

    direction: Role | None = None
    record: int | None = None
    flight: int | None = None
    content_type: str | int | None = None
    handshake_type: str | None = None
    encrypted: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.content_type, str) and self.content_type not in _CONTENT_CODES:
            raise ValueError(
                f"unknown content type {self.content_type!r}; one of {sorted(_CONTENT_CODES)}"
            )

    def matches(self, rec: Record) -> bool:
        """True when ``rec`` satisfies every field that is set."""
        if self.direction is not None and rec.direction is not self.direction:
            return False
        if self.record is not None and rec.index != self.record:
            return False
        if self.flight is not None and rec.flight != self.flight:
            return False
        if self.content_type is not None:
            code = (
                _CONTENT_CODES[self.content_type]
                if isinstance(self.content_type, str)
                else self.content_type
            )
            if rec.content_type != code:
                return False
        if self.handshake_type is not None and self.handshake_type not in rec.handshake_types:
            return False
        return self.encrypted is None or rec.encrypted == self.encrypted

    def __str__(self) -> str:
        parts = [
            f"{k}={v.value if isinstance(v, Role) else v!r}"
            for k, v in vars(self).items()
            if v is not None
        ]
        return "any record" if not parts else ", ".join(parts)


#: Matches every record in both directions.
ANY = Select()
#: TLS 1.3 early data (0-RTT): the encrypted records (outer type application_data)
#: of the client's first flight, after its ClientHello (and compatibility CCS).
EARLY_DATA = Select(direction=Role.CLIENT, flight=0, content_type="application_data")


@dataclass(slots=True)
class Chunk:
    """Bytes on their way through the faults: a record, injected bytes, or an EOF mark.

    ``inner`` is set by a message edit of a decrypted record: the new
    TLSInnerPlaintext, which the wire seals (with the receiver's sequence
    number) in place of ``data``.
    """

    data: bytes
    record: Record | None = None
    eof: bool = False
    inner: bytes | None = None

    @property
    def direction(self) -> Role | None:
        return self.record.direction if self.record is not None else None


class Fault:
    """Base class: aim with ``select``, act on at most ``times`` records (None = all).

    Subclasses implement :meth:`apply` (one matched chunk in, chunks out) or
    override :meth:`process` for stateful behaviour across flights.
    """

    def __init__(self, select: Select = ANY, *, times: int | None = 1, optional: bool = False):
        if not isinstance(select, Select):
            raise TypeError(f"select must be a Select, not {type(select).__name__}")
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, not {times}")
        self.select = select
        self.times = times
        self.optional = optional
        self.fired = 0

    def _hit(self, chunk: Chunk) -> bool:
        """Match ``chunk`` and, when it matches and budget remains, count a firing."""
        if chunk.record is None or chunk.eof:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        if not self.select.matches(chunk.record):
            return False
        self.fired += 1
        return True

    def process(self, direction: Role, flight: int, chunks: list[Chunk]) -> list[Chunk]:
        """Transform one flight's chunks (called by the wire once per flight)."""
        out: list[Chunk] = []
        for chunk in chunks:
            out.extend(self.apply(chunk) if self._hit(chunk) else (chunk,))
        return out

    def apply(self, chunk: Chunk) -> list[Chunk]:
        """What a matched chunk becomes."""
        return [chunk]

    def on_flight(self, direction: Role, flight: int) -> list[Chunk]:
        """Called after each flight was processed; returns chunks released now."""
        return []

    def held(self, direction: Role) -> int:
        """Bytes of ``direction`` this fault holds back, waiting for a later event."""
        return 0

    def _args(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self._args()
        times = "all" if self.times is None else str(self.times)
        return (
            f"{type(self).__name__}({self.select}{', ' + extra if extra else ''}; "
            f"times={times}, fired={self.fired})"
        )


class Drop(Fault):
    """Remove the record from the stream."""

    def apply(self, chunk: Chunk) -> list[Chunk]:
        return []


class Truncate(Fault):
    """Keep only the first ``at`` bytes of the record (header included)."""

    def __init__(self, select: Select = ANY, at: int = 5, **kw: Any) -> None:
        super().__init__(select, **kw)
        self.at = at

    def apply(self, chunk: Chunk) -> list[Chunk]:
        return [Chunk(chunk.data[: self.at], chunk.record)]

    def _args(self) -> str:
        return f"at={self.at}"


class Corrupt(Fault):
    """XOR one byte of the record with ``xor``; ``offset`` counts from the header's first byte.

    Negative offsets count from the end (-1, the default, is the last byte:
    part of the AEAD tag of an encrypted record). An offset outside the
    record raises ``IndexError`` (a scenario aimed at a byte that is not there);
    a record that an earlier fault shortened past the offset passes unchanged.
    """

    def __init__(self, select: Select = ANY, offset: int = -1, xor: int = 0x01, **kw: Any):
        super().__init__(select, **kw)
        if not 0 < xor < 256:
            raise ValueError(f"xor must be 1..255, not {xor}")
        self.offset = offset
        self.xor = xor

    def apply(self, chunk: Chunk) -> list[Chunk]:
        data = bytearray(chunk.data)
        if not -len(data) <= self.offset < len(data):
            original = len(chunk.record.data) if chunk.record is not None else 0
            if -original <= self.offset < original:
                return [chunk]  # an earlier fault (Truncate) already cut this byte away
            raise IndexError(
                f"Corrupt offset {self.offset} outside a {len(data)}-byte record ({chunk.record!r})"
            )
        data[self.offset] ^= self.xor
        return [Chunk(bytes(data), chunk.record)]

    def _args(self) -> str:
        return f"offset={self.offset}, xor=0x{self.xor:02x}"


class Duplicate(Fault):
    """Send the record twice in a row."""

    def apply(self, chunk: Chunk) -> list[Chunk]:
        return [chunk, Chunk(chunk.data, chunk.record)]


class Inject(Fault):
    """Put ``data`` (forged alert, garbage, HTTP request) before, after or instead of the record."""

    def __init__(
        self,
        select: Select = ANY,
        data: bytes = b"",
        where: Literal["before", "after", "instead"] = "before",
        **kw: Any,
    ) -> None:
        super().__init__(select, **kw)
        if where not in ("before", "after", "instead"):
            raise ValueError(f"where must be 'before', 'after' or 'instead', not {where!r}")
        if not isinstance(data, bytes):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        self.data = data
        self.where = where

    def apply(self, chunk: Chunk) -> list[Chunk]:
        extra = Chunk(self.data)
        if self.where == "instead":
            return [extra]
        return [extra, chunk] if self.where == "before" else [chunk, extra]

    def _args(self) -> str:
        return f"{len(self.data)} bytes {self.where}"


class Reorder(Fault):
    """Swap the record with the next record of the same direction (possibly a later flight)."""

    def __init__(self, select: Select = ANY, **kw: Any) -> None:
        super().__init__(select, **kw)
        self._waiting: dict[Role, list[Chunk]] = {Role.CLIENT: [], Role.SERVER: []}

    def process(self, direction: Role, flight: int, chunks: list[Chunk]) -> list[Chunk]:
        out: list[Chunk] = []
        waiting = self._waiting[direction]
        for chunk in chunks:
            if self._hit(chunk):
                waiting.append(chunk)
                continue
            out.append(chunk)
            if waiting and chunk.record is not None:
                out.extend(waiting)
                waiting.clear()
        return out

    def held(self, direction: Role) -> int:
        return sum(len(c.data) for c in self._waiting[direction])


class Delay(Fault):
    """Hold the record back until ``flights`` more flights from ``after`` have been sent.

    ``after`` defaults to the record's own direction; ``flights=0`` moves the
    record to the end of its own flight. Held records are released into
    their own direction's queue, behind what is already there. If the
    awaited flights never come (the other side needs this record first),
    the bytes stay held and the driver reports no progress.
    """

    def __init__(
        self, select: Select = ANY, flights: int = 1, after: Role | None = None, **kw: Any
    ) -> None:
        super().__init__(select, **kw)
        if flights < 0:
            raise ValueError(f"flights must be >= 0, not {flights}")
        self.flights = flights
        self.after = after
        # [chunk, awaited direction, flights still to see, (direction, flight) that held it]
        self._held: list[list[Any]] = []

    def process(self, direction: Role, flight: int, chunks: list[Chunk]) -> list[Chunk]:
        out: list[Chunk] = []
        for chunk in chunks:
            if self._hit(chunk):
                watch = self.after if self.after is not None else direction
                self._held.append([chunk, watch, self.flights, (direction, flight)])
            else:
                out.append(chunk)
        return out

    def on_flight(self, direction: Role, flight: int) -> list[Chunk]:
        released: list[Chunk] = []
        for entry in list(self._held):
            chunk, watch, left, origin = entry
            if watch is direction and origin != (direction, flight):
                left -= 1
                entry[2] = left
            if left <= 0:
                released.append(chunk)
                self._held.remove(entry)
        return released

    def held(self, direction: Role) -> int:
        return sum(len(e[0].data) for e in self._held if e[0].direction is direction)

    def _args(self) -> str:
        after = f", after={self.after.value}" if self.after is not None else ""
        return f"flights={self.flights}{after}"


class CloseAfter(Fault):
    """Close ``direction`` (``BIO_shutdown_wr`` on the receiver: EOF) after ``nbytes`` bytes.

    With ``flight`` the count starts at that flight's first byte (earlier
    bytes pass); otherwise at the start of the direction's stream. Bytes
    past the cut are discarded. Fires once, when the first byte past the
    cut arrives (a cut at the exact end of the stream never fires).
    """

    def __init__(
        self, direction: Role, nbytes: int, *, flight: int | None = None, optional: bool = False
    ) -> None:
        super().__init__(Select(direction=direction, flight=flight), times=1, optional=optional)
        if nbytes < 0:
            raise ValueError(f"nbytes must be >= 0, not {nbytes}")
        self.direction = direction
        self.nbytes = nbytes
        self.flight = flight
        self._count = 0

    def process(self, direction: Role, flight: int, chunks: list[Chunk]) -> list[Chunk]:
        if direction is not self.direction:
            return chunks
        if self.fired:
            return []  # the direction is closed: nothing more gets through
        if self.flight is not None and flight < self.flight:
            return chunks
        out: list[Chunk] = []
        for chunk in chunks:
            if chunk.eof:
                out.append(chunk)
                continue
            room = self.nbytes - self._count
            if len(chunk.data) <= room:
                out.append(chunk)
                self._count += len(chunk.data)
                continue
            if room > 0:
                out.append(Chunk(chunk.data[:room], chunk.record))
            self._count = self.nbytes
            self.fired += 1
            out.append(Chunk(b"", None, eof=True))
            break
        return out

    def _args(self) -> str:
        where = f" of flight {self.flight}" if self.flight is not None else ""
        return f"after {self.nbytes} bytes{where}"

    def __repr__(self) -> str:
        return f"CloseAfter({self.direction.value} {self._args()}; fired={self.fired})"


class EditMessage(Fault):
    """Rewrite one handshake *message* of the record and keep the record valid.

    ``edit(body) -> body`` gets the body of the first message of type
    ``select.handshake_type`` starting in the record (without its 4-byte
    header; the first message when no type is selected) and returns the new
    body; the message header's length is fixed to match. A plaintext record
    gets its record length fixed; a decrypted TLS 1.3 record is sealed again
    by the wire with the right key and the receiver's sequence number, so
    the peer parses the edited message and reports what is wrong with it
    (``decode_error``, ``illegal_parameter``...), not ``bad_record_mac``.
    Every edit changes the handshake transcript, so unless the peer fails
    on the message itself its Finished check fails (``decrypt_error``).
    An encrypted record the wire could not decrypt raises ``ValueError``.
    """

    def __init__(self, select: Select = ANY, edit: Any = None, **kw: Any) -> None:
        super().__init__(select, **kw)
        if not callable(edit):
            raise TypeError(f"edit must be callable (body -> body), not {edit!r}")
        self.edit = edit

    def apply(self, chunk: Chunk) -> list[Chunk]:
        rec = chunk.record
        assert rec is not None
        if rec.encrypted and rec.plaintext is None:
            raise ValueError(
                f"{type(self).__name__} needs the plaintext of {rec!r}: give the Wire keys "
                "(Wire(keys=KeyLog(...))) for TLS 1.3 records"
            )
        content = rec.plaintext if rec.plaintext is not None else rec.payload
        want = self.select.handshake_type
        starts = [
            off
            for name, off in zip(rec.handshake_types, rec.message_offsets, strict=False)
            if want is None or name == want
        ]
        if not starts:
            raise ValueError(f"no handshake message starts in {rec!r}")
        off = starts[0]
        body_len = int.from_bytes(content[off + 1 : off + 4], "big")
        end = off + 4 + body_len
        if len(content) < end:
            raise ValueError(f"the message at offset {off} of {rec!r} continues in a later record")
        body = bytes(self.edit(bytes(content[off + 4 : end])))
        new = content[:off] + content[off : off + 1] + len(body).to_bytes(3, "big") + body
        new += content[end:]
        if rec.plaintext is not None:
            assert rec.inner_type is not None
            return [Chunk(chunk.data, rec, inner=new + bytes([rec.inner_type]))]
        header = rec.data[:3] + len(new).to_bytes(2, "big")
        return [Chunk(header + new, rec)]


class TruncateMessage(EditMessage):
    """Keep only the first ``keep`` bytes of the message body (header length fixed)."""

    def __init__(self, select: Select = ANY, keep: int = 0, **kw: Any) -> None:
        if keep < 0:
            raise ValueError(f"keep must be >= 0, not {keep}")
        super().__init__(select, lambda body: body[:keep], **kw)
        self.keep = keep

    def _args(self) -> str:
        return f"keep={self.keep}"


class CorruptMessage(EditMessage):
    """XOR byte ``offset`` of the message body with ``xor`` (negative: from the end)."""

    def __init__(self, select: Select = ANY, offset: int = 0, xor: int = 0x01, **kw: Any) -> None:
        if not 0 < xor < 256:
            raise ValueError(f"xor must be 1..255, not {xor}")
        self.offset = offset
        self.xor = xor
        super().__init__(select, self._flip, **kw)

    def _flip(self, body: bytes) -> bytes:
        data = bytearray(body)
        if not -len(data) <= self.offset < len(data):
            raise IndexError(f"CorruptMessage offset {self.offset} outside a {len(data)}-byte body")
        data[self.offset] ^= self.xor
        return bytes(data)

    def _args(self) -> str:
        return f"offset={self.offset}, xor=0x{self.xor:02x}"


__all__ = [
    "ANY",
    "EARLY_DATA",
    "Chunk",
    "CloseAfter",
    "Corrupt",
    "CorruptMessage",
    "Delay",
    "Drop",
    "Duplicate",
    "EditMessage",
    "Fault",
    "FaultNotFiredError",
    "Inject",
    "Reorder",
    "Select",
    "Truncate",
    "TruncateMessage",
]
