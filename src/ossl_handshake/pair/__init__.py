"""Two in-process peers: ``memory_pair``, the driver (``drive``, ``handshake``) and results."""

from ossl_handshake.pair.driver import (
    drive,
    drive_post_handshake,
    early_data_handshake,
    handshake,
    memory_pair,
    post_handshake_auth,
    renegotiate,
    update_keys,
)
from ossl_handshake.pair.result import EarlyDataResult, HandshakeResult, SideResult, StepRecord

__all__ = [
    "EarlyDataResult",
    "HandshakeResult",
    "SideResult",
    "StepRecord",
    "drive",
    "drive_post_handshake",
    "early_data_handshake",
    "handshake",
    "memory_pair",
    "post_handshake_auth",
    "renegotiate",
    "update_keys",
]
