"""Property: any composition of wire faults ends in success or a typed error, never a hang.

Hypothesis composes up to four faults (drop, truncate, corrupt, duplicate,
inject, reorder, delay, close) aimed at any record of either direction, under
any delivery policy, for TLS 1.3 and 1.2 with and without client
certificates. Whatever it builds, :func:`drive` must return within its step
budget with ``ok`` or an :class:`SSLError`; an exception of any other type
out of the driver, or a run that does not end, is a bug in the binding.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ossl_handshake import Context, Role, SSLError, certs, drive, memory_pair
from ossl_handshake.wire import BYTES, FLIGHTS, RECORDS, Coalesce, Policy, Split, Wire
from ossl_handshake.wire.faults import Corrupt, Fault, Truncate
from tests import _fault_strategies as fs

EXAMPLES = int(os.environ.get("OSSL_FAULT_EXAMPLES", "60"))
pytestmark = pytest.mark.timeout(max(120, EXAMPLES * 2))

_CONTEXTS: dict[str, tuple[Context, Context]] = {}


def _contexts(kind: str) -> tuple[Context, Context]:
    if kind not in _CONTEXTS:
        ecdsa = certs.SERVER_ECDSA
        if kind == "tls13":
            pair = (
                Context(Role.CLIENT, cafile=certs.CA),
                Context(Role.SERVER, cert=ecdsa.cert, key=ecdsa.key),
            )
        elif kind == "tls12":
            pair = (
                Context(Role.CLIENT, cafile=certs.CA, max_version="1.2"),
                Context(Role.SERVER, cert=ecdsa.cert, key=ecdsa.key),
            )
        else:  # mutual TLS
            pair = (
                Context(Role.CLIENT, cafile=certs.CA, cert=certs.CLIENT.cert, key=certs.CLIENT.key),
                Context(
                    Role.SERVER,
                    cert=ecdsa.cert,
                    key=ecdsa.key,
                    cafile=certs.CA,
                    client_auth="require",
                ),
            )
        _CONTEXTS[kind] = pair
    return _CONTEXTS[kind]


# Faults a handshake can meet: offsets inside the 5 header bytes every record has,
# all optional (a composition may leave some with nothing to match).
fault_lists = st.lists(
    fs.faults(
        fs.selects(
            record=st.integers(0, 6),
            flight=st.integers(0, 3),
            content_type=st.sampled_from(["handshake", "alert", "application_data"]),
        ),
        times=st.sampled_from([1, 2, None]),
        optional=st.just(True),
        truncate_at=st.integers(0, 64),
        corrupt_offset=st.integers(-5, 4),
        inject_data=st.sampled_from([b"\x15\x03\x03\x00\x02\x02\x28", b"GET / HTTP/1.1\r\n\r\n"])
        | st.binary(max_size=40),
        delay_flights=st.integers(0, 2),
        close_bytes=st.integers(0, 3000),
        close_flight=st.none(),
    ),
    max_size=4,
)


policies: st.SearchStrategy[Policy] = st.sampled_from(
    [FLIGHTS, RECORDS, BYTES, Split(1, 5), Split(3), Coalesce(2)]
)


@settings(
    # OSSL_FAULT_EXAMPLES=1000 OSSL_FAULT_RANDOM=1 for a longer, randomised search
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("OSSL_FAULT_RANDOM") != "1",
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    kind=st.sampled_from(["tls13", "tls12", "mtls"]),
    fault_list=fault_lists,
    client_policy=policies,
    server_policy=policies,
)
def test_any_composition_of_faults_ends_in_success_or_a_typed_error(
    kind: str, fault_list: list[Fault], client_policy: Policy, server_policy: Policy
) -> None:
    client_ctx, server_ctx = _contexts(kind)
    client, server = memory_pair(client_ctx, server_ctx, server_name="localhost")
    wire = Wire(fault_list, client_policy=client_policy, server_policy=server_policy)
    with client, server:
        result = drive(client, server, wire=wire)
        if result.error is None:
            assert client.is_init_finished and server.is_init_finished
        else:
            assert isinstance(result.error, SSLError), repr(result.error)
            assert result.failed_side in (Role.CLIENT, Role.SERVER)
        # the steps taken stay inside the wire's budget (the rule that rules out a hang)
        assert len(result.steps) <= wire.step_budget
        result.summary()  # rendering a result never fails either


def test_corrupting_a_record_an_earlier_fault_truncated_to_nothing_is_not_an_index_error() -> None:
    # Found by the randomised run: Truncate(at=0) then Corrupt(offset=0) on the
    # same record raised IndexError out of the driver.
    client_ctx, server_ctx = _contexts("tls13")
    client, server = memory_pair(client_ctx, server_ctx, server_name="localhost")
    wire = Wire([Truncate(at=0, optional=True), Corrupt(offset=0, optional=True)])
    with client, server:
        result = drive(client, server, wire=wire)
    assert isinstance(result.error, SSLError), repr(result.error)
