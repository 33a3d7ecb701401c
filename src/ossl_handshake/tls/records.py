"""TLS record and handshake-message parsing of one direction's byte stream.

Pure Python, no OpenSSL calls: the :class:`~ossl_handshake.wire.Wire` feeds
each direction's bytes, as libssl wrote them into its network BIO, to a
:class:`RecordStream` and gets whole :class:`Record` objects back. Partial
records are kept until the rest arrives (a BIO pair that filled up mid-record
is normal).

Each record carries its header fields (RFC 8446 5.1 / RFC 5246 6.2.1:
content type, legacy version, length) and, when its payload is plaintext
handshake data, the handshake message types that *start* in it (a message
can span records; several messages can share one). A record is encrypted
when it is TLS 1.3 ``application_data`` or, in TLS 1.2 and earlier, any
record after that direction's ChangeCipherSpec. The negotiated version is
read from the ServerHello's ``supported_versions`` extension, so the stream
knows TLS 1.3's compatibility ChangeCipherSpec does not encrypt the
handshake records after it (a ClientHello or ServerHello after a
HelloRetryRequest).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ossl_handshake.tls.names import (
    HRR_RANDOM,
    alert_name,
    content_type_name,
    handshake_type_name,
    version_name,
)
from ossl_handshake.tls.roles import Role

#: Bytes in a TLS record header: type (1), legacy version (2), length (2).
HEADER_LEN = 5
CHANGE_CIPHER_SPEC = 20
ALERT = 21
HANDSHAKE = 22
APPLICATION_DATA = 23
TLS13 = 0x0304
_EXT_SUPPORTED_VERSIONS = 43


@dataclass(frozen=True, slots=True)
class Record:
    """One TLS record as it crossed the wire (header included in ``data``).

    ``index`` counts the records of its direction from 0, ``flight`` the
    flights of that direction (a flight is what one side wrote between two
    deliveries; a record belongs to the flight that completed it),
    ``offset`` is the position of its first header byte in the direction's
    stream. ``handshake_types`` names the handshake messages starting in
    this record, ``message_offsets`` where each starts in the record's
    content (the payload, or ``plaintext`` once decrypted). An encrypted TLS
    1.3 record decrypted with keys (:mod:`ossl_handshake.wire.decrypt`) also
    carries ``plaintext`` (its content, without the type byte and padding),
    ``inner_type`` (the real content type), ``epoch`` (the traffic secret's
    key log label, e.g. ``SERVER_HANDSHAKE_TRAFFIC_SECRET`` or
    ``CLIENT_TRAFFIC_SECRET_1`` after a KeyUpdate) and ``seq`` (its sequence
    number in that epoch); without keys they are None and
    ``handshake_types`` is empty.
    """

    direction: Role
    index: int
    flight: int
    offset: int
    content_type: int
    version: int
    length: int
    data: bytes
    encrypted: bool
    handshake_types: tuple[str, ...] = ()
    message_offsets: tuple[int, ...] = ()
    plaintext: bytes | None = None
    inner_type: int | None = None
    epoch: str | None = None
    seq: int | None = None

    @property
    def decrypted(self) -> bool:
        """True for an encrypted record whose plaintext the wire's keys revealed."""
        return self.plaintext is not None

    @property
    def content_type_name(self) -> str:
        """``handshake``, ``alert``, ``application_data``, ``change_cipher_spec``..."""
        return content_type_name(self.content_type)

    @property
    def version_name(self) -> str:
        """The header's legacy version: ``TLSv1.2`` (TLS 1.3 records say 1.2 too)."""
        return version_name(self.version)

    @property
    def payload(self) -> bytes:
        """The record body after the 5-byte header."""
        return self.data[HEADER_LEN:]

    @property
    def alert(self) -> tuple[int, int] | None:
        """``(level, description)`` of a plaintext alert record, else None."""
        if self.plaintext is not None:
            if self.inner_type != ALERT or len(self.plaintext) < 2:
                return None
            return self.plaintext[0], self.plaintext[1]
        if self.content_type != ALERT or self.encrypted or self.length < 2:
            return None
        return self.data[HEADER_LEN], self.data[HEADER_LEN + 1]

    def describe(self) -> str:
        """``#2 handshake[ServerHello] 122 B`` or ``#4 application_data (encrypted) 53 B``."""
        what = self.content_type_name
        if self.inner_type is not None:
            what = content_type_name(self.inner_type)
        if self.handshake_types:
            what += "[" + ",".join(self.handshake_types) + "]"
        elif self.alert is not None and self.plaintext is not None:
            what += f"[{alert_name(self.alert[1])}]"
        if self.plaintext is not None:
            what += " (decrypted)"
        elif self.encrypted:
            what += " (encrypted)"
        return f"#{self.index} {what} {len(self.data)} B"

    def __repr__(self) -> str:
        return f"<Record {self.direction.value} flight {self.flight} {self.describe()}>"


@dataclass
class VersionState:
    """What both directions learned from the ServerHello: the negotiated version."""

    negotiated: int | None = None

    @property
    def tls13(self) -> bool:
        return self.negotiated == TLS13


@dataclass
class RecordStream:
    """Incremental parser for one direction: :meth:`feed` bytes, get whole records.

    Tolerant: a record whose header is not TLS (garbage, an HTTP request) is
    still cut by its length field, so the parser never raises; bytes that
    do not yet form a whole record stay in :attr:`partial`.
    """

    direction: Role
    versions: VersionState = field(default_factory=VersionState)
    offset: int = 0
    count: int = 0
    partial: bytearray = field(default_factory=bytearray)
    seen_ccs: bool = False
    _hs: bytearray = field(default_factory=bytearray)
    _hs_base: int = 0

    def feed(self, data: bytes, flight: int) -> list[Record]:
        """Parse ``data`` (appended to any partial record) into complete records."""
        buf = self.partial
        buf += data
        end = whole_records(buf)
        out = self.feed_whole(bytes(buf[:end]), flight)
        del buf[:end]
        return out

    def feed_whole(self, data: bytes, flight: int) -> list[Record]:
        """Parse ``data``, which holds whole records only (cut by :func:`whole_records`).

        For a caller that keeps the partial record itself (the wire): the
        stream's own :attr:`partial` must be empty.
        """
        out: list[Record] = []
        pos = 0
        while len(data) - pos >= HEADER_LEN:
            length = (data[pos + 3] << 8) | data[pos + 4]
            end = pos + HEADER_LEN + length
            if end > len(data):
                break  # not whole after all: nothing past it is read
            version = (data[pos + 1] << 8) | data[pos + 2]
            raw = data[pos:end]
            out.append(self._record(data[pos], version, length, raw, flight))
            pos = end
        return out

    def _encrypted(self, ctype: int) -> bool:
        if ctype == APPLICATION_DATA:
            return True
        if ctype == CHANGE_CIPHER_SPEC:
            return False
        # TLS 1.3 protects everything as application_data; a handshake or
        # alert record with its own type is plaintext there. In TLS <= 1.2
        # everything after our ChangeCipherSpec is protected.
        return self.seen_ccs and not self.versions.tls13

    def _record(self, ctype: int, version: int, length: int, raw: bytes, flight: int) -> Record:
        encrypted = self._encrypted(ctype)
        types, offsets = self.messages_in(None if encrypted else ctype, raw[HEADER_LEN:])
        if ctype == CHANGE_CIPHER_SPEC:
            self.seen_ccs = True
        rec = Record(
            direction=self.direction,
            index=self.count,
            flight=flight,
            offset=self.offset,
            content_type=ctype,
            version=version,
            length=length,
            data=raw,
            encrypted=encrypted,
            handshake_types=types,
            message_offsets=offsets,
        )
        self.count += 1
        self.offset += len(raw)
        return rec

    def messages_in(
        self, content_type: int | None, payload: bytes
    ) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """:meth:`handshake_messages` of a plaintext ``payload`` of type ``content_type``;
        none for another type (or None: not readable)."""
        if content_type != HANDSHAKE:
            return (), ()
        return self.handshake_messages(payload)

    def handshake_messages(self, payload: bytes) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """Reassemble handshake messages; name those whose header starts in ``payload``.

        Returns the names and where each starts in ``payload``. The wire's
        decryption feeds decrypted handshake content through a stream of its
        own.

        ``_hs`` holds the handshake stream from the next message header on;
        ``_hs_base`` is how many handshake bytes came before it.
        """
        first = self._hs_base + len(self._hs)  # stream position of payload[0]
        self._hs += payload
        hs = self._hs
        names: list[str] = []
        offsets: list[int] = []
        pos = 0
        while pos < len(hs):
            mtype = hs[pos]
            whole = len(hs) - pos >= 4
            mlen = (hs[pos + 1] << 16) | (hs[pos + 2] << 8) | hs[pos + 3] if whole else 0
            complete = whole and pos + 4 + mlen <= len(hs)
            body = bytes(hs[pos + 4 : pos + 4 + mlen]) if complete else b""
            if self._hs_base + pos >= first:
                names.append(self._name(mtype, body))
                offsets.append(self._hs_base + pos - first)
            if not complete:
                break
            if mtype == 2 and self.direction is Role.SERVER:
                self._learn_version(body)
            pos += 4 + mlen
        del hs[:pos]
        self._hs_base += pos
        return tuple(names), tuple(offsets)

    @staticmethod
    def _name(mtype: int, body: bytes) -> str:
        if mtype == 2 and body[2:34] == HRR_RANDOM:
            return "HelloRetryRequest"
        return handshake_type_name(mtype)

    def _learn_version(self, body: bytes) -> None:
        """Read the version a ServerHello selects (``supported_versions`` or legacy)."""
        if len(body) < 35:
            return
        version = (body[0] << 8) | body[1]
        pos = 34
        sid_len = body[pos]
        pos += 1 + sid_len + 2 + 1  # session id, cipher suite, compression
        if pos + 2 <= len(body):
            ext_end = min(len(body), pos + 2 + ((body[pos] << 8) | body[pos + 1]))
            pos += 2
            while pos + 4 <= ext_end:
                etype = (body[pos] << 8) | body[pos + 1]
                elen = (body[pos + 2] << 8) | body[pos + 3]
                if etype == _EXT_SUPPORTED_VERSIONS and elen == 2:
                    version = (body[pos + 4] << 8) | body[pos + 5]
                pos += 4 + elen
        self.versions.negotiated = version


def whole_records(buf: bytes | bytearray) -> int:
    """How many leading bytes of ``buf`` form whole records (the rest is a partial one).

    Reads only the length fields (RFC 8446 5.1), like :meth:`RecordStream.feed`:
    garbage is cut by its "length" too, and a zero-length record is whole at
    its header.
    """
    pos = 0
    n = len(buf)
    while n - pos >= HEADER_LEN:
        end = pos + HEADER_LEN + ((buf[pos + 3] << 8) | buf[pos + 4])
        if end > n:
            break
        pos = end
    return pos


def parse(data: bytes, direction: Role = Role.CLIENT) -> list[Record]:
    """Parse a complete byte string into records (one flight, no cross-call state)."""
    return RecordStream(direction).feed(data, 0)


__all__ = [
    "ALERT",
    "APPLICATION_DATA",
    "CHANGE_CIPHER_SPEC",
    "HANDSHAKE",
    "HEADER_LEN",
    "Record",
    "RecordStream",
    "VersionState",
    "parse",
    "whole_records",
]
