"""Ownership and lifetime: close(), use after close, context managers, gc, bad input.

docs/architecture.md, rules 4 and 9: a Connection keeps its Context (and socket) alive;
close() is idempotent; a closed object raises ValueError, never crashes;
wrong types and bad files give typed errors that name what was wrong.
"""

from __future__ import annotations

import gc
import socket
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from ossl_handshake import (
    ConfigurationError,
    Connection,
    Context,
    Role,
    SSLError,
    certs,
    handshake,
    memory_pair,
)


@pytest.fixture(scope="module")
def server_ctx() -> Context:
    return Context(Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.key)


@pytest.fixture(scope="module")
def client_ctx() -> Context:
    return Context(Role.CLIENT, cafile=certs.CA)


def finished_pair(client_ctx: Context, server_ctx: Context) -> tuple[Connection, Connection]:
    client, server = memory_pair(client_ctx, server_ctx, server_name="localhost")
    handshake(client, server)
    return client, server


def test_close_is_idempotent(client_ctx: Context, server_ctx: Context) -> None:
    client, server = finished_pair(client_ctx, server_ctx)
    for conn in (client, server):
        assert not conn.closed
        conn.close()
        conn.close()
        assert conn.closed
    assert repr(client) == "<Connection client closed>"


CONNECTION_USES: dict[str, Callable[[Connection], Any]] = {
    "step": lambda c: c.step(),
    "do_handshake": lambda c: c.do_handshake(),
    "read": lambda c: c.read(10),
    "write": lambda c: c.write(b"x"),
    "shutdown": lambda c: c.shutdown(),
    "process_pending": lambda c: c.process_pending(),
    "key_update": lambda c: c.key_update(),
    "bio_read": lambda c: c.bio_read(),
    "bio_write": lambda c: c.bio_write(b"x"),
    "bio_pending": lambda c: c.bio_pending,
    "bio_write_guarantee": lambda c: c.bio_write_guarantee,
    "bio_shutdown_wr": lambda c: c.bio_shutdown_wr(),
    "state": lambda c: c.state,
    "version": lambda c: c.version,
    "cipher": lambda c: c.cipher,
    "verify_result": lambda c: c.verify_result,
    "is_init_finished": lambda c: c.is_init_finished,
    "pending": lambda c: c.pending,
    "session": lambda c: c.session,
    "session_reused": lambda c: c.session_reused,
    "alpn_protocol": lambda c: c.alpn_protocol,
    "server_name": lambda c: c.server_name,
    "group": lambda c: c.group,
    "peer_certificate": lambda c: c.peer_certificate,
    "peer_chain": lambda c: c.peer_chain,
    "ptr": lambda c: c.ptr,
    "hello_retry_request": lambda c: c.hello_retry_request,
    "alert_sent": lambda c: c.alert_sent,
    "alert_received": lambda c: c.alert_received,
    "on_info": lambda c: setattr(c, "on_info", lambda *a: None),
}


@pytest.mark.parametrize("use", list(CONNECTION_USES.values()), ids=list(CONNECTION_USES))
def test_every_connection_method_after_close_raises_value_error(
    use: Callable[[Connection], Any], client_ctx: Context, server_ctx: Context
) -> None:
    client, server = finished_pair(client_ctx, server_ctx)
    client.close()
    with pytest.raises(ValueError, match="closed"):
        use(client)
    server.close()


def test_transfer_to_a_closed_connection_raises_value_error(
    client_ctx: Context, server_ctx: Context
) -> None:
    client, server = memory_pair(client_ctx, server_ctx, server_name="localhost")
    client.step()
    server.close()
    with pytest.raises(ValueError, match="closed"):
        client.transfer_to(server)


def test_context_after_close_raises_value_error() -> None:
    ctx = Context(Role.CLIENT, cafile=certs.CA)
    ctx.close()
    ctx.close()
    with pytest.raises(ValueError, match="closed"):
        Connection(ctx)
    with pytest.raises(ValueError, match="closed"):
        ctx.load_verify_locations(certs.CA)
    with pytest.raises(ValueError, match="closed"):
        ctx.set_ciphers("HIGH")


def test_context_managers_close(server_ctx: Context) -> None:
    with Context(Role.CLIENT, cafile=certs.CA) as ctx:
        with Connection(ctx, server_name="localhost") as conn:
            conn.step()
        assert conn.closed
    assert ctx.closed


def test_connection_keeps_its_context_alive(server_ctx: Context) -> None:
    ctx = Context(Role.CLIENT, cafile=certs.CA)
    ref = weakref.ref(ctx)
    client = Connection(ctx, server_name="localhost")
    server = Connection(server_ctx)
    del ctx
    gc.collect()
    assert ref() is not None
    result = handshake(client, server)
    assert result.client.verify_result == 0


def test_closed_connection_and_context_are_collected(server_ctx: Context) -> None:
    ctx = Context(Role.CLIENT, cafile=certs.CA)
    client, server = memory_pair(ctx, server_ctx, server_name="localhost")
    handshake(client, server)
    refs = [weakref.ref(o) for o in (ctx, client, server)]
    client.close()
    server.close()
    del ctx, client, server
    gc.collect()
    assert [r() for r in refs] == [None, None, None]


def test_open_connection_is_collected_by_refcount_alone(client_ctx: Context) -> None:
    # No reference cycle: dropping the last reference frees the SSL at once.
    gc.disable()
    try:
        conn = Connection(client_ctx, server_name="localhost")
        conn.step()
        ref = weakref.ref(conn)
        del conn
        assert ref() is None
    finally:
        gc.enable()


def test_failed_handshake_leaves_no_cycle(client_ctx: Context, server_ctx: Context) -> None:
    client, server = memory_pair(client_ctx, server_ctx, server_name="example.com")
    with pytest.raises(SSLError):
        handshake(client, server)
    refs = [weakref.ref(client), weakref.ref(server)]
    del client, server
    gc.collect()
    assert [r() for r in refs] == [None, None]


def test_wrong_types_raise_type_error(client_ctx: Context) -> None:
    with pytest.raises(TypeError):
        Context("client", cafile=123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="context must be a Context, not object"):
        Connection(object())  # type: ignore[arg-type]
    conn = Connection(client_ctx, server_name="localhost")
    with pytest.raises(TypeError, match="data must be bytes-like, not str"):
        conn.bio_write("str")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="data must be bytes-like, not str"):
        conn.write("str")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="read size must be an int"):
        conn.read("10")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        conn.bio_read(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"sock must be a socket\.socket"):
        Connection(client_ctx, sock=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Role("middle")


def test_bad_values_raise_value_error(client_ctx: Context) -> None:
    conn = Connection(client_ctx, server_name="localhost")
    # A negative size is a wrong value of the right type: ValueError, as bytes(-1).
    with pytest.raises(ValueError, match="read size must be positive, not -1"):
        conn.read(-1)
    with pytest.raises(ValueError, match="bio_size"):
        Connection(client_ctx, bio_size=-5)
    closed = socket.socket()
    closed.close()
    with pytest.raises(ValueError, match="socket is closed"):
        Connection(client_ctx, sock=closed)
    with pytest.raises(ValueError, match="unknown TLS version"):
        Context(Role.CLIENT, max_version="1.9")


def test_missing_cafile_is_file_not_found(tmp_path: Any) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(FileNotFoundError, match=r"nope\.pem"):
        Context(Role.CLIENT, cafile=missing)
    with pytest.raises(FileNotFoundError, match=r"nope\.pem"):
        Context(Role.SERVER, cert=missing, key=certs.SERVER_ECDSA.key)


def test_not_a_certificate_is_configuration_error_naming_the_file() -> None:
    with pytest.raises(ConfigurationError) as info:
        Context(Role.SERVER, cert=certs.NOT_A_CERT, key=certs.SERVER_ECDSA.key)
    assert str(certs.NOT_A_CERT) in str(info.value)
    assert "SSL_CTX_use_certificate_chain_file failed: cannot load" in str(info.value)
    assert "no start line" in info.value.reasons
    assert isinstance(info.value, ValueError) and isinstance(info.value, SSLError)
    with pytest.raises(ConfigurationError, match=r"not-a-cert\.pem"):
        Context(Role.CLIENT, cafile=certs.NOT_A_CERT)


def test_mismatched_key_is_configuration_error_saying_it_does_not_match() -> None:
    with pytest.raises(ConfigurationError) as info:
        Context(Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.MISMATCHED_KEY)
    text = str(info.value)
    assert f"key {certs.MISMATCHED_KEY} does not match certificate {certs.SERVER_ECDSA.cert}" in (
        text
    )
    assert info.value.reasons == ["key values mismatch"]


def test_certificate_file_given_as_key_is_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"cannot load .*server-ecdsa\.pem"):
        Context(Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.cert)


def test_memory_connection_has_no_timeout(client_ctx: Context) -> None:
    assert Connection(client_ctx, server_name="localhost").timeout is None
