"""The C driver gives the same results as the Python loop, on both transports.

The C driver runs two ways: on one shared BIO pair (``direct=True``,
``ossl_drive_pair``) and on each connection's own BIO pair with the bytes
moved in C (the default path, ``ossl_drive_own_pairs``). Every scenario runs
on both, twice on fresh pairs: once through the fast path and once through
the Python loop (``drive(..., _fast=False)``), and the two results are
compared field by field: each step (side, ret, return code, SSL_get_error,
state, the mapped error's class, message, queue and alerts, the bytes it
sent), the failing side and error, and both sides' snapshots. Callbacks that
raise must raise the same ``CallbackError`` either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from ossl_handshake import CallbackError, Connection, Context, Role, certs
from ossl_handshake.core.errors import SSLError
from ossl_handshake.pair import drive, memory_pair, update_keys
from ossl_handshake.pair import driver as pair_mod
from ossl_handshake.pair.result import HandshakeResult, SideResult
from ossl_handshake.tls.records import Record, RecordStream, VersionState
from ossl_handshake.wire import BYTES, RECORDS, Coalesce, Wire
from ossl_handshake.wire.faults import Drop, FaultNotFiredError, Select

pytestmark = pytest.mark.timeout(60)

HOST = "localhost"


@dataclass
class Scenario:
    client: Context
    server: Context
    pair_kw: dict[str, Any] = field(default_factory=dict)
    drive_kw: dict[str, Any] = field(default_factory=dict)
    #: Runs a first handshake and returns the session to offer (resumption).
    resume: bool = False
    #: Builds the connections itself (e.g. crossed pairs for no progress).
    make: Callable[[bool], tuple[Connection, Connection, list[Connection]]] | None = None


def _server(**kw: Any) -> Context:
    ident = kw.pop("ident", certs.SERVER_ECDSA)
    return Context(Role.SERVER, cert=ident.cert, key=ident.key, **kw)


def _raise(*_: object) -> Any:
    raise RuntimeError("callback failed on purpose")


def _crossed(direct: bool) -> tuple[Connection, Connection, list[Connection]]:
    """drive(c1, s2) where each waits for a peer that never steps.

    Direct: c1-s1 and c2-s2 joined, so c1 and s2 never hear of each other.
    Own pairs (bytes do reach s2): c1 already finished with s1, so s2 waits
    for a ClientHello from a client that is done.
    """
    c_ctx = Context(Role.CLIENT, verify=False)
    s_ctx = _server()
    c1, s1 = memory_pair(c_ctx, s_ctx, direct=direct)
    if not direct:
        drive(c1, s1, _fast=False).expect(ok=True)
    c2, s2 = memory_pair(c_ctx, s_ctx, direct=direct)
    return c1, s2, [s1, c2]


def _scenarios() -> dict[str, Scenario]:
    verify13 = Context(Role.CLIENT, cafile=certs.CA)
    verify12 = Context(Role.CLIENT, cafile=certs.CA, max_version="1.2")
    return {
        "tls13_full": Scenario(verify13, _server(), {"server_name": HOST}),
        "tls12_full": Scenario(verify12, _server(), {"server_name": HOST}),
        "tls13_resumed": Scenario(verify13, _server(), {"server_name": HOST}, resume=True),
        "tls12_resumed": Scenario(verify12, _server(), {"server_name": HOST}, resume=True),
        "mtls": Scenario(
            Context(Role.CLIENT, cafile=certs.CA, cert=certs.CLIENT.cert, key=certs.CLIENT.key),
            _server(cafile=certs.CA, client_auth="require"),
            {"server_name": HOST},
        ),
        "mtls_without_client_cert": Scenario(
            verify13, _server(cafile=certs.CA, client_auth="require"), {"server_name": HOST}
        ),
        "hello_retry_request": Scenario(
            Context(Role.CLIENT, cafile=certs.CA, groups="X25519:P-256"),
            _server(groups="P-256"),
            {"server_name": HOST},
        ),
        "wrong_host": Scenario(verify13, _server(), {"server_name": "wrong.example"}),
        "expired_server_cert": Scenario(
            verify13, _server(ident=certs.EXPIRED), {"server_name": HOST}
        ),
        "no_shared_cipher": Scenario(
            Context(Role.CLIENT, verify=False, ciphersuites="TLS_AES_128_GCM_SHA256"),
            _server(ciphersuites="TLS_CHACHA20_POLY1305_SHA256"),
        ),
        "tls12_no_shared_cipher": Scenario(
            Context(Role.CLIENT, verify=False, max_version="1.2", ciphers="AES128-SHA"),
            _server(max_version="1.2", ciphers="ECDHE-ECDSA-AES256-GCM-SHA384"),
        ),
        "alpn_agreed": Scenario(
            Context(Role.CLIENT, verify=False, alpn=["h2", "http/1.1"]),
            _server(alpn_select=["http/1.1"]),
        ),
        "step_budget": Scenario(
            Context(Role.CLIENT, verify=False), _server(), drive_kw={"max_steps": 2}
        ),
        "no_progress": Scenario(verify13, _server(), make=_crossed),
        "no_settle": Scenario(verify13, _server(), {"server_name": HOST}, {"settle": False}),
    }


RAISING = {
    "verify_callback_raises": lambda: Scenario(
        Context(Role.CLIENT, cafile=certs.CA, verify_callback=_raise),
        _server(),
        {"server_name": HOST},
    ),
    "servername_callback_raises": lambda: Scenario(
        Context(Role.CLIENT, verify=False),
        _server(servername_callback=_raise),
        {"server_name": HOST},
    ),
    "alpn_select_raises": lambda: Scenario(
        Context(Role.CLIENT, verify=False, alpn=["h2"]), _server(alpn_select=_raise)
    ),
    "new_session_callback_raises_while_settling": lambda: Scenario(
        Context(Role.CLIENT, verify=False, on_new_session=_raise), _server()
    ),
}


@pytest.fixture(scope="module")
def scenarios() -> dict[str, Scenario]:
    return _scenarios()


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the drives that went through the C loop."""
    calls: list[int] = []
    real = pair_mod._drive_c

    def counting(*a: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(pair_mod, "_drive_c", counting)
    yield calls


#: The two transports the C driver runs on: one shared BIO pair, or each
#: connection's own (the default path).
TRANSPORTS = pytest.mark.parametrize("direct", [True, False], ids=["direct", "own_pairs"])


def _run(sc: Scenario, fast: bool, direct: bool = True) -> tuple[HandshakeResult, list[Connection]]:
    keep: list[Connection] = []
    if sc.make is not None:
        client, server, keep = sc.make(direct)
    else:
        kw = dict(sc.pair_kw)
        if sc.resume:
            c0, s0 = memory_pair(sc.client, sc.server, direct=direct, **kw)
            drive(c0, s0, _fast=False).expect(ok=True)
            kw["session"] = c0.session
            c0.close()
            s0.close()
        client, server = memory_pair(sc.client, sc.server, direct=direct, **kw)
    result = drive(client, server, _fast=fast, **sc.drive_kw)
    return result, [client, server, *keep]


def _error_view(e: BaseException | None) -> Any:
    if e is None:
        return None
    if not isinstance(e, SSLError):
        return (type(e).__name__, str(e))
    return (
        type(e).__name__,
        str(e),
        e.error_code,
        e.ret,
        e.errors,
        e.state,
        e.role,
        e.alert_sent,
        e.alert_received,
        e.verify_result,
        e.verify_message,
        e.operation,
        getattr(e, "errno", None),
        type(e.__cause__).__name__ if e.__cause__ is not None else None,
    )


def _side_view(s: SideResult) -> dict[str, Any]:
    d = s.to_dict()
    d["error"] = _error_view(s.error)
    d["peer_chain"] = s.peer_chain
    return d


def _compare(fast: HandshakeResult, slow: HandshakeResult) -> None:
    assert len(fast.steps) == len(slow.steps), (fast.explain(), slow.explain())
    for a, b in zip(fast.steps, slow.steps, strict=True):
        # Whether a step sent bytes, not how many: two fresh handshakes differ
        # by a byte or a block (an ECDSA signature's DER length, a ticket's
        # padding). The exact count is checked against the peer below.
        assert (a.index, a.sent > 0) == (b.index, b.sent > 0)
        sa, sb = a.step, b.step
        assert (sa.role, sa.ret, sa.return_code, sa.error_code, sa.state) == (
            sb.role,
            sb.ret,
            sb.return_code,
            sb.error_code,
            sb.state,
        )
        assert _error_view(sa.error) == _error_view(sb.error)
    assert fast.failed_side == slow.failed_side
    assert _error_view(fast.error) == _error_view(slow.error)
    assert fast.ok == slow.ok
    assert _side_view(fast.client) == _side_view(slow.client)
    assert _side_view(fast.server) == _side_view(slow.server)


SCENARIO_NAMES = [
    "tls13_full",
    "tls12_full",
    "tls13_resumed",
    "tls12_resumed",
    "mtls",
    "mtls_without_client_cert",
    "hello_retry_request",
    "wrong_host",
    "expired_server_cert",
    "no_shared_cipher",
    "tls12_no_shared_cipher",
    "alpn_agreed",
    "step_budget",
    "no_progress",
    "no_settle",
]


@TRANSPORTS
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_c_driver_matches_python_loop(
    name: str, direct: bool, scenarios: dict[str, Scenario], fast_calls: list[int]
) -> None:
    sc = scenarios[name]
    slow, keep_slow = _run(sc, fast=False, direct=direct)
    assert not fast_calls
    fast, keep_fast = _run(sc, fast=True, direct=direct)
    assert fast_calls, "the C driver was not used"
    _compare(fast, slow)
    for conn in keep_slow + keep_fast:
        conn.close()


@TRANSPORTS
def test_scenarios_reach_the_outcomes_they_name(
    direct: bool, scenarios: dict[str, Scenario]
) -> None:
    """Guards the comparison above against scenarios that silently all succeed."""
    out = {name: _run(scenarios[name], fast=True, direct=direct)[0] for name in SCENARIO_NAMES}
    for name in ("tls13_full", "tls12_full", "mtls", "alpn_agreed", "no_settle"):
        assert out[name].ok, name
    assert out["tls13_resumed"].client.session_reused
    assert out["tls12_resumed"].server.session_reused
    assert out["hello_retry_request"].ok and out["hello_retry_request"].client.hello_retry_request
    assert out["alpn_agreed"].client.alpn_protocol == "http/1.1"
    out["wrong_host"].expect(ok=False, failed_side=Role.CLIENT, verify_result=62)
    out["expired_server_cert"].expect(ok=False, failed_side=Role.CLIENT, verify_result=10)
    out["mtls_without_client_cert"].expect(ok=False, failed_side=Role.SERVER)
    out["no_shared_cipher"].expect(ok=False, failed_side=Role.SERVER)
    out["tls12_no_shared_cipher"].expect(ok=False, failed_side=Role.SERVER)
    out["step_budget"].expect(ok=False)
    assert "step budget of 2 exhausted" in str(out["step_budget"].error)
    assert "no progress" in str(out["no_progress"].error)


@TRANSPORTS
@pytest.mark.parametrize("name", sorted(RAISING))
def test_raising_callback_ends_both_drivers_the_same_way(
    name: str, direct: bool, fast_calls: list[int]
) -> None:
    sc = RAISING[name]()
    outcomes = []
    for fast in (False, True):
        client, server = memory_pair(sc.client, sc.server, direct=direct, **sc.pair_kw)
        try:
            result = drive(client, server, _fast=fast)
        except CallbackError as exc:
            failed = client.failed or server.failed
            outcomes.append(("raised", _error_view(exc), _error_view(failed)))
        else:
            outcomes.append(("returned", _error_view(result.error), result.failed_side))
        client.close()
        server.close()
    assert fast_calls
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1] is not None  # it did fail
    assert "RuntimeError" in str(outcomes[0])


@TRANSPORTS
def test_a_second_drive_of_a_finished_pair_matches(
    direct: bool, scenarios: dict[str, Scenario]
) -> None:
    sc = scenarios["tls13_full"]
    results = []
    for fast in (False, True):
        client, server = memory_pair(sc.client, sc.server, direct=direct, **sc.pair_kw)
        drive(client, server, _fast=fast).expect(ok=True)
        results.append(drive(client, server, _fast=fast))
        client.close()
        server.close()
    _compare(results[1], results[0])
    assert results[1].ok and results[1].steps == []


def test_c_driver_want_steps_carry_the_error_error_for_step_maps() -> None:
    """Every C-driver step's error comes from the one mapping, built with the step."""
    ctx_c = Context(Role.CLIENT, verify=False)
    client, server = memory_pair(ctx_c, _server(), direct=True)
    result = drive(client, server)
    want = [r.step for r in result.steps if r.step.wants]
    assert want, result.explain()
    for st in want:
        err = st.error
        assert type(err).__name__ == "WantReadError"
        assert err.error_code is st.error_code and err.ret == st.ret
        assert err.role is st.role and err.state == st.state and err.errors == ()
    client.close()
    server.close()


def test_step_records_are_plain_frozen_slotted_dataclasses() -> None:
    import dataclasses

    from ossl_handshake.pair.result import StepRecord

    ctx_c = Context(Role.CLIENT, verify=False)
    client, server = memory_pair(ctx_c, _server(), direct=True)
    rec = drive(client, server).steps[0]
    assert type(rec) is StepRecord and not hasattr(rec, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(rec, "sent", 1)  # noqa: B010 - the frozen check is the point


SNAPSHOT_FIELDS = (
    "version",
    "cipher",
    "cipher_bits",
    "group",
    "alpn_protocol",
    "server_name",
    "session_reused",
    "hello_retry_request",
    "verify_result",
    "verify_message",
    "peer_signature_algorithm",
    "signature_algorithm",
    "alert_sent",
    "alert_received",
    "failed",
)


@pytest.mark.parametrize(
    "name", ["tls13_full", "tls12_resumed", "hello_retry_request", "wrong_host", "alpn_agreed"]
)
def test_c_snapshot_matches_the_connection_properties(
    name: str, scenarios: dict[str, Scenario]
) -> None:
    """SideResult.of (one ossl_snapshot_of call) reports what each property reads."""
    result, conns = _run(scenarios[name], fast=True)
    for side, conn in ((result.client, conns[0]), (result.server, conns[1])):
        assert side.finished == conn.is_init_finished
        for attr in SNAPSHOT_FIELDS:
            want = getattr(conn, attr)
            if attr == "version" and not conn.is_init_finished:
                want = None
            got = side.error if attr == "failed" else getattr(side, attr)
            assert got == want, (name, side.role, attr)
        assert side.peer_subject == conn.peer_subject
        chain = conn.peer_chain
        assert side.peer_chain[len(side.peer_chain) - len(chain) :] == tuple(chain)
    for conn in conns:
        conn.close()


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_own_pairs_steps_send_the_same_bytes_as_the_python_loop(
    version: str, fast_calls: list[int]
) -> None:
    """With fixed-length messages (RSA signatures, no tickets) each step of the
    C driver on own BIO pairs sends exactly what the Python loop's transfer_to sent."""
    client_ctx = Context(Role.CLIENT, cafile=certs.CA, max_version=version)
    server_ctx = _server(ident=certs.SERVER_RSA, max_version=version, num_tickets=0)
    sent = []
    for fast in (False, True):
        client, server = memory_pair(client_ctx, server_ctx, server_name=HOST)
        result = drive(client, server, _fast=fast, settle=False)
        result.expect(ok=True)
        sent.append([(r.role, r.sent) for r in result.steps])
        client.close()
        server.close()
    assert fast_calls == [1]
    assert sent[0] == sent[1]
    assert all(n > 0 for _, n in sent[0][:3])


# --- a plain wire carried by the C driver (ossl_drive_wire) ---
#
# A Wire() with no faults, keys or tap is carried by the C driver: every move
# is logged in C and handed to the wire as its backlog. Each scenario runs
# with a wire through the C driver and through the Python loop; the steps and
# results compare as above, and the wires hold the same flights, records and
# deliveries (by structure: two fresh handshakes differ in random bytes and,
# with ECDSA, in lengths; the fixed-length scenarios below compare exactly).


def _run_wired(
    sc: Scenario, fast: bool, wire: Wire, **pair_kw: Any
) -> tuple[HandshakeResult, list[Connection]]:
    keep: list[Connection] = []
    if sc.make is not None:
        client, server, keep = sc.make(False)
    else:
        kw = {**sc.pair_kw, **pair_kw}
        if sc.resume:
            c0, s0 = memory_pair(sc.client, sc.server, **kw)
            drive(c0, s0, _fast=False).expect(ok=True)
            kw["session"] = c0.session
            c0.close()
            s0.close()
        client, server = memory_pair(sc.client, sc.server, **kw)
    result = drive(client, server, wire=wire, _fast=fast, **sc.drive_kw)
    return result, [client, server, *keep]


def _record_shape(r: Record, exact: bool) -> tuple[Any, ...]:
    shape = (r.direction, r.index, r.flight, r.content_type, r.version, r.encrypted)
    shape += (r.handshake_types,)
    return shape + ((r.offset, r.length, r.message_offsets) if exact else ())


def _wire_view(w: Wire, exact: bool) -> dict[str, Any]:
    """What a test can read of a wire; with ``exact`` every length and offset too."""
    view: dict[str, Any] = {}
    for role in Role:
        view[f"flights {role.value}"] = [
            (
                f.direction,
                f.index,
                *((f.offset, len(f)) if exact else ()),
                *(_record_shape(r, exact) for r in f.records),
            )
            for f in w.flights[role]
        ]
        view[f"records {role.value}"] = [_record_shape(r, exact) for r in w.records[role]]
        view[f"in_flight {role.value}"] = w.in_flight(role)
        view[f"held {role.value}"] = w.held(role)
    view["pending"] = w.pending
    view["deliveries"] = [(role, len(data) if exact else 0) for role, data in w.deliveries]
    if exact:
        view["describe"] = w.describe()
    return view


def _consistent(w: Wire) -> None:
    """A wire's own record: each direction's flights tile its stream, their
    records are what an eager parse of those bytes gives, and the deliveries
    are the stream's whole records in order."""
    versions = VersionState()
    streams = {r: RecordStream(r, versions) for r in Role}
    for role in Role:
        flights = w.flights[role]
        stream = b"".join(f.data for f in flights)
        offset = 0
        for f in flights:
            assert f.offset == offset
            offset += len(f)
        got = b"".join(d for r, d in w.deliveries if r is role)
        assert stream.startswith(got)
        assert len(stream) - len(got) == w.in_flight(role)
        assert [rec.data for rec in w.records[role]] == [
            rec.data for rec in streams[role].feed(stream, 0)
        ][: len(w.records[role])]


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_c_carried_wire_matches_the_python_carried_wire(
    name: str, scenarios: dict[str, Scenario], fast_calls: list[int]
) -> None:
    sc = scenarios[name]
    slow_wire, fast_wire = Wire(), Wire()
    slow, keep_slow = _run_wired(sc, False, slow_wire)
    assert not fast_calls
    fast, keep_fast = _run_wired(sc, True, fast_wire)
    assert fast_calls, "the C driver did not carry the wire"
    _compare(fast, slow)  # to_dict of a failure whose error reaches the wire (and its lock)
    assert fast.wire is fast_wire
    assert _wire_view(fast_wire, exact=False) == _wire_view(slow_wire, exact=False)
    _consistent(fast_wire)
    for conn in keep_slow + keep_fast:
        conn.close()


#: Fixed-length handshakes (RSA signatures, no tickets): the two wires must be
#: equal to the byte count, offset and delivery.
EXACT = {
    "tls13": {"max_version": "1.3"},
    "tls12": {"max_version": "1.2"},
    "hello_retry_request": {"groups": "X25519:P-256", "server_groups": "P-256"},
}


@pytest.mark.parametrize("bio_size", [0, 300, 64], ids=["17KiB", "300B", "64B"])
@pytest.mark.parametrize("name", sorted(EXACT))
def test_c_carried_wire_equals_the_python_carried_wire_byte_for_byte(
    name: str, bio_size: int, fast_calls: list[int]
) -> None:
    """Small BIO pairs: records cut mid-way (the partial tail waits on the wire)
    and receivers with no room (the rest stays queued), carried in C too."""
    kw = dict(EXACT[name])
    server_groups = kw.pop("server_groups", None)
    client_ctx = Context(Role.CLIENT, cafile=certs.CA, **kw)
    server_kw: dict[str, Any] = {"ident": certs.SERVER_RSA, "num_tickets": 0}
    if server_groups is not None:
        server_kw["groups"] = server_groups
    server_ctx = _server(**server_kw)
    views, sent = [], []
    for fast in (False, True):
        wire = Wire()
        client, server = memory_pair(client_ctx, server_ctx, server_name=HOST, bio_size=bio_size)
        result = drive(client, server, wire=wire, _fast=fast)
        result.expect(ok=True)
        assert result.client.hello_retry_request == (name == "hello_retry_request")
        views.append(_wire_view(wire, exact=True))
        sent.append([(r.role, r.sent) for r in result.steps])
        _consistent(wire)
        client.close()
        server.close()
    assert fast_calls == [1]
    assert sent[0] == sent[1]
    assert views[0] == views[1]
    if bio_size:
        assert len(views[1]["deliveries"]) > len(views[1]["flights server"]), "no short write"


@pytest.mark.parametrize(
    "make_wire",
    [
        lambda: Wire(policy=BYTES),
        lambda: Wire(policy=RECORDS),
        lambda: Wire(policy=Coalesce(2)),
        lambda: Wire(tap=lambda role, data: None),
        lambda: Wire([Drop(Select(record=10_000), optional=True)]),
    ],
    ids=["bytes", "records", "coalesce", "tap", "fault"],
)
def test_a_wire_that_looks_at_bytes_stays_on_the_python_loop(
    make_wire: Callable[[], Wire], scenarios: dict[str, Scenario], fast_calls: list[int]
) -> None:
    wire = make_wire()
    assert not wire.c_carriable(*memory_pair(Context(Role.CLIENT, verify=False), _server()))
    result, conns = _run_wired(scenarios["tls13_full"], True, wire)
    result.expect(ok=True)
    assert not fast_calls
    assert wire.flights[Role.SERVER]
    for conn in conns:
        conn.close()


def test_a_fault_that_never_fires_still_fails_the_drive(
    scenarios: dict[str, Scenario], fast_calls: list[int]
) -> None:
    """check_fired: a wire with a fault is never C-carried, so it still reports
    the fault that matched no record; a C-carried wire has none to report."""
    never = Drop(Select(record=10_000))
    with pytest.raises(FaultNotFiredError) as info:
        _run_wired(scenarios["tls13_full"], True, Wire([never]))
    assert info.value.faults == [never]
    assert not fast_calls
    result, conns = _run_wired(scenarios["tls13_full"], True, Wire())
    assert fast_calls and result.ok
    assert result.wire is not None and result.wire.unfired() == []
    for conn in conns:
        conn.close()


def test_a_fault_added_after_a_c_carried_drive_sees_the_next_flight(
    scenarios: dict[str, Scenario], fast_calls: list[int]
) -> None:
    """The backlog the C driver left is parsed before the fault's flight, so the
    fault's record has the index and flight a Python-carried wire gives it."""
    sc = scenarios["tls13_full"]
    views = []
    for fast in (False, True):
        wire = Wire()
        (result, conns) = _run_wired(sc, fast, wire)
        result.expect(ok=True)
        drop = Drop(Select(direction=Role.CLIENT, flight=2))
        wire.faults.append(drop)
        client, server = conns[0], conns[1]
        update_keys(client, server, wire=wire, check=False)
        assert drop.fired
        assert server.key_updates_received == 0  # the KeyUpdate was dropped
        dropped = wire.flights[Role.CLIENT][2].records
        assert [r.index for r in dropped] == [3] and dropped[0].encrypted
        views.append(_wire_view(wire, exact=False))
        for conn in conns:
            conn.close()
    assert fast_calls == [1]
    assert views[0] == views[1]


def test_a_wire_carries_one_pair_on_the_c_driver_too(
    scenarios: dict[str, Scenario], fast_calls: list[int]
) -> None:
    sc = scenarios["tls13_full"]
    wire = Wire()
    result, conns = _run_wired(sc, True, wire)
    result.expect(ok=True)
    assert fast_calls == [1]
    other = memory_pair(sc.client, sc.server, **sc.pair_kw)
    assert not wire.c_carriable(*other)
    with pytest.raises(ValueError, match="one connection pair"):
        drive(*other, wire=wire)
    for conn in (*conns, *other):
        conn.close()


@pytest.mark.parametrize("name", sorted(RAISING))
def test_a_raising_callback_leaves_the_c_carried_wire_as_the_python_one(
    name: str, fast_calls: list[int]
) -> None:
    sc = RAISING[name]()
    views = []
    for fast in (False, True):
        wire = Wire()
        client, server = memory_pair(sc.client, sc.server, **sc.pair_kw)
        with contextlib.suppress(CallbackError):
            drive(client, server, wire=wire, _fast=fast)
        views.append(_wire_view(wire, exact=False))
        client.close()
        server.close()
    assert fast_calls
    assert views[0] == views[1]
    assert views[1]["flights client"], "nothing crossed"
