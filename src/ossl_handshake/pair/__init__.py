"""Two in-process peers: ``memory_pair``, the driver (``drive``, ``handshake``) and results."""

from ossl_handshake.pair.driver import drive, handshake, memory_pair
from ossl_handshake.pair.result import HandshakeResult, SideResult, StepRecord

__all__ = ["HandshakeResult", "SideResult", "StepRecord", "drive", "handshake", "memory_pair"]
