"""ossl-handshake: OpenSSL's TLS handshake API from Python, with exact libssl semantics.

The raw cffi objects are ``ffi`` and ``lib``; the Pythonic layer maps return
values and ``SSL_get_error`` codes to :class:`ReturnCode`, :class:`ErrorCode`
and an exception tree rooted at :class:`SSLError`.

The names below are loaded on first use (PEP 562), so that the pure layers
(``ossl_handshake.tls``, ``ossl_handshake.wire``) import without libssl; see
docs/architecture.md, "Layers".
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "BUILD_VERSION": "ossl_handshake._native",
    "FEATURES": "ossl_handshake._native",
    "RUNTIME_VERSION": "ossl_handshake._native",
    "RUNTIME_VERSION_TEXT": "ossl_handshake._native",
    "ffi": "ossl_handshake._native",
    "lib": "ossl_handshake._native",
    "Role": "ossl_handshake.tls.roles",
    "ClientAuth": "ossl_handshake.core.constants",
    "Mode": "ossl_handshake.core.constants",
    "Options": "ossl_handshake.core.constants",
    "SessionCacheMode": "ossl_handshake.core.constants",
    "TLSVersion": "ossl_handshake.core.constants",
    "CallbackError": "ossl_handshake.core.errors",
    "CertificateVerifyError": "ossl_handshake.core.errors",
    "ErrorCode": "ossl_handshake.core.errors",
    "ErrorRecord": "ossl_handshake.core.errors",
    "NoProgressError": "ossl_handshake.core.errors",
    "ProtocolError": "ossl_handshake.core.errors",
    "ReturnCode": "ossl_handshake.core.errors",
    "SSLError": "ossl_handshake.core.errors",
    "SyscallError": "ossl_handshake.core.errors",
    "UnexpectedEOFError": "ossl_handshake.core.errors",
    "WantError": "ossl_handshake.core.errors",
    "WantReadError": "ossl_handshake.core.errors",
    "WantWriteError": "ossl_handshake.core.errors",
    "WantAsyncError": "ossl_handshake.core.errors",
    "WantAsyncJobError": "ossl_handshake.core.errors",
    "WantConnectError": "ossl_handshake.core.errors",
    "WantAcceptError": "ossl_handshake.core.errors",
    "AsyncPause": "ossl_handshake.core.async_jobs",
    "AsyncStatus": "ossl_handshake.core.async_jobs",
    "LibraryContext": "ossl_handshake.core.async_jobs",
    "ZeroReturnError": "ossl_handshake.core.errors",
    "ConfigurationError": "ossl_handshake.core.errors",
    "ContextInUseError": "ossl_handshake.core.errors",
    "ClosedError": "ossl_handshake.core.errors",
    "TransportClosedError": "ossl_handshake.core.errors",
    "BusyError": "ossl_handshake.core.errors",
    "Context": "ossl_handshake.core.context",
    "SNIRejected": "ossl_handshake.core.context",
    "Connection": "ossl_handshake.core.connection",
    "Step": "ossl_handshake.core.step",
    "join": "ossl_handshake.core.connection",
    "Session": "ossl_handshake.core.session",
    # verification control, OCSP stapling, session statistics
    "HostFlags": "ossl_handshake.core.verification",
    "Purpose": "ossl_handshake.core.verification",
    "VerifyFlags": "ossl_handshake.core.verification",
    "OCSPRejected": "ossl_handshake.core.ocsp",
    "OCSPStatus": "ossl_handshake.core.ocsp",
    "inspect_ocsp": "ossl_handshake.core.ocsp",
    "SessionStats": "ossl_handshake.core.session",
    "FaultNotFiredError": "ossl_handshake.wire.faults",
    "Select": "ossl_handshake.wire.faults",
    "Wire": "ossl_handshake.wire.wire",
    "drive": "ossl_handshake.pair.driver",
    "handshake": "ossl_handshake.pair.driver",
    "memory_pair": "ossl_handshake.pair.driver",
    "HandshakeResult": "ossl_handshake.pair.result",
    "SideResult": "ossl_handshake.pair.result",
    "StepRecord": "ossl_handshake.pair.result",
    "Trace": "ossl_handshake.observe.trace",
    "FaultProxy": "ossl_handshake.proxy.proxy",
    # pauses (core/pauses.py)
    "PAUSE": "ossl_handshake.core.pauses",
    "Pause": "ossl_handshake.core.pauses",
    "PauseError": "ossl_handshake.core.errors",
    "WantX509LookupError": "ossl_handshake.core.errors",
    "WantClientHelloError": "ossl_handshake.core.errors",
    "WantRetryVerifyError": "ossl_handshake.core.errors",
    "ClientHello": "ossl_handshake.tls.client_hello",
    "Reject": "ossl_handshake.core.client_hello",
    "CertRequest": "ossl_handshake.core.cert_callbacks",
    "KeyLog": "ossl_handshake.observe.decrypt",
    # beyond the first handshake
    "EarlyDataStatus": "ossl_handshake.core.early_data",
    "EarlyRead": "ossl_handshake.core.early_data",
    "ReadEarly": "ossl_handshake.core.early_data",
    "KeyUpdate": "ossl_handshake.core.post_handshake",
    "Renegotiation": "ossl_handshake.core.post_handshake",
    "PSK": "ossl_handshake.core.psk",
    "EarlyDataResult": "ossl_handshake.pair.result",
    "drive_post_handshake": "ossl_handshake.pair.driver",
    "early_data_handshake": "ossl_handshake.pair.driver",
    "post_handshake_auth": "ossl_handshake.pair.driver",
    "renegotiate": "ossl_handshake.pair.driver",
    "update_keys": "ossl_handshake.pair.driver",
}
#: public submodules reachable as attributes (``ossl_handshake.ladder``)
_MODULES: dict[str, str] = {
    "async_jobs": "ossl_handshake.core.async_jobs",
    "certs": "ossl_handshake.certs",
    "ladder": "ossl_handshake.observe.ladder",
    "pcap": "ossl_handshake.observe.pcap",
}

if TYPE_CHECKING:
    from ossl_handshake import certs
    from ossl_handshake._native import (
        BUILD_VERSION,
        FEATURES,
        RUNTIME_VERSION,
        RUNTIME_VERSION_TEXT,
        ffi,
        lib,
    )
    from ossl_handshake.core import async_jobs
    from ossl_handshake.core.async_jobs import AsyncPause, AsyncStatus, LibraryContext
    from ossl_handshake.core.cert_callbacks import CertRequest
    from ossl_handshake.core.client_hello import Reject
    from ossl_handshake.core.connection import Connection, join
    from ossl_handshake.core.constants import (
        ClientAuth,
        Mode,
        Options,
        SessionCacheMode,
        TLSVersion,
    )
    from ossl_handshake.core.context import Context, SNIRejected
    from ossl_handshake.core.early_data import EarlyDataStatus, EarlyRead, ReadEarly
    from ossl_handshake.core.errors import (
        BusyError,
        CallbackError,
        CertificateVerifyError,
        ClosedError,
        ConfigurationError,
        ContextInUseError,
        ErrorCode,
        ErrorRecord,
        NoProgressError,
        PauseError,
        ProtocolError,
        ReturnCode,
        SSLError,
        SyscallError,
        TransportClosedError,
        UnexpectedEOFError,
        WantAcceptError,
        WantAsyncError,
        WantAsyncJobError,
        WantClientHelloError,
        WantConnectError,
        WantError,
        WantReadError,
        WantRetryVerifyError,
        WantWriteError,
        WantX509LookupError,
        ZeroReturnError,
    )
    from ossl_handshake.core.ocsp import OCSPRejected, OCSPStatus, inspect_ocsp
    from ossl_handshake.core.pauses import PAUSE, Pause
    from ossl_handshake.core.post_handshake import KeyUpdate, Renegotiation
    from ossl_handshake.core.psk import PSK
    from ossl_handshake.core.session import Session, SessionStats
    from ossl_handshake.core.step import Step
    from ossl_handshake.core.verification import HostFlags, Purpose, VerifyFlags
    from ossl_handshake.observe import ladder, pcap
    from ossl_handshake.observe.decrypt import KeyLog
    from ossl_handshake.observe.trace import Trace
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
    from ossl_handshake.proxy.proxy import FaultProxy
    from ossl_handshake.tls.client_hello import ClientHello
    from ossl_handshake.tls.roles import Role
    from ossl_handshake.wire.faults import FaultNotFiredError, Select
    from ossl_handshake.wire.wire import Wire

    OPENSSL_VERSION: str


def __getattr__(name: str) -> Any:
    source = "RUNTIME_VERSION_TEXT" if name == "OPENSSL_VERSION" else name
    if source in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[source]), source)
    elif name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    else:
        raise AttributeError(f"module 'ossl_handshake' has no attribute {name!r}")
    globals()[name] = value  # loaded once: later reads are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, *_MODULES, "OPENSSL_VERSION"])


__all__ = [
    "BUILD_VERSION",
    "FEATURES",
    "OPENSSL_VERSION",
    "PAUSE",
    "PSK",
    "RUNTIME_VERSION",
    "RUNTIME_VERSION_TEXT",
    "AsyncPause",
    "AsyncStatus",
    "BusyError",
    "CallbackError",
    "CertRequest",
    "CertificateVerifyError",
    "ClientAuth",
    "ClientHello",
    "ClosedError",
    "ConfigurationError",
    "Connection",
    "Context",
    "ContextInUseError",
    "EarlyDataResult",
    "EarlyDataStatus",
    "EarlyRead",
    "ErrorCode",
    "ErrorRecord",
    "FaultNotFiredError",
    "FaultProxy",
    "HandshakeResult",
    "HostFlags",
    "KeyLog",
    "KeyUpdate",
    "LibraryContext",
    "Mode",
    "NoProgressError",
    "OCSPRejected",
    "OCSPStatus",
    "Options",
    "Pause",
    "PauseError",
    "ProtocolError",
    "Purpose",
    "ReadEarly",
    "Reject",
    "Renegotiation",
    "ReturnCode",
    "Role",
    "SNIRejected",
    "SSLError",
    "Select",
    "Session",
    "SessionCacheMode",
    "SessionStats",
    "SideResult",
    "Step",
    "StepRecord",
    "SyscallError",
    "TLSVersion",
    "Trace",
    "TransportClosedError",
    "UnexpectedEOFError",
    "VerifyFlags",
    "WantAcceptError",
    "WantAsyncError",
    "WantAsyncJobError",
    "WantClientHelloError",
    "WantConnectError",
    "WantError",
    "WantReadError",
    "WantRetryVerifyError",
    "WantWriteError",
    "WantX509LookupError",
    "Wire",
    "ZeroReturnError",
    "async_jobs",
    "certs",
    "drive",
    "drive_post_handshake",
    "early_data_handshake",
    "ffi",
    "handshake",
    "inspect_ocsp",
    "join",
    "ladder",
    "lib",
    "memory_pair",
    "pcap",
    "post_handshake_auth",
    "renegotiate",
    "update_keys",
]
