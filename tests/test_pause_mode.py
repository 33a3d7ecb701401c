"""Pause mode: every callback pauses once before it runs (BoringSSL's async mode).

Any scenario driven with ``pause_every_callback=True`` must end exactly as
without it, one pause per callback later: the same callables run once each,
the same outcome, through a wire (byte-at-a-time delivery, faults) too. A
pause is never "no progress", and a pair that may pause takes the Python
loop even when it is direct.
"""

from __future__ import annotations

from typing import Any

import pytest

from ossl_handshake import (
    FEATURES,
    PAUSE,
    Connection,
    ErrorCode,
    Pause,
    ProtocolError,
    Role,
    certs,
    drive,
    handshake,
    memory_pair,
)
from ossl_handshake.tls.client_hello import ClientHello
from ossl_handshake.wire.faults import Corrupt, Select
from ossl_handshake.wire.wire import Bytes, Wire
from tests._contexts import client, server

pytestmark = pytest.mark.timeout(120)


class Calls:
    """Counts each callback's real calls (pause mode must not add any)."""

    def __init__(self) -> None:
        self.n: dict[str, int] = {}

    def hit(self, name: str) -> None:
        self.n[name] = self.n.get(name, 0) + 1

    def hello(self, hello: ClientHello) -> None:
        self.hit("client_hello")

    def cert(self, req: Any) -> None:
        self.hit("cert")

    def client_cert(self, req: Any) -> Any:
        self.hit("client_cert")
        return certs.CLIENT

    def verify(self, conn: Connection, ok: bool, depth: int, error: int, der: bytes) -> bool:
        self.hit("verify")
        return ok


def _mtls(calls: Calls) -> tuple[Any, Any]:
    c = client(client_cert_callback=calls.client_cert, verify_callback=calls.verify)
    s = server(
        cafile=certs.CA,
        client_auth="require",
        client_hello_callback=calls.hello,
        cert_callback=calls.cert,
    )
    return c, s


#: The pauses pause mode makes in the mTLS scenario, by side and callback.
EXPECTED = {
    (Role.SERVER, "client_hello", ErrorCode.WANT_CLIENT_HELLO_CB),
    (Role.SERVER, "cert", ErrorCode.WANT_X509_LOOKUP),
    (Role.CLIENT, "client_cert", ErrorCode.WANT_X509_LOOKUP),
} | ({(Role.CLIENT, "verify", ErrorCode.WANT_RETRY_VERIFY)} if FEATURES["retry_verify"] else set())


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_every_callback_pauses_once_and_the_scenario_ends_as_without_pauses(version: str) -> None:
    plain_calls, paused_calls = Calls(), Calls()
    cc, sc = _mtls(plain_calls)
    plain = handshake(*memory_pair(cc, sc, server_name="localhost"), max_steps=100)
    cc, sc = _mtls(paused_calls)
    cc.max_version = version
    seen: list[Pause] = []
    paused = handshake(
        *memory_pair(cc, sc, server_name="localhost"),
        pause_every_callback=True,
        on_pause=seen.append,
    )
    assert plain.ok and paused.ok
    assert paused.server.peer_subject == plain.server.peer_subject
    assert {(p.role, p.callback, p.kind) for p in seen} == EXPECTED
    assert all(p.auto and p.resumed for p in seen)
    # The callables ran exactly as often as without pause mode.
    assert paused_calls.n.keys() == plain_calls.n.keys()
    assert paused_calls.n["client_hello"] == 1 and paused_calls.n["cert"] == 1
    codes = [r.step.error_code for r in paused.steps]
    for _, _, code in EXPECTED:
        assert code in codes


def test_pause_mode_with_byte_at_a_time_delivery() -> None:
    calls = Calls()
    cc, sc = _mtls(calls)
    wire = Wire(policy=Bytes())
    result = handshake(
        *memory_pair(cc, sc, server_name="localhost"), wire=wire, pause_every_callback=True
    )
    assert result.ok and result.wire is wire
    assert calls.n["client_hello"] == 1


def test_pause_mode_with_a_fault_fails_as_without_it() -> None:
    outcomes = []
    for mode in (False, True):
        cc, sc = _mtls(Calls())
        fault = Corrupt(Select(direction=Role.SERVER, record=0), offset=-1)
        result = drive(
            *memory_pair(cc, sc, server_name="localhost"),
            wire=Wire(faults=[fault]),
            pause_every_callback=mode,
        )
        outcomes.append((result.failed_side, type(result.error), result.client.alert_sent))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1] is not None and issubclass(outcomes[0][1], ProtocolError)


def test_an_unanswered_pause_stops_the_drive_and_a_second_drive_goes_on() -> None:
    def hello(h: ClientHello) -> Any:
        return PAUSE

    c, s = memory_pair(client(), server(client_hello_callback=hello), server_name="localhost")
    first = drive(c, s)
    assert first.paused is not None and first.paused.role is Role.SERVER
    assert "no progress" not in str(first.error)
    first.paused.resume(accept=True)
    assert drive(c, s).ok


def test_a_direct_pair_that_may_pause_takes_the_python_loop() -> None:
    def hello(h: ClientHello) -> Any:
        return PAUSE

    # The C driver would call the pause "no progress" (no byte moved, no state
    # change): the Python loop answers it and finishes.
    c, s = memory_pair(
        client(), server(client_hello_callback=hello), direct=True, server_name="localhost"
    )
    result = drive(c, s, on_pause=lambda p: p.resume(accept=True))
    assert result.ok
    assert [r.step.error_code for r in result.steps].count(ErrorCode.WANT_CLIENT_HELLO_CB) == 1


def test_an_async_style_pause_kind_registers_itself() -> None:
    from ossl_handshake.core import pauses
    from ossl_handshake.core.async_jobs import AsyncJobPause, AsyncPause

    assert pauses.KINDS[ErrorCode.WANT_CLIENT_HELLO_CB].callback == "client_hello"
    assert pauses.KINDS[ErrorCode.WANT_X509_LOOKUP].callback == "cert"
    if FEATURES["retry_verify"]:
        assert pauses.KINDS[ErrorCode.WANT_RETRY_VERIFY].callback == "verify"

    # The async kinds register themselves from core/async_jobs.py ...
    assert pauses.KINDS[ErrorCode.WANT_ASYNC] is AsyncPause
    assert pauses.KINDS[ErrorCode.WANT_ASYNC_JOB] is AsyncJobPause
    assert AsyncJobPause.callback == "async" and AsyncJobPause.kind is ErrorCode.WANT_ASYNC_JOB

    # ... and the first class registered for a kind stays its default.
    class Job(pauses.Pause, kind=ErrorCode.WANT_ASYNC_JOB):
        callback = "test-job"

    assert Job.kind is ErrorCode.WANT_ASYNC_JOB
    assert pauses.KINDS[ErrorCode.WANT_ASYNC_JOB] is AsyncJobPause
