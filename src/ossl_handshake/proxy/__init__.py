"""A fault proxy between two processes: ``FaultProxy``, the fault-spec grammar, the reports.

The same :class:`~ossl_handshake.wire.Wire` (records, policies, faults,
selectors, fired counts) as the in-process pair, driven by two TCP sockets.
"""

from ossl_handshake.proxy.proxy import FaultProxy, WireFactory
from ossl_handshake.proxy.report import OUTCOMES, ConnectionReport, SideReport
from ossl_handshake.proxy.spec import (
    SpecError,
    fault_spec,
    parse_fault,
    parse_policy,
    policy_spec,
)

__all__ = [
    "OUTCOMES",
    "ConnectionReport",
    "FaultProxy",
    "SideReport",
    "SpecError",
    "WireFactory",
    "fault_spec",
    "parse_fault",
    "parse_policy",
    "policy_spec",
]
