"""ALPN: the client offers, the server selects from a preference list or with a callable."""

from __future__ import annotations

from typing import Any

import pytest

from ossl_handshake import (
    CallbackError,
    Connection,
    ProtocolError,
    Role,
    drive,
    handshake,
    memory_pair,
)
from tests._contexts import client, run, server
from tests._openssl import absent_before


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_server_preference_list_wins_over_client_order(version: str) -> None:
    result = run(
        client(alpn=["h2", "http/1.1"], max_version=version), server(alpn=["http/1.1", "h2"])
    )
    assert result.ok
    assert result.client.alpn_protocol == result.server.alpn_protocol == "http/1.1"


def test_server_list_skips_protocols_the_client_did_not_offer() -> None:
    result = run(client(alpn=["spdy/3", "h2"]), server(alpn=["h3", "h2"]))
    assert result.client.alpn_protocol == result.server.alpn_protocol == "h2"


def test_set_alpn_select_with_a_list_after_construction() -> None:
    ctx = server()
    ctx.set_alpn_select(["acme-tls/1"])
    assert run(client(alpn=["acme-tls/1"]), ctx).server.alpn_protocol == "acme-tls/1"


def test_selector_callable_sees_the_offer_and_chooses() -> None:
    offers: list[list[bytes]] = []

    def choose(offered: list[bytes]) -> bytes | None:
        offers.append(offered)
        return offered[-1]

    result = run(client(alpn=["h2", "http/1.1"]), server(alpn_select=choose))
    assert offers == [[b"h2", b"http/1.1"]]  # RFC 7301 IDs are opaque bytes
    assert result.client.alpn_protocol == result.server.alpn_protocol == "http/1.1"


def test_no_overlap_means_no_alpn_unless_required() -> None:
    result = run(client(alpn=["h2"]), server(alpn=["http/1.1"]))
    assert result.ok
    assert result.client.alpn_protocol is None and result.server.alpn_protocol is None


def test_selector_returning_none_means_no_alpn() -> None:
    result = run(client(alpn=["h2"]), server(alpn_select=lambda offered: None))
    assert result.ok and result.server.alpn_protocol is None


def test_client_without_alpn_gets_none_and_the_selector_is_not_called() -> None:
    calls: list[list[bytes]] = []
    result = run(client(), server(alpn_select=lambda o: calls.append(o) or "h2"))
    assert result.ok and result.client.alpn_protocol is None
    assert calls == []


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_required_alpn_without_overlap_is_fatal_no_application_protocol(version: str) -> None:
    ctx = server(alpn=["http/1.1"], alpn_required=True)
    assert ctx.alpn_required
    result = run(client(alpn=["h2"], max_version=version), ctx)
    err = result.error
    assert type(err) is ProtocolError
    assert result.failed_side is Role.SERVER
    assert err.reasons == ["no application protocol"]
    assert err.alert_sent == "no_application_protocol"
    assert result.client.alert_received == "no_application_protocol"


def test_selector_returning_none_with_required_is_fatal() -> None:
    result = run(client(alpn=["h2"]), server(alpn_select=lambda offered: None, alpn_required=True))
    assert result.error is not None
    assert result.error.alert_sent == "no_application_protocol"


@absent_before((3, 0), "the client's check that the server chose an offered ALPN protocol")
def test_server_choosing_an_unoffered_protocol_is_rejected_by_the_client() -> None:
    # A deliberate protocol violation (RFC 7301 3.2): OpenSSL's client refuses it.
    result = run(client(alpn=["h2"]), server(alpn_select=lambda offered: "spdy/3"))
    err = result.error
    assert type(err) is ProtocolError
    assert result.failed_side is Role.CLIENT
    assert err.reasons == ["bad extension"]
    assert result.server.alert_received == err.alert_sent == "decode_error"


def test_exception_in_selector_fails_the_handshake_and_is_reraised() -> None:
    def broken(offered: list[bytes]) -> str:
        raise KeyError("no table")

    c, s = memory_pair(client(alpn=["h2"]), server(alpn_select=broken), server_name="localhost")
    with pytest.raises(CallbackError) as info:
        handshake(c, s)
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.role is Role.SERVER
    assert s.alert_sent == "no_application_protocol"


def test_per_connection_offer_overrides_the_context() -> None:
    c = Connection(client(alpn=["h2"]), server_name="localhost", alpn=["http/1.1"])
    s = Connection(server(alpn=["h2", "http/1.1"]))
    assert drive(c, s).client.alpn_protocol == "http/1.1"


@pytest.mark.parametrize("bad", [[], ["x" * 256], "h2"])
def test_invalid_alpn_lists_are_refused(bad: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        server(alpn=bad)


def test_alpn_select_is_for_servers_and_excludes_a_list() -> None:
    with pytest.raises(ValueError, match="server"):
        client().set_alpn_select(["h2"])
    with pytest.raises(ValueError, match="either"):
        server(alpn=["h2"], alpn_select=lambda o: "h2")
    with pytest.raises(ValueError, match="for servers"):
        client(alpn=["h2"], alpn_required=True)
    with pytest.raises(ValueError, match="for servers"):
        server(alpn_required=True)
