"""ossl-handshake: OpenSSL's TLS handshake API from Python, with exact libssl semantics.

The raw cffi objects are ``ffi`` and ``lib``; the Pythonic layer maps return
values and ``SSL_get_error`` codes to :class:`ReturnCode`, :class:`ErrorCode`
and an exception tree rooted at :class:`SSLError`.
"""

from __future__ import annotations

from ossl_handshake._binding import (
    BUILD_VERSION,
    FEATURES,
    RUNTIME_VERSION,
    RUNTIME_VERSION_TEXT,
    ffi,
    lib,
)
from ossl_handshake.connection import Connection, Step, join
from ossl_handshake.constants import ClientAuth, Mode, Options, Role, SessionCacheMode, TLSVersion
from ossl_handshake.context import ConfigurationError, Context, SNIRejected
from ossl_handshake.errors import (
    CallbackError,
    CertificateVerifyError,
    ErrorCode,
    ErrorRecord,
    NoProgressError,
    ProtocolError,
    ReturnCode,
    SSLError,
    SyscallError,
    UnexpectedEOFError,
    WantError,
    WantReadError,
    WantWriteError,
    ZeroReturnError,
)
from ossl_handshake.faults import FaultNotFiredError, Select
from ossl_handshake.pair import drive, handshake, memory_pair
from ossl_handshake.result import HandshakeResult, SideResult, StepRecord
from ossl_handshake.session import Session
from ossl_handshake.trace import Trace
from ossl_handshake.wire import Wire

OPENSSL_VERSION = RUNTIME_VERSION_TEXT
__version__ = "0.1.0"

__all__ = [
    "BUILD_VERSION",
    "FEATURES",
    "OPENSSL_VERSION",
    "RUNTIME_VERSION",
    "CallbackError",
    "CertificateVerifyError",
    "ClientAuth",
    "ConfigurationError",
    "Connection",
    "Context",
    "ErrorCode",
    "ErrorRecord",
    "FaultNotFiredError",
    "HandshakeResult",
    "Mode",
    "NoProgressError",
    "Options",
    "ProtocolError",
    "ReturnCode",
    "Role",
    "SNIRejected",
    "SSLError",
    "Select",
    "Session",
    "SessionCacheMode",
    "SideResult",
    "Step",
    "StepRecord",
    "SyscallError",
    "TLSVersion",
    "Trace",
    "UnexpectedEOFError",
    "WantError",
    "WantReadError",
    "WantWriteError",
    "Wire",
    "ZeroReturnError",
    "drive",
    "ffi",
    "handshake",
    "join",
    "lib",
    "memory_pair",
]
