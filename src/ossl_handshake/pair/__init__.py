"""Two in-process peers: ``memory_pair``, the driver (``drive``, ``handshake``), ``deliver``."""

from ossl_handshake.pair.bulk import deliver, deliver_into
from ossl_handshake.pair.driver import drive, handshake, memory_pair
from ossl_handshake.pair.result import HandshakeResult, SideResult, StepRecord

__all__ = [
    "HandshakeResult",
    "SideResult",
    "StepRecord",
    "deliver",
    "deliver_into",
    "drive",
    "handshake",
    "memory_pair",
]
