"""Two in-process peers: ``memory_pair``, the driver (``drive``, ``handshake``), ``deliver``."""

from ossl_handshake.pair.bulk import deliver, deliver_into
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
    "deliver",
    "deliver_into",
    "drive",
    "drive_post_handshake",
    "early_data_handshake",
    "handshake",
    "memory_pair",
    "post_handshake_auth",
    "renegotiate",
    "update_keys",
]
