"""Handshake trace: step, message, info and transfer events in one ordered list.

A :class:`Trace` watches one or more :class:`Connection` objects through
their observers (``Connection.on_info`` → ``SSL_set_info_callback``,
``Connection.on_message`` → ``SSL_set_msg_callback``), records every
``SSL_do_handshake`` call the driver makes (:meth:`Trace.record_step`) and
every flight of bytes that crosses the in-memory wire
(:meth:`Trace.transfer` / :meth:`Trace.on_transfer`). Key log lines come in
through :meth:`Trace.keylog_line`, a callable to give to
``Context(keylog=...)`` (``SSL_CTX_set_keylog_callback``).

Nothing is installed on a connection until :meth:`Trace.attach` is called, so
an untraced handshake runs without any Python callback.

A connection on a socket is traced with its bytes only in visible mode
(``Connection(ctx, sock=s, visible=True)``): :meth:`Trace.attach` then
records every flight both ways (the socket's transfers), and the ladder
names the remote peer's messages from its records (decrypted with the
trace's key log lines, TLS 1.3). A plain socket connection's bytes never
pass through Python: its ladder and capture files are refused with an error
saying so.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

from ossl_handshake._native import lib, text
from ossl_handshake.core.connection import Connection, Step
from ossl_handshake.core.keylog import keylog_from_env
from ossl_handshake.tls.names import (
    ALERT_LEVELS,
    HRR_RANDOM,
    alert_name,
    content_type_name,
    handshake_type_name,
    version_name,
)
from ossl_handshake.tls.roles import Role

_RT_HEADER = int(lib.SSL3_RT_HEADER)
_RT_INNER = int(lib.SSL3_RT_INNER_CONTENT_TYPE)
_RT_HANDSHAKE = int(lib.SSL3_RT_HANDSHAKE)
_RT_ALERT = int(lib.SSL3_RT_ALERT)
_RT_CCS = int(lib.SSL3_RT_CHANGE_CIPHER_SPEC)
_RT_APPDATA = int(lib.SSL3_RT_APPLICATION_DATA)

#: ``SSL_CB_*`` bits of the info callback's ``where``, most specific first.
_WHERE_BITS: tuple[tuple[str, int], ...] = (
    ("handshake_start", int(lib.SSL_CB_HANDSHAKE_START)),
    ("handshake_done", int(lib.SSL_CB_HANDSHAKE_DONE)),
    ("alert", int(lib.SSL_CB_ALERT)),
    ("connect", int(lib.SSL_CB_CONNECT_LOOP) & ~int(lib.SSL_CB_LOOP)),
    ("accept", int(lib.SSL_CB_ACCEPT_LOOP) & ~int(lib.SSL_CB_LOOP)),
    ("loop", int(lib.SSL_CB_LOOP)),
    ("exit", int(lib.SSL_CB_EXIT)),
    ("read", int(lib.SSL_CB_READ)),
    ("write", int(lib.SSL_CB_WRITE)),
)


def decode_where(where: int) -> tuple[str, ...]:
    """Names of the ``SSL_CB_*`` flags set in an info callback's ``where``."""
    return tuple(name for name, bit in _WHERE_BITS if where & bit)


@dataclass(frozen=True)
class Event:
    """Common fields: a per-trace sequence number, ``time.monotonic()`` and the side."""

    kind: ClassVar[str] = "event"

    seq: int
    time: float
    side: Role

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: enums as their values, bytes as hex."""
        d: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Role):
                v = v.value
            elif isinstance(v, bytes):
                v = v.hex()
            elif isinstance(v, tuple):
                v = list(v)
            d[f.name] = v
        return d


@dataclass(frozen=True)
class StepEvent(Event):
    """One ``SSL_do_handshake`` call: result, ``SSL_get_error``, states, bytes moved.

    ``bytes_written``/``bytes_read`` count whole TLS records (header + body)
    the side wrote or consumed during the call, from the message callback's
    record headers. ``reason`` is the first error-queue reason of a failed
    call (and the verification error, if any).
    """

    kind: ClassVar[str] = "step"

    index: int
    ret: int
    error_code: str
    state_before: str
    state_after: str
    bytes_written: int
    bytes_read: int
    reason: str | None = None

    @property
    def done(self) -> bool:
        return self.ret == 1

    @property
    def failed(self) -> bool:
        return self.ret != 1 and not self.error_code.startswith("WANT")


@dataclass(frozen=True)
class MessageEvent(Event):
    """One ``SSL_set_msg_callback`` call.

    ``content_type`` is the record content type name (``handshake``,
    ``alert``, ``change_cipher_spec``...) or ``record_header`` /
    ``inner_content_type`` for OpenSSL's pseudo types 256/257. For a record
    header, ``record_type``, ``record_version`` and ``record_length`` are the
    parsed 5 bytes; for an inner content type, ``record_type`` is the type
    hidden inside a TLS 1.3 record.
    """

    kind: ClassVar[str] = "message"

    direction: str  # "sent" or "received"
    content_type: str
    version: str
    length: int
    handshake_type: str | None = None
    alert_level: str | None = None
    alert_description: str | None = None
    record_type: str | None = None
    record_version: str | None = None
    record_length: int | None = None
    data: bytes = b""

    @property
    def sent(self) -> bool:
        return self.direction == "sent"

    @property
    def label(self) -> str | None:
        """What a ladder prints for this message (None for headers and inner types)."""
        if self.handshake_type is not None:
            return self.handshake_type
        if self.alert_description is not None:
            return f"alert: {self.alert_description} ({self.alert_level})"
        if self.content_type == "change_cipher_spec":
            return "ChangeCipherSpec"
        return None


@dataclass(frozen=True)
class InfoEvent(Event):
    """One ``SSL_set_info_callback`` call, ``where`` decoded.

    For alerts ``alert`` is ``SSL_alert_desc_string_long(ret)`` and
    ``alert_level`` ``SSL_alert_type_string_long(ret)``; ``state`` is
    ``SSL_state_string_long`` at the time of the call.
    """

    kind: ClassVar[str] = "info"

    where: int
    flags: tuple[str, ...]
    ret: int
    state: str
    alert: str | None = None
    alert_level: str | None = None


@dataclass(frozen=True)
class TransferEvent(Event):
    """One flight: the bytes ``side`` wrote that were delivered to the peer in one move."""

    kind: ClassVar[str] = "transfer"

    to: Role
    length: int
    data: bytes = b""

    @property
    def direction(self) -> str:
        return f"{self.side.value}->{self.to.value}"


E = TypeVar("E", bound=Event)


def _other(role: Role) -> Role:
    return Role.SERVER if role is Role.CLIENT else Role.CLIENT


class Trace:
    """Ordered events of a handshake (both peers), plus the key log lines.

    ``Trace(keylog_env=True)`` also appends every key log line to the file
    named by ``SSLKEYLOGFILE`` (honoured only with this opt-in).
    ``keep_data=False`` drops message and transfer payloads (lengths stay).
    """

    def __init__(self, *, keylog_env: bool = False, keep_data: bool = True) -> None:
        self.events: list[Event] = []
        self.keylog_lines: list[str] = []
        self.keep_data = keep_data
        self.wall_start = time.time()
        self.mono_start = time.monotonic()
        self._seq = itertools.count()
        self._io: dict[tuple[Role, bool], int] = {}
        self._io_at_last_step: dict[Role, tuple[int, int]] = {}
        # Weak: a connection references the trace through its observers; a
        # strong link back would delay SSL_free until the cycle collector runs.
        self._attached: list[weakref.ref[Connection]] = []
        self._env_path = keylog_from_env(keylog_env)
        self._nsteps = 0
        #: Roles of the connections attached (their sent messages label the ladder).
        self.attached_roles: set[Role] = set()
        #: True once a socket connection not in visible mode was attached.
        self.blind_socket = False

    # -- collecting ---------------------------------------------------------

    def _next(self) -> tuple[int, float]:
        return next(self._seq), time.monotonic()

    def attach(self, conn: Connection) -> Connection:
        """Watch ``conn``: install ``on_info``/``on_message`` observers feeding this trace."""
        conn.on_info = self._on_info
        conn.on_message = self._on_message
        self.attached_roles.add(conn.role)
        if conn.visible:
            conn.on_transfer = self.on_transfer
        elif conn.sock is not None:
            self.blind_socket = True
        if all(r() is not conn for r in self._attached):
            self._attached.append(weakref.ref(conn))
        return conn

    def detach(self, conn: Connection) -> None:
        """Remove the observers from ``conn`` (no Python callback runs for it afterwards)."""
        if not conn.closed:
            conn.on_info = None
            conn.on_message = None
            if conn.visible:
                conn.on_transfer = None
        self._attached = [r for r in self._attached if r() is not None and r() is not conn]

    def detach_all(self) -> None:
        """Detach every (still living) connection this trace watches."""
        for ref in list(self._attached):
            conn = ref()
            if conn is not None:
                self.detach(conn)
        self._attached = []

    def _on_info(self, conn: Connection, where: int, ret: int) -> None:
        seq, t = self._next()
        alert = level = None
        if where & lib.SSL_CB_ALERT:
            alert = text(lib.SSL_alert_desc_string_long(ret))
            level = text(lib.SSL_alert_type_string_long(ret))
        self.events.append(
            InfoEvent(seq, t, conn.role, where, decode_where(where), ret, conn.state, alert, level)
        )

    def _on_message(
        self, conn: Connection, sent: bool, version: int, content_type: int, data: bytes
    ) -> None:
        seq, t = self._next()
        kw: dict[str, Any] = {}
        if content_type == _RT_HEADER and len(data) >= 5:
            ctype = "record_header"
            rec_len = int.from_bytes(data[3:5], "big")
            kw.update(
                record_type=content_type_name(data[0]),
                record_version=version_name(int.from_bytes(data[1:3], "big")),
                record_length=rec_len,
            )
            key = (conn.role, sent)
            self._io[key] = self._io.get(key, 0) + 5 + rec_len
        elif content_type == _RT_INNER and data:
            ctype = "inner_content_type"
            kw["record_type"] = content_type_name(data[0])
        elif content_type == _RT_HANDSHAKE and data:
            ctype = content_type_name(content_type)
            if data[0] == 2 and data[6:38] == HRR_RANDOM:
                kw["handshake_type"] = "HelloRetryRequest"
            else:
                kw["handshake_type"] = handshake_type_name(data[0])
        elif content_type == _RT_ALERT and len(data) >= 2:
            ctype = content_type_name(content_type)
            kw["alert_level"] = ALERT_LEVELS.get(data[0], f"level_{data[0]}")
            kw["alert_description"] = alert_name(data[1])
        else:
            ctype = content_type_name(content_type)
        self.events.append(
            MessageEvent(
                seq,
                t,
                conn.role,
                "sent" if sent else "received",
                ctype,
                version_name(version),
                len(data),
                data=data if self.keep_data else b"",
                **kw,
            )
        )

    def step_recorder(self, conn: Connection) -> Callable[[Step, str], None]:
        """An ``on_step`` for ``conn.do_handshake``: each step recorded as the driver does."""

        def record(step: Step, state_before: str) -> None:
            self.record_step(conn, step, state_before)

        return record

    def record_step(self, conn: Connection, step: Step, state_before: str) -> StepEvent:
        """Record one ``SSL_do_handshake`` call the driver just made on ``conn``."""
        role = conn.role
        w = self._io.get((role, True), 0)
        r = self._io.get((role, False), 0)
        w0, r0 = self._io_at_last_step.get(role, (0, 0))
        self._io_at_last_step[role] = (w, r)
        seq, t = self._next()
        index, self._nsteps = self._nsteps, self._nsteps + 1
        reason = None
        if step.error is not None and not step.wants:
            reason = step.error.reason or type(step.error).__name__
            if getattr(step.error, "verify_code", 0):
                reason += f" ({step.error.verify_message})"
        ev = StepEvent(
            seq,
            t,
            role,
            index,
            step.ret,
            step.error_code.name,
            state_before,
            step.state,
            w - w0,
            r - r0,
            reason,
        )
        self.events.append(ev)
        return ev

    def on_transfer(self, src: Role, data: bytes) -> None:
        """Record a flight of ``data`` that ``src`` sent and the wire delivered.

        Signature of a wire ``tap``: ``tap(src_role, data)``.
        """
        if not data:
            return
        src = Role(src)
        seq, t = self._next()
        self.events.append(
            TransferEvent(seq, t, src, _other(src), len(data), data if self.keep_data else b"")
        )

    def transfer(self, src: Connection, dst: Connection) -> int:
        """Move what ``src`` wrote to ``dst`` through Python and record it as one flight.

        ``BIO_read`` from ``src``'s network BIO, ``BIO_write`` into ``dst``'s,
        as much as ``dst`` has room for; returns the byte count.
        """
        chunks: list[bytes] = []
        while src.bio_pending:
            room = dst.bio_write_guarantee
            if room == 0:
                break
            data = src.bio_read(room)
            if not data:
                break
            put = dst.bio_write(data)
            assert put == len(data), "BIO_write took less than its write guarantee"
            chunks.append(data)
        payload = b"".join(chunks)
        self.on_transfer(src.role, payload)
        return len(payload)

    def keylog_line(self, line: str) -> None:
        """Collect one NSS key log line (give this to ``Context(keylog=...)``)."""
        if line in self.keylog_lines:
            return  # both peers log the same secrets
        self.keylog_lines.append(line)
        if self._env_path:
            with open(self._env_path, "a", encoding="ascii") as f:
                f.write(line + "\n")

    # -- reading ------------------------------------------------------------

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def of(self, cls: type[E], side: Role | None = None) -> list[E]:
        """Events of one class (and side), in order."""
        return [e for e in self.events if isinstance(e, cls) and (side is None or e.side is side)]

    @property
    def steps(self) -> list[StepEvent]:
        return self.of(StepEvent)

    @property
    def messages(self) -> list[MessageEvent]:
        return self.of(MessageEvent)

    @property
    def infos(self) -> list[InfoEvent]:
        return self.of(InfoEvent)

    @property
    def transfers(self) -> list[TransferEvent]:
        return self.of(TransferEvent)

    def handshake_messages(self, side: Role, direction: str = "sent") -> list[str]:
        """Names of the handshake messages ``side`` sent (or received), in order."""
        return [
            m.handshake_type
            for m in self.of(MessageEvent, side)
            if m.direction == direction and m.handshake_type is not None
        ]

    def alerts(self) -> list[MessageEvent]:
        """Alert messages as sent by their sender."""
        return [m for m in self.messages if m.sent and m.alert_description is not None]

    def wall_time(self, event: Event) -> float:
        """The event's time as seconds since the epoch (for pcap timestamps)."""
        return self.wall_start + (event.time - self.mono_start)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every event and the key log lines."""
        return {
            "events": [e.to_dict() for e in self.events],
            "keylog": list(self.keylog_lines),
        }

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    # -- writing ------------------------------------------------------------

    def write_keylog(self, path: str | os.PathLike[str]) -> None:
        """Write the collected NSS key log lines (``SSLKEYLOGFILE`` format)."""
        with open(path, "w", encoding="ascii") as f:
            f.writelines(line + "\n" for line in self.keylog_lines)

    def write_json(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json(indent=1))
            f.write("\n")

    def write_pcap(self, path: str | os.PathLike[str]) -> None:
        """Classic pcap of the flights (see :mod:`ossl_handshake.observe.pcap`)."""
        from ossl_handshake.observe import pcap

        pcap.write_pcap(self, path)

    def write_pcapng(self, path: str | os.PathLike[str], *, secrets: bool = True) -> None:
        """pcapng of the flights, with the key log as a Decryption Secrets Block."""
        from ossl_handshake.observe import pcap

        pcap.write_pcapng(self, path, secrets=secrets)


__all__ = [
    "Event",
    "InfoEvent",
    "MessageEvent",
    "StepEvent",
    "Trace",
    "TransferEvent",
    "decode_where",
]
