"""What one proxied connection did: :class:`ConnectionReport` and its JSON line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ossl_handshake.proxy.spec import describe_fault
from ossl_handshake.tls.names import alert_name
from ossl_handshake.tls.records import ALERT
from ossl_handshake.tls.roles import Role
from ossl_handshake.wire.faults import Fault
from ossl_handshake.wire.wire import Wire

#: How a connection ended (``ConnectionReport.outcome``).
OUTCOMES = ("closed", "reset", "deadline", "connect_failed", "aborted", "error")


@dataclass
class SideReport:
    """One end of a proxied connection, named by its role (the client dialled the proxy).

    ``received``: bytes the proxy read from this side; ``delivered``: bytes
    of this side's that reached the peer (after faults); ``records`` and
    ``flights``: as the wire parsed them; ``messages``: plaintext handshake
    messages this side sent; ``alerts``: alerts this side sent that the
    proxy could read (``fatal:bad_record_mac``; an encrypted TLS 1.2 alert
    is ``encrypted``; TLS 1.3 alerts under keys look like application data
    and are not listed); ``closed``: how this side ended its stream —
    ``"fin"`` (EOF read), ``"rst"`` (connection reset) or None (still open
    when the proxy closed it); ``eof_sent``: the proxy half-closed towards
    this side (the peer's FIN forwarded, or a ``close`` fault).
    """

    role: Role
    address: str
    received: int = 0
    delivered: int = 0
    records: int = 0
    flights: int = 0
    messages: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    closed: str | None = None
    eof_sent: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "received": self.received,
            "delivered": self.delivered,
            "records": self.records,
            "flights": self.flights,
            "messages": list(self.messages),
            "alerts": list(self.alerts),
            "closed": self.closed,
            "eof_sent": self.eof_sent,
        }


@dataclass
class ConnectionReport:
    """One connection through a :class:`~ossl_handshake.proxy.FaultProxy`.

    ``outcome`` is one of :data:`OUTCOMES`: ``closed`` (both streams ended
    with FIN), ``reset`` (a side reset the connection; the proxy reset the
    other), ``deadline`` (the per-connection ``timeout`` ran out: a stalled
    peer), ``connect_failed`` (the upstream refused or did not answer),
    ``aborted`` (the proxy was closed under it), ``error`` (the proxy itself
    failed, e.g. a fault aimed at a byte a record does not have; ``error``
    says what). ``wire`` is the connection's :class:`~ossl_handshake.wire.Wire`
    (records, flights, faults with their fired counts); ``segments`` the
    deliveries with their times, for captures.
    """

    index: int
    client: SideReport
    server: SideReport
    wire: Wire
    outcome: str = "aborted"
    error: str | None = None
    started: float = 0.0
    ended: float = 0.0
    segments: list[tuple[float, Role, bytes]] = field(default_factory=list, repr=False)
    exception: BaseException | None = field(default=None, repr=False)

    def side(self, role: Role) -> SideReport:
        return self.client if role is Role.CLIENT else self.server

    @property
    def faults(self) -> list[Fault]:
        return self.wire.faults

    def finish(self) -> None:
        """Fill the per-side record counts, messages and alerts from the wire."""
        flights = self.wire.flights
        for role, records in self.wire.records.items():
            side = self.side(role)
            side.records = len(records)
            side.flights = len(flights[role])
            side.messages = [m for r in records for m in r.handshake_types]
            side.alerts = []
            for r in records:
                if r.content_type != ALERT:
                    continue
                if r.alert is None:
                    side.alerts.append("encrypted")
                else:
                    level, desc = r.alert
                    side.alerts.append(f"{'fatal' if level == 2 else 'warning'}:{alert_name(desc)}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON line of ``ossl-handshake proxy`` (``event: connection``)."""
        return {
            "event": "connection",
            "index": self.index,
            "outcome": self.outcome,
            "error": self.error,
            "client": self.client.to_dict(),
            "server": self.server.to_dict(),
            "faults": [
                {"fault": describe_fault(f), "fired": f.fired, "optional": f.optional}
                for f in self.wire.faults
            ],
        }


__all__ = ["OUTCOMES", "ConnectionReport", "SideReport"]
