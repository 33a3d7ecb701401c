"""Keying material and channel binding: both peers of one handshake agree, and so does s_client.

RFC 5705 exporters (``SSL_export_keying_material``), the Finished messages
(``SSL_get_finished`` / ``SSL_get_peer_finished``), the hello randoms and the
session's master key, in memory and over a socket against ``openssl s_client
-keymatexport``.
"""

from __future__ import annotations

import re

import pytest

from ossl_handshake import Connection, Context, SSLError, handshake, memory_pair
from tests._beyond import (
    GNUTLS_TRUST,
    OneServer,
    finish,
    gnutls_cli,
    gnutls_only,
    run_to_server,
    s_client_cmd,
    tls_flag,
)
from tests._openssl import EXPORTER_EMPTY_CONTEXT_DIFFERS

pytestmark = pytest.mark.timeout(30)

VERSIONS = ["1.2", "1.3"]
LABEL = "EXPERIMENTAL-ossl-handshake"


@pytest.fixture
def established(clients: dict[str, Context], ossl_server_context: Context):  # type: ignore[no-untyped-def]
    """``established(version)``: a handshaken memory pair."""
    made: list[Connection] = []

    def make(version: str) -> tuple[Connection, Connection]:
        c, s = memory_pair(clients[version], ossl_server_context, server_name="localhost")
        made.extend((c, s))
        handshake(c, s)
        return c, s

    yield make
    for conn in made:
        conn.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_both_sides_export_the_same_keying_material(established, version: str) -> None:
    client, server = established(version)
    for context in (None, b"", b"per-request context"):
        mine = client.export_keying_material(LABEL, 32, context)
        assert len(mine) == 32
        assert mine == server.export_keying_material(LABEL, 32, context)
    # A different label or length is a different output, not a prefix of one.
    assert client.export_keying_material(LABEL + "2", 32) != client.export_keying_material(
        LABEL, 32
    )
    assert client.export_keying_material(LABEL, 16) == server.export_keying_material(LABEL, 16)


@pytest.mark.parametrize("version", VERSIONS)
def test_no_context_and_an_empty_context_per_the_man_page(established, version: str) -> None:
    """SSL_export_keying_material(3): use_context=0 is not an empty context in TLS 1.2;
    TLS 1.3's exporter hashes an absent context as an empty one."""
    client, _ = established(version)
    none = client.export_keying_material(LABEL, 32, None)
    empty = client.export_keying_material(LABEL, 32, b"")
    assert (none != empty) is EXPORTER_EMPTY_CONTEXT_DIFFERS[version]


@pytest.mark.parametrize("version", VERSIONS)
def test_finished_messages_and_randoms_match_across_the_pair(established, version: str) -> None:
    client, server = established(version)
    assert client.finished is not None and client.finished == server.peer_finished
    assert server.finished is not None and server.finished == client.peer_finished
    assert client.finished != server.finished
    assert client.client_random == server.client_random
    assert client.server_random == server.server_random
    assert client.client_random is not None and len(client.client_random) == 32
    assert client.client_random != client.server_random
    key = client.master_key
    assert key is not None and key == server.master_key
    assert len(key) == (48 if version == "1.2" else len(key))


def test_every_handshake_has_its_own_exporter(
    clients: dict[str, Context], ossl_server_context: Context
) -> None:
    outputs = set()
    for _ in range(3):
        c, s = memory_pair(clients["1.3"], ossl_server_context, server_name="localhost")
        handshake(c, s)
        outputs.add(c.export_keying_material(LABEL, 32))
    assert len(outputs) == 3


def test_before_the_handshake_nothing_is_exported(
    clients: dict[str, Context], ossl_server_context: Context
) -> None:
    client, _ = memory_pair(clients["1.3"], ossl_server_context, server_name="localhost")
    with pytest.raises(SSLError, match="SSL_export_keying_material"):
        client.export_keying_material(LABEL, 32)
    assert client.finished is None and client.peer_finished is None
    assert client.client_random is None and client.server_random is None
    assert client.master_key is None


@pytest.mark.parametrize(
    ("label", "length", "context", "error"),
    [
        ("", 32, None, ValueError),
        ("caf\u00e9", 32, None, ValueError),
        (b"nul\x00label", 32, None, ValueError),
        (42, 32, None, TypeError),
        (LABEL, 0, None, ValueError),
        (LABEL, 1 << 20, None, ValueError),
        (LABEL, "32", None, TypeError),
        (LABEL, 32, "text", TypeError),
    ],
)
def test_bad_exporter_arguments_are_typed_errors(
    established, label: object, length: object, context: object, error: type[Exception]
) -> None:
    client, _ = established("1.3")
    with pytest.raises(error):
        client.export_keying_material(label, length, context)  # type: ignore[arg-type]


def _export_then_read(conn: Connection, seen: dict[str, object]) -> None:
    seen["key"] = conn.export_keying_material(LABEL, 20)
    seen["data"] = conn.read()


@pytest.mark.parametrize("version", VERSIONS)
def test_exporter_matches_openssl_s_client_keymatexport(
    ossl_server_context: Context, version: str
) -> None:
    """Our server and ``s_client -keymatexport`` export the same bytes over a socket."""
    srv = OneServer(ossl_server_context, _export_then_read)
    cmd = s_client_cmd(
        srv.port, tls_flag(version), "-keymatexport", LABEL, "-keymatexportlen", "20"
    )
    proc = run_to_server(cmd, b"ping\n")
    ours = srv.join()
    assert "error" not in ours, ours
    m = re.search(r"Keying material: ([0-9A-F]+)", proc.stdout.decode())
    assert m is not None, proc.stdout.decode()
    assert bytes.fromhex(m.group(1)) == ours["key"]
    assert ours["data"] == b"ping\n"


@pytest.mark.parametrize("version", VERSIONS)
def test_exporter_matches_gnutls_cli_keymatexport(
    ossl_server_context: Context, version: str
) -> None:
    srv = OneServer(ossl_server_context, _export_then_read)
    proc = gnutls_cli(
        srv.port,
        *GNUTLS_TRUST,
        *gnutls_only(version),
        "--keymatexport",
        LABEL,
        "--keymatexportsize",
        "20",
    )
    seen = srv.join()
    out, err = finish(proc)
    assert "error" not in seen, (seen, err)
    m = re.search(r"- Key material: ([0-9a-f]+)", out)
    assert m is not None, out
    assert bytes.fromhex(m.group(1)) == seen["key"] and seen["data"] == b"ping\n"


@pytest.mark.parametrize("version", VERSIONS)
def test_the_result_carries_keying_material_asked_for_at_drive_time(
    clients: dict[str, Context], ossl_server_context: Context, version: str
) -> None:
    """``handshake(..., keying_material=[...])``: both sides' exports and bindings in the result."""
    client, server = memory_pair(clients[version], ossl_server_context, server_name="localhost")
    with client, server:
        requests = [(LABEL, 32), (LABEL, 16, b"ctx"), (LABEL.encode(), 24, b"")]
        result = handshake(client, server, keying_material=requests)
        mine, theirs = result.client.keying, result.server.keying
        assert mine is not None and theirs is not None
        assert mine.exported == theirs.exported and len(mine.exported) == 3
        # The same bytes the live connection exports, for each request.
        assert mine.export(LABEL, 32) == client.export_keying_material(LABEL, 32)
        assert mine.export(LABEL, 16, b"ctx") == server.export_keying_material(LABEL, 16, b"ctx")
        assert len(mine.export(LABEL, 24, b"")) == 24
        # Channel bindings: each side's Finished is the other's peer Finished.
        assert mine.finished == theirs.peer_finished and mine.peer_finished == theirs.finished
        assert mine.client_random == theirs.client_random == client.client_random
        assert mine.server_random == theirs.server_random and len(mine.server_random or b"") == 32
        with pytest.raises(KeyError):
            mine.export(LABEL, 64)


def test_no_keying_material_unless_asked_or_after_a_failure(
    clients: dict[str, Context], ossl_server_context: Context
) -> None:
    client, server = memory_pair(clients["1.3"], ossl_server_context, server_name="localhost")
    with client, server:
        assert handshake(client, server).client.keying is None
    wrong = memory_pair(clients["1.3"], ossl_server_context, server_name="wrong.example")
    with wrong[0], wrong[1]:
        failed = handshake(*wrong, check=False, keying_material=[(LABEL, 32)])
        assert failed.error is not None
        assert failed.client.keying is None and failed.server.keying is None
