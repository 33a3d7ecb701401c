"""ALPN protocol IDs are opaque bytes (RFC 7301): ``b"\\xffx"`` goes through unchanged.

The selector gets the offered IDs as bytes, the negotiated ID reads back as
bytes (``alpn_protocol_bytes``), and a ``str`` is only a convenience for
ASCII IDs. In memory, and over sockets against ``openssl s_server -alpn`` /
``openssl s_client -alpn`` given the raw bytes on their command line.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest

from ossl_handshake import CallbackError, Connection, Role, certs, handshake, memory_pair
from tests._contexts import client, run, server
from tests._peers import SServer, openssl_cli, s_server_identity
from tests._peers import run as run_cmd

pytestmark = pytest.mark.timeout(60)

ODD = b"\xffx"  # not ASCII, not UTF-8


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_non_ascii_id_reaches_the_selector_and_comes_back_as_bytes(version: str) -> None:
    offers: list[list[bytes]] = []

    def choose(offered: list[bytes]) -> bytes:
        offers.append(offered)
        return offered[0]

    result = run(client(max_version=version, alpn=[ODD, "h2"]), server(alpn_select=choose))
    assert result.ok
    assert offers == [[ODD, b"h2"]]
    assert result.client.alpn_protocol_bytes == result.server.alpn_protocol_bytes == ODD
    # The text convenience escapes what is not ASCII instead of replacing it.
    assert result.client.alpn_protocol == "\\xffx"


def test_connection_reads_the_negotiated_id_as_bytes() -> None:
    c, s = memory_pair(client(alpn=[ODD]), server(alpn=[b"h2", ODD]), server_name="localhost")
    handshake(c, s)
    assert c.alpn_protocol_bytes == s.alpn_protocol_bytes == ODD
    assert s.alpn_protocol == "\\xffx"


def test_ascii_ids_keep_their_str_convenience() -> None:
    result = run(client(alpn=["h2", b"http/1.1"]), server(alpn=[b"http/1.1"]))
    assert result.client.alpn_protocol == "http/1.1"
    assert result.client.alpn_protocol_bytes == b"http/1.1"


def test_selector_may_answer_with_an_ascii_str() -> None:
    result = run(client(alpn=["h2"]), server(alpn_select=lambda offered: "h2"))
    assert result.ok and result.server.alpn_protocol_bytes == b"h2"


@pytest.mark.parametrize("where", ["client", "server", "connection"])
def test_non_ascii_str_is_a_value_error(where: str) -> None:
    with pytest.raises(ValueError, match="ASCII"):
        if where == "client":
            client(alpn=["h\u00e9"])
        elif where == "server":
            server(alpn=["h\u00e9"])
        else:
            Connection(client(), server_name="localhost", alpn=["h\u00e9"])


def test_selector_answering_a_non_ascii_str_is_a_callback_error() -> None:
    c, s = memory_pair(
        client(alpn=["h2"]), server(alpn_select=lambda offered: "\u00ff"), server_name="localhost"
    )
    with pytest.raises(CallbackError) as info:
        handshake(c, s)
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.role is Role.SERVER


# ---- over sockets, against the openssl command ----------------------------------------


def test_our_client_negotiates_a_non_ascii_id_with_openssl_s_server() -> None:
    openssl = openssl_cli()
    # argv carries the raw byte 0xff (os.fsdecode keeps it as a surrogate escape).
    alpn = os.fsdecode(ODD + b",h2")
    peer = SServer(openssl, *s_server_identity(certs.SERVER_ECDSA), "-alpn", alpn)
    try:
        sock = socket.create_connection(("127.0.0.1", peer.port), timeout=10)
        with Connection(client(alpn=[ODD]), sock=sock, server_name="localhost") as conn:
            conn.do_handshake()
            assert conn.alpn_protocol_bytes == ODD
    finally:
        peer.kill()


def test_openssl_s_client_offering_a_non_ascii_id_reaches_our_selector(
    ossl_tls_server: Any,
) -> None:
    openssl = openssl_cli()
    offers: list[list[bytes]] = []

    def choose(offered: list[bytes]) -> bytes | None:
        offers.append(offered)
        return ODD if ODD in offered else None

    host, port = ossl_tls_server(server(alpn_select=choose)).address
    cmd = [openssl, "s_client", "-connect", f"{host}:{port}", "-servername", "localhost"]
    rc, out, err = run_cmd([*cmd, "-CAfile", str(certs.CA), "-alpn", os.fsdecode(ODD + b",h2")])
    assert rc == 0, err
    assert offers == [[ODD, b"h2"]]
    assert "ALPN protocol: \ufffdx" in out  # s_client prints the raw byte; decoded as text here
