"""The bytes between two peers: ``Wire`` (delivery policies) and the faults it applies.

Pure Python over any endpoint with ``bio_read``/``bio_write``; no libssl import.
"""

from ossl_handshake.wire.faults import (
    ANY,
    Chunk,
    CloseAfter,
    Corrupt,
    Delay,
    Drop,
    Duplicate,
    Fault,
    FaultNotFiredError,
    Inject,
    Reorder,
    Select,
    Truncate,
)
from ossl_handshake.wire.wire import (
    BYTES,
    FLIGHTS,
    RECORDS,
    Bytes,
    Coalesce,
    Flight,
    Flights,
    Policy,
    Records,
    Segment,
    Split,
    Wire,
)

__all__ = [
    "ANY",
    "BYTES",
    "FLIGHTS",
    "RECORDS",
    "Bytes",
    "Chunk",
    "CloseAfter",
    "Coalesce",
    "Corrupt",
    "Delay",
    "Drop",
    "Duplicate",
    "Fault",
    "FaultNotFiredError",
    "Flight",
    "Flights",
    "Inject",
    "Policy",
    "Records",
    "Reorder",
    "Segment",
    "Select",
    "Split",
    "Truncate",
    "Wire",
]
