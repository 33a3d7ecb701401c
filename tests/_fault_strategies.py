"""Hypothesis strategies for wire faults, shared by the property tests.

One builder for every fault kind the fault-spec grammar knows
(:mod:`ossl_handshake.proxy.spec`); each test picks the ranges it needs:
``tests/test_fault_properties.py`` composes faults a handshake can survive
or fail on (small offsets, optional faults), ``tests/test_proxy_cli.py``
round-trips any value through the grammar.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ossl_handshake.tls.roles import Role
from ossl_handshake.wire import faults as wf

Strategy = st.SearchStrategy

roles: Strategy[Role] = st.sampled_from([Role.CLIENT, Role.SERVER])
wheres: Strategy[str] = st.sampled_from(["before", "after", "instead"])


def selects(
    *,
    record: Strategy[int],
    flight: Strategy[int],
    content_type: Strategy[Any],
    handshake_type: Strategy[str] | None = None,
    encrypted: Strategy[bool] | None = None,
) -> Strategy[wf.Select]:
    """``wf.Select`` with every key optional (None: match any)."""
    keys: dict[str, Strategy[Any]] = {
        "direction": st.none() | roles,
        "record": st.none() | record,
        "flight": st.none() | flight,
        "content_type": st.none() | content_type,
    }
    if handshake_type is not None:
        keys["handshake_type"] = st.none() | handshake_type
    if encrypted is not None:
        keys["encrypted"] = st.none() | encrypted
    return st.builds(wf.Select, **keys)


def faults(
    select: Strategy[wf.Select],
    *,
    times: Strategy[int | None],
    optional: Strategy[bool],
    truncate_at: Strategy[int],
    corrupt_offset: Strategy[int],
    inject_data: Strategy[bytes],
    delay_flights: Strategy[int],
    close_bytes: Strategy[int],
    close_flight: Strategy[int | None],
) -> Strategy[wf.Fault]:
    """One fault of any kind (drop, duplicate, reorder, truncate, corrupt, delay, inject, close)."""
    common = {"times": times, "optional": optional}
    return st.one_of(
        st.builds(wf.Drop, select, **common),
        st.builds(wf.Duplicate, select, **common),
        st.builds(wf.Reorder, select, **common),
        st.builds(wf.Truncate, select, truncate_at, **common),
        st.builds(wf.Corrupt, select, corrupt_offset, st.integers(1, 255), **common),
        st.builds(wf.Delay, select, delay_flights, st.none() | roles, **common),
        st.builds(wf.Inject, select, inject_data, wheres, **common),
        st.builds(wf.CloseAfter, roles, close_bytes, flight=close_flight, optional=optional),
    )
