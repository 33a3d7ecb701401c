"""HelloRetryRequest: forced by a key share for a group the server does not take."""

from __future__ import annotations

from ossl_handshake import Context, ProtocolError, Role, certs, drive, handshake, memory_pair
from tests._openssl import group


def server(groups: str) -> Context:
    return Context(
        Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.key, groups=groups
    )


def client(groups: str, **kw: str) -> Context:
    return Context(Role.CLIENT, cafile=certs.CA, groups=groups, **kw)


def hello_types(messages: list[tuple[bool, bytes]]) -> list[tuple[bool, int]]:
    return [(sent, data[0]) for sent, data in messages]


def test_key_share_for_an_unwanted_group_forces_hrr_seen_by_both_sides() -> None:
    # OpenSSL's client sends a key share for its first group only (P-256);
    # the server accepts only X25519, so it must ask again.
    c, s = memory_pair(client("P-256:X25519"), server("X25519"), server_name="localhost")
    client_msgs: list[tuple[bool, bytes]] = []
    c.on_message = lambda conn, sent, version, ctype, data: (
        client_msgs.append((sent, data)) if ctype == 22 else None
    )
    result = handshake(c, s)
    assert result.client.hello_retry_request and result.server.hello_retry_request
    assert result.client.group == result.server.group == group("x25519")
    # ClientHello, HelloRetryRequest (a ServerHello on the wire), second ClientHello
    assert hello_types(client_msgs)[:3] == [(True, 1), (False, 2), (True, 1)]
    assert "HRR" in result.summary()


def test_key_share_for_the_server_group_needs_no_hrr() -> None:
    result = handshake(
        *memory_pair(client("X25519:P-256"), server("X25519"), server_name="localhost")
    )
    assert not result.client.hello_retry_request and not result.server.hello_retry_request
    assert result.client.group == group("x25519")


def test_server_preference_alone_does_not_force_hrr() -> None:
    # The server prefers P-384 but accepts the P-256 share it was given.
    result = handshake(
        *memory_pair(client("P-256:P-384"), server("P-384:P-256"), server_name="localhost")
    )
    assert not result.server.hello_retry_request
    assert result.server.group == group("secp256r1")


def test_tls12_has_no_hrr_even_with_the_same_groups() -> None:
    result = handshake(
        *memory_pair(
            client("P-256:X25519", max_version="1.2"), server("X25519"), server_name="localhost"
        )
    )
    assert result.client.version == "TLSv1.2"
    assert not result.client.hello_retry_request
    assert result.client.group == group("x25519")


def test_hrr_cannot_help_without_a_common_group() -> None:
    result = drive(*memory_pair(client("P-384"), server("X25519"), server_name="localhost"))
    assert type(result.error) is ProtocolError
    assert result.failed_side is Role.SERVER
    assert result.error.reasons == ["no suitable key share"]
    assert not result.client.hello_retry_request
