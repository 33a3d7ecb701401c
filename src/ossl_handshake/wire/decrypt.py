"""Decrypted TLS 1.3 flights: what the wire learns from the records once it has keys.

Pure Python: the cryptography is injected. The upper layers (see
:class:`ossl_handshake.observe.decrypt.KeyLog`) hand the
:class:`~ossl_handshake.wire.Wire` an object of the :class:`TrafficKeys`
protocol: given the connection's client random, the negotiated cipher suite
and a key log label, it returns a :class:`Cipher` that opens and seals whole
records (RFC 8446 5.2: key and IV by HKDF-Expand-Label, per-record nonce =
IV XOR sequence number).

:class:`Decryptor` follows one connection in both directions:

- the **client random** comes from the ClientHello, the **suite** from the
  ServerHello (TLS 1.2 and earlier stay record-level: nothing is decrypted);
- each direction walks its traffic secrets in order (client: early data,
  handshake, application 0, 1, ... after each KeyUpdate; server: handshake,
  application 0, 1, ...). A record is opened with the current secret at the
  direction's next sequence number, or else with one of the next secrets at
  sequence 0: the AEAD tag is what decides, so HelloRetryRequest, early data
  and KeyUpdate need no state machine of their own;
- a record whose key is not known yet (the key log line has not arrived)
  stays encrypted, and so do the records after it in that direction, until
  the line arrives (:meth:`Decryptor.catch_up`).

On the way out, :class:`Resealer` keeps the *receiver's* sequence numbers:
records are counted as delivered (after the faults), so a dropped,
duplicated or injected record shifts the numbers of the records after it,
and those are sealed again with the number the receiver expects. A fault
that edits a *message* (:class:`~ossl_handshake.wire.faults.EditMessage`)
hands the new TLSInnerPlaintext to the resealer, which seals it with the
right key and number, so the peer reports the message-level error (a
truncated EncryptedExtensions is ``decode_error``), not ``bad_record_mac``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ossl_handshake.tls.records import (
    APPLICATION_DATA,
    HANDSHAKE,
    HEADER_LEN,
    Record,
    RecordStream,
    VersionState,
)
from ossl_handshake.tls.roles import Role
from ossl_handshake.wire.faults import Chunk

_CLIENT_HELLO = 1
_SERVER_HELLO = 2
#: Secrets tried beyond the current one: enough for early data -> handshake -> application.
_LOOKAHEAD = 3


class Cipher(Protocol):
    """Opens and seals whole TLS 1.3 records under one traffic secret."""

    def open(self, seq: int, record: bytes) -> bytes | None:
        """The TLSInnerPlaintext of ``record`` as number ``seq``, or None if the tag fails."""
        ...

    def seal(self, seq: int, inner: bytes) -> bytes:
        """A whole record (header included) protecting ``inner`` as number ``seq``."""
        ...


class TrafficKeys(Protocol):
    """What the wire asks of its keys: a :class:`Cipher` for one secret, or None."""

    def cipher(
        self, client_random: bytes, suite: int, label: str, generation: int
    ) -> Cipher | None:
        """The cipher for key log ``label`` (``SERVER_HANDSHAKE_TRAFFIC_SECRET``...).

        ``generation`` counts KeyUpdates for the application secrets
        (``CLIENT_TRAFFIC_SECRET_0`` updated ``generation`` times); None when
        the key log has no such line (yet) or the suite is not supported.
        """
        ...


def epoch_label(direction: Role, index: int) -> tuple[str, int]:
    """The key log label and KeyUpdate generation of a direction's ``index``-th secret."""
    if direction is Role.CLIENT:
        if index == 0:
            return "CLIENT_EARLY_TRAFFIC_SECRET", 0
        if index == 1:
            return "CLIENT_HANDSHAKE_TRAFFIC_SECRET", 0
        return "CLIENT_TRAFFIC_SECRET_0", index - 2
    if index == 0:
        return "SERVER_HANDSHAKE_TRAFFIC_SECRET", 0
    return "SERVER_TRAFFIC_SECRET_0", index - 1


def epoch_name(direction: Role, index: int) -> str:
    """``SERVER_HANDSHAKE_TRAFFIC_SECRET``, ``CLIENT_TRAFFIC_SECRET_0``, ``..._1``..."""
    label, gen = epoch_label(direction, index)
    return label[:-1] + str(gen) if gen else label


def split_inner(inner: bytes) -> tuple[bytes, int] | None:
    """``(content, type)`` of a TLSInnerPlaintext (zero padding removed); None if all zeros."""
    end = len(inner)
    while end and inner[end - 1] == 0:
        end -= 1
    if not end:
        return None
    return inner[: end - 1], inner[end - 1]


@dataclass
class _Side:
    direction: Role
    current: int = -1
    seq: int = 0
    messages: RecordStream = field(init=False)
    #: Indexes (in ``Decryptor.records[direction]``) still waiting for their key.
    pending: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.messages = RecordStream(self.direction)


class Decryptor:
    """Names and opens the TLS 1.3 records of one connection, both directions.

    ``annotate(direction, records)`` returns the records with ``plaintext``,
    ``inner_type``, ``epoch``, ``seq`` and the encrypted handshake messages
    (``handshake_types``) filled in where the keys allow.
    """

    def __init__(self, keys: TrafficKeys, versions: VersionState | None = None) -> None:
        self.keys = keys
        self.versions = versions if versions is not None else VersionState()
        self.client_random: bytes | None = None
        self.suite: int | None = None
        self._sides = {r: _Side(r) for r in Role}
        self._epochs: dict[tuple[Role, str], int] = {}
        #: Every record seen per direction, annotated as far as the keys allowed.
        self.records: dict[Role, list[Record]] = {r: [] for r in Role}

    def cipher(self, direction: Role, epoch: int) -> Cipher | None:
        """The cipher of ``direction``'s ``epoch``-th secret (None when unknown)."""
        if self.client_random is None or self.suite is None:
            return None
        label, gen = epoch_label(direction, epoch)
        return self.keys.cipher(self.client_random, self.suite, label, gen)

    def _learn(self, rec: Record) -> None:
        """The client random (ClientHello) and the suite (ServerHello, HRR) from plaintext."""
        if rec.content_type != HANDSHAKE or rec.encrypted:
            return
        payload = rec.payload
        for name, off in zip(rec.handshake_types, rec.message_offsets, strict=False):
            body = payload[off + 4 :]
            if name == "ClientHello" and len(body) >= 34 and self.client_random is None:
                self.client_random = bytes(body[2:34])
            elif name in ("ServerHello", "HelloRetryRequest") and len(body) >= 35:
                pos = 35 + body[34]
                if len(body) >= pos + 2:
                    self.suite = (body[pos] << 8) | body[pos + 1]

    def annotate(self, direction: Role, records: Sequence[Record]) -> list[Record]:
        """Annotate newly seen records of ``direction`` (in order); returns them.

        A protected record whose key is not known yet is returned as it is
        and retried by :meth:`catch_up`, and so is every later one of its
        direction (sequence numbers are counted in order).
        """
        side = self._sides[direction]
        store = self.records[direction]
        out: list[Record] = []
        for rec in records:
            self._learn(rec)
            if self._protected(rec):
                opened = None if side.pending else self._open(side, rec)
                if opened is None:
                    side.pending.append(len(store))
                else:
                    rec = opened
            store.append(rec)
            out.append(rec)
        return out

    def _protected(self, rec: Record) -> bool:
        return (
            rec.content_type == APPLICATION_DATA
            and self.versions.tls13
            and rec.length > 16
            and rec.plaintext is None
        )

    def _open(self, side: _Side, rec: Record) -> Record | None:
        """Try the current secret at the next number, then the next secrets at 0."""
        first = max(side.current, 0)
        for epoch in range(first, first + _LOOKAHEAD + 1):
            cipher = self.cipher(side.direction, epoch)
            if cipher is None:
                continue
            seq = side.seq if epoch == side.current else 0
            inner = cipher.open(seq, rec.data)
            parts = split_inner(inner) if inner is not None else None
            if parts is None:
                continue
            content, inner_type = parts
            side.current, side.seq = epoch, seq + 1
            types, offsets = side.messages.messages_in(inner_type, content)
            name = epoch_name(side.direction, epoch)
            self._epochs[side.direction, name] = epoch
            return dataclasses.replace(
                rec,
                plaintext=content,
                inner_type=inner_type,
                epoch=name,
                seq=seq,
                handshake_types=types,
                message_offsets=offsets,
            )
        return None

    def catch_up(self) -> dict[Role, list[tuple[int, Record]]]:
        """Retry records whose key was late; returns ``(index, record)`` newly opened."""
        done: dict[Role, list[tuple[int, Record]]] = {r: [] for r in Role}
        for direction, side in self._sides.items():
            store = self.records[direction]
            while side.pending:
                i = side.pending[0]
                opened = self._open(side, store[i])
                if opened is None:
                    break
                store[i] = opened
                done[direction].append((i, opened))
                side.pending.pop(0)
        return done

    @property
    def waiting(self) -> int:
        """Protected records still waiting for their key, both directions."""
        return sum(len(s.pending) for s in self._sides.values())

    def epoch_of(self, rec: Record) -> int | None:
        """The secret index of a decrypted record (None otherwise)."""
        if rec.epoch is None:
            return None
        return self._epochs.get((rec.direction, rec.epoch))


@dataclass
class _Out:
    #: Records delivered (after the faults) per secret index: the receiver's next number.
    counts: dict[int, int] = field(default_factory=dict)
    last: int | None = None
    #: Protected records delivered while their key was unknown (a key log
    #: line that came late): the receiver counted them, so the next record
    #: the wire can open continues after them.
    blind: int = 0


class Resealer:
    """Seals what goes out with the receiver's sequence numbers (see the module docstring)."""

    def __init__(self, decryptor: Decryptor, *, resequence: bool = True) -> None:
        self.decryptor = decryptor
        self.resequence = resequence
        self._out = {r: _Out() for r in Role}
        #: Records sealed again (edited or renumbered), per sending direction.
        self.resealed: dict[Role, int] = {r: 0 for r in Role}

    def process(self, direction: Role, chunks: list[Chunk]) -> list[Chunk]:
        """The chunks as they must be delivered: edited messages sealed, numbers kept."""
        out_state = self._out[direction]
        result: list[Chunk] = []
        for chunk in chunks:
            rec = chunk.record
            epoch = self.decryptor.epoch_of(rec) if rec is not None else None
            if chunk.eof or epoch is None or rec is None:
                if not chunk.eof and rec is not None and rec.content_type == APPLICATION_DATA:
                    out_state.blind += 1
                if not chunk.eof and rec is None and out_state.last is not None:
                    # Injected bytes: each whole protected record takes a number.
                    n = _protected_records(chunk.data)
                    out_state.counts[out_state.last] = out_state.counts.get(out_state.last, 0) + n
                result.append(chunk)
                continue
            seq = out_state.counts.get(epoch, 0) + out_state.blind
            out_state.blind = 0
            out_state.counts[epoch] = seq + 1
            out_state.last = epoch
            inner = chunk.inner
            if inner is None and chunk.data == rec.data and self.resequence and seq != rec.seq:
                assert rec.plaintext is not None and rec.inner_type is not None
                inner = rec.plaintext + bytes([rec.inner_type])
            if inner is None:
                result.append(chunk)
                continue
            cipher = self.decryptor.cipher(direction, epoch)
            if cipher is None:  # pragma: no cover - the record was opened with it
                result.append(chunk)
                continue
            self.resealed[direction] += 1
            result.append(Chunk(cipher.seal(seq, inner), rec))
        return result


def _protected_records(data: bytes) -> int:
    """Whole ``application_data`` records in injected bytes."""
    n = pos = 0
    while len(data) - pos >= HEADER_LEN:
        end = pos + HEADER_LEN + ((data[pos + 3] << 8) | data[pos + 4])
        if end > len(data):
            break
        n += data[pos] == APPLICATION_DATA
        pos = end
    return n


__all__ = [
    "Cipher",
    "Decryptor",
    "Resealer",
    "TrafficKeys",
    "epoch_label",
    "epoch_name",
    "split_inner",
]
