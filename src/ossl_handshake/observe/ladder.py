"""Ladder (sequence) diagrams of a traced handshake, as text and as SVG.

Client on the left, server on the right, one arrow per flight (a
:class:`~ossl_handshake.trace.TransferEvent`) labelled with the messages the
sender's message callback reported for it, in order; alerts drawn in their
own style; a marker at the step where each side finished (or failed).

A side without a traced connection (the remote peer of a visible socket
connection) has no message callback: its flights are labelled from their
records (:mod:`ossl_handshake.tls.records`), its TLS 1.3 handshake messages
decrypted with the trace's key log lines when it has them
(:mod:`ossl_handshake.wire.decrypt`), else shown as ``encrypted``.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from xml.sax.saxutils import escape

from ossl_handshake.observe.decrypt import KeyLog
from ossl_handshake.observe.trace import MessageEvent, StepEvent, Trace, TransferEvent
from ossl_handshake.tls.names import ALERT_LEVELS, alert_name
from ossl_handshake.tls.records import (
    APPLICATION_DATA,
    CHANGE_CIPHER_SPEC,
    Record,
    RecordStream,
    VersionState,
)
from ossl_handshake.tls.roles import Role
from ossl_handshake.wire.decrypt import Decryptor


@dataclass(frozen=True)
class Flight:
    """One arrow: who sent it to whom, its size, its labels in order, whether it carried an alert.

    ``event`` is the :class:`TransferEvent`, or the :class:`StepEvent` that
    wrote the bytes when the pair shared one BIO pair (direct mode: no bytes
    crossed Python, so flights are drawn per step).
    """

    event: TransferEvent | StepEvent
    side: Role
    to: Role
    length: int
    labels: tuple[str, ...]
    alert: bool


@dataclass(frozen=True)
class Marker:
    """A step where a side finished (``done``) or failed."""

    step: StepEvent
    done: bool

    @property
    def text(self) -> str:
        s = self.step
        if self.done:
            return f"{s.side.value} done (step {s.index})"
        why = f": {s.reason}" if s.reason else ""
        return f"{s.side.value} FAILED (step {s.index}): SSL_ERROR_{s.error_code}{why}"


def _labels(messages: list[MessageEvent]) -> tuple[list[str], bool]:
    """Labels for one flight's sent messages, in order.

    TLS 1.3 hides the real type inside the record (an inner-content-type
    event follows the header); a TLS 1.2 application-data record has only a
    header. Consecutive application-data records share one label.
    """
    out: list[str | int] = []  # an int counts consecutive application-data records
    alert = False
    for i, m in enumerate(messages):
        if m.content_type == "record_header" and m.record_type == "application_data":
            nxt = messages[i + 1] if i + 1 < len(messages) else None
            inner = nxt if nxt is not None and nxt.content_type == "inner_content_type" else None
            if inner is None or inner.record_type == "application_data":
                if out and isinstance(out[-1], int):
                    out[-1] += 1
                else:
                    out.append(1)
            continue
        label = m.label
        if label is None:
            continue
        if m.alert_description is not None:
            alert = True
        out.append(label)
    return [
        x if isinstance(x, str) else f"application_data ({x} record{'s' if x > 1 else ''})"
        for x in out
    ], alert


class _RecordView:
    """Both directions' records, decrypted where the trace's key log allows."""

    def __init__(self, trace: Trace) -> None:
        versions = VersionState()
        self.streams = {r: RecordStream(r, versions) for r in Role}
        self.decryptor = Decryptor(KeyLog(trace=trace), versions)
        self.count = {r: 0 for r in Role}

    def records(self, ev: TransferEvent) -> list[Record]:
        index = self.count[ev.side]
        self.count[ev.side] += 1
        return self.decryptor.annotate(ev.side, self.streams[ev.side].feed(ev.data, index))


def _record_labels(records: list[Record]) -> tuple[list[str], bool]:
    """Labels of a remote flight from its records (runs of data records counted)."""
    out: list[str | tuple[str, int]] = []
    alert = False
    for rec in records:
        label: str | None = None
        run: str | None = None
        if rec.handshake_types:
            out.extend(rec.handshake_types)
            continue
        if rec.alert is not None:
            level, desc = rec.alert
            label = f"alert: {alert_name(desc)} ({ALERT_LEVELS.get(level, f'level_{level}')})"
            alert = True
        elif rec.content_type == CHANGE_CIPHER_SPEC:
            label = "ChangeCipherSpec"
        elif rec.inner_type == APPLICATION_DATA or (
            rec.content_type == APPLICATION_DATA and not rec.decrypted and not rec.encrypted
        ):
            run = "application_data"
        elif rec.encrypted and not rec.decrypted:
            run = "encrypted"
        else:
            run = rec.content_type_name
        if label is not None:
            out.append(label)
        elif run is not None:
            last = out[-1] if out else None
            if isinstance(last, tuple) and last[0] == run:
                out[-1] = (run, last[1] + 1)
            else:
                out.append((run, 1))
    return [
        x if isinstance(x, str) else f"{x[0]} ({x[1]} record{'s' if x[1] > 1 else ''})" for x in out
    ], alert


def flights(trace: Trace) -> list[Flight | Marker]:
    """The diagram's rows in trace order: flights and finish/failure markers.

    Raises ``ValueError`` for a trace of a socket connection that was not in
    visible mode: only one side's steps are known there, and a ladder drawn
    from them would be wrong.
    """
    if trace.blind_socket and not trace.transfers:
        raise ValueError(
            "the trace watched a socket connection whose bytes never passed through Python, "
            "so no flight can be drawn; create it with Connection(ctx, sock=..., visible=True)"
        )
    rows: list[Flight | Marker] = []
    per_step = not trace.transfers
    view = _RecordView(trace) if trace.transfers else None
    pending: dict[Role, list[MessageEvent]] = {Role.CLIENT: [], Role.SERVER: []}
    failed: set[Role] = set()
    for ev in trace.events:
        if isinstance(ev, MessageEvent) and ev.sent:
            pending[ev.side].append(ev)
        elif isinstance(ev, TransferEvent):
            assert view is not None
            records = view.records(ev)
            if ev.side not in trace.attached_roles and ev.data:
                labels, alert = _record_labels(records)
                rows.append(Flight(ev, ev.side, ev.to, ev.length, tuple(labels), alert))
            else:
                rows.append(_flight(ev, ev.length, pending))
        elif isinstance(ev, StepEvent):
            if ev.done:
                rows.append(Marker(ev, True))
            elif ev.failed and ev.side not in failed:
                failed.add(ev.side)
                rows.append(Marker(ev, False))
            if per_step and ev.bytes_written:
                rows.append(_flight(ev, ev.bytes_written, pending))
    return rows


def _flight(
    ev: TransferEvent | StepEvent, length: int, pending: dict[Role, list[MessageEvent]]
) -> Flight:
    labels, alert = _labels(pending[ev.side])
    pending[ev.side] = []
    if not labels:
        labels = [f"({length} bytes)"]
    to = Role.SERVER if ev.side is Role.CLIENT else Role.CLIENT
    return Flight(ev, ev.side, to, length, tuple(labels), alert)


def render_text(trace: Trace, *, width: int = 60) -> str:
    """The ladder as plain text (``width`` columns between the two lifelines)."""
    inner = width
    pad = "   "
    lines = [f"{pad}client{' ' * (inner - 4)}server", f"{pad}  |{' ' * inner}|"]

    def row(text: str) -> str:
        return f"{pad}  |  {text:<{inner - 2}}|"

    for item in flights(trace):
        if isinstance(item, Marker):
            mark = "*" if item.done else "!"
            if item.step.side is Role.CLIENT:
                lines.append(f"{pad}  {mark} {item.text}")
            else:
                text = f"{item.text} {mark}"
                lines.append(f"{pad}  | {text:>{inner}}")
            continue
        body = ", ".join(item.labels)
        for chunk in textwrap.wrap(body, inner - 4) or [""]:
            lines.append(row(chunk))
        n = inner - 1
        shaft = ("x" + ("- " * inner)[: n - 2] + "-") if item.alert else "-" * n
        arrow = f"|{shaft}>|" if item.side is Role.CLIENT else f"|<{shaft[::-1]}|"
        lines.append(f"{pad}  {arrow}  {item.length} B")
    lines.append(f"{pad}  |{' ' * inner}|")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def render_svg(trace: Trace, *, title: str | None = None) -> str:
    """The ladder as a standalone SVG document.

    Each flight is one ``<line class="flight">`` (``flight alert`` for
    flights carrying an alert) with ``data-from``/``data-to`` attributes and
    one ``<text class="label">`` per message; markers are ``<text
    class="marker">``.
    """
    left, right, top, line_h = 140, 560, 70, 16
    rows = flights(trace)
    y = top + 20
    body: list[str] = []
    for item in rows:
        if isinstance(item, Marker):
            x, anchor = (left - 8, "end") if item.step.side is Role.CLIENT else (right + 8, "start")
            cls = "marker done" if item.done else "marker failed"
            body.append(
                f'<circle class="{cls}" cx="{left if item.step.side is Role.CLIENT else right}" '
                f'cy="{y - 4}" r="4"/>'
                f'<text class="{cls}" x="{x}" y="{y}" text-anchor="{anchor}">'
                f"{escape(item.text)}</text>"
            )
            y += line_h + 6
            continue
        for label in item.labels:
            cls = "label alert" if label.startswith("alert:") else "label"
            body.append(
                f'<text class="{cls}" x="{(left + right) // 2}" y="{y}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
            y += line_h
        x1, x2 = (left, right) if item.side is Role.CLIENT else (right, left)
        cls = "flight alert" if item.alert else "flight"
        marker = "url(#head-alert)" if item.alert else "url(#head)"
        body.append(
            f'<line class="{cls}" x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" '
            f'data-from="{item.side.value}" data-to="{item.to.value}" data-bytes="{item.length}" '
            f'marker-end="{marker}"/>'
            f'<text class="bytes" x="{right + 8 if item.side is Role.CLIENT else left - 8}" '
            f'y="{y + 4}" text-anchor="{"start" if item.side is Role.CLIENT else "end"}">'
            f"{item.length} B</text>"
        )
        y += line_h + 14
    height = y + 20
    width = right + 140
    heading = (
        f'<text class="title" x="{width // 2}" y="22" text-anchor="middle">{escape(title)}</text>'
        if title
        else ""
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="12">\n'
        "<defs>"
        '<marker id="head" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
        '<path d="M0,0 L10,4 L0,8 z" fill="#222"/></marker>'
        '<marker id="head-alert" markerWidth="10" markerHeight="8" refX="9" refY="4" '
        'orient="auto"><path d="M0,0 L10,4 L0,8 z" fill="#c00"/></marker>'
        "<style>"
        ".flight{stroke:#222;stroke-width:1.5}"
        ".flight.alert{stroke:#c00;stroke-dasharray:6 3}"
        ".label.alert,.marker.failed{fill:#c00;font-weight:bold}"
        ".marker.done{fill:#070}.lifeline{stroke:#888;stroke-width:1}"
        ".bytes{fill:#666}.side{font-weight:bold;font-size:14px}"
        "</style></defs>\n"
        f'<rect width="{width}" height="{height}" fill="white"/>\n'
        f"{heading}\n"
        f'<text class="side" x="{left}" y="{top - 20}" text-anchor="middle">client</text>'
        f'<text class="side" x="{right}" y="{top - 20}" text-anchor="middle">server</text>\n'
        f'<line class="lifeline" x1="{left}" y1="{top - 10}" x2="{left}" y2="{height - 10}"/>'
        f'<line class="lifeline" x1="{right}" y1="{top - 10}" x2="{right}" y2="{height - 10}"/>\n'
        + "\n".join(body)
        + "\n</svg>\n"
    )


__all__ = ["Flight", "Marker", "flights", "render_svg", "render_text"]
