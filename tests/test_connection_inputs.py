"""Hostile and surprising values at the connection's API: refused with a typed error, or right.

Each case once crashed, overflowed inside cffi, or did something silently
wrong (verified nothing, sent the wrong byte count). Now it either raises
``TypeError``/``ValueError`` before libssl sees it, or works exactly.
"""

from __future__ import annotations

from array import array

import pytest

from ossl_handshake import (
    CertificateVerifyError,
    Connection,
    Context,
    WantReadError,
    certs,
    drive,
    handshake,
    join,
    memory_pair,
)
from tests._contexts import client, run

pytestmark = pytest.mark.timeout(30)

X509_V_ERR_HOSTNAME_MISMATCH = 62
X509_V_ERR_IP_ADDRESS_MISMATCH = 64


def _read_exactly(conn: Connection, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        try:
            data.extend(conn.read(65536))
        except WantReadError:
            break
    return bytes(data)


# -- 8. bytes-like data counted in bytes ---------------------------------------------


def test_write_of_a_memoryview_of_ints_sends_nbytes_and_the_peer_reads_them_exactly(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    handshake(client, server)
    n = 3000
    items = array("I", range(n))
    view = memoryview(items)
    assert len(view) == n and view.nbytes == 4 * n
    assert client.write(view) == 4 * n  # bytes, not items
    client.transfer_to(server)
    got = _read_exactly(server, 4 * n)
    assert got == items.tobytes()
    with pytest.raises(WantReadError):  # and nothing more
        server.read()
    client.close()
    server.close()


def test_bio_write_of_a_memoryview_of_ints_takes_nbytes(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    client.step()
    hello = client.bio_read()
    padded = hello + b"\0" * (-len(hello) % 4)
    words = array("I")
    words.frombytes(padded)
    assert server.bio_write(memoryview(words)) == len(padded)
    assert server.bio_write_guarantee >= 0
    client.close()
    server.close()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(memoryview(b"abcdefgh")[::2], id="strided"),
        pytest.param(memoryview(array("I", range(8)))[::2], id="strided-ints"),
    ],
)
def test_write_of_a_non_contiguous_memoryview_is_refused_with_value_error(
    data: memoryview, ossl_client_context: Context, ossl_server_context: Context
) -> None:
    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    handshake(client, server)
    with pytest.raises(ValueError, match="contiguous"):
        client.write(data)
    with pytest.raises(ValueError, match="contiguous"):
        server.bio_write(data)
    assert client.bio_pending == 0  # nothing went out
    client.close()
    server.close()


def test_write_of_a_str_is_type_error(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    handshake(client, server)
    with pytest.raises(TypeError, match="str"):
        client.write("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str"):
        client.bio_write("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.write(12)  # type: ignore[arg-type]
    client.close()
    server.close()


# -- 12. verify_host -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param("", ValueError, id="empty"),
        pytest.param(1, TypeError, id="one"),
        pytest.param(0, TypeError, id="zero"),
        pytest.param(b"localhost", TypeError, id="bytes"),
        pytest.param("local\x00host", ValueError, id="nul"),
        pytest.param(1.0, TypeError, id="float"),
    ],
)
def test_verify_host_of_the_wrong_kind_is_refused(
    value: object, error: type[Exception], ossl_client_context: Context
) -> None:
    """Old: accepted, and a certificate for another host then verified."""
    with pytest.raises(error):
        Connection(ossl_client_context, server_name="localhost", verify_host=value)  # type: ignore[arg-type]
    with pytest.raises(error):
        memory_pair(
            ossl_client_context,
            ossl_client_context,
            server_name="localhost",
            verify_host=value,  # type: ignore[arg-type]
        )


def test_verify_host_true_without_server_name_is_refused(ossl_client_context: Context) -> None:
    with pytest.raises(ValueError, match="server_name"):
        Connection(ossl_client_context, verify_host=True)


def test_verify_host_other_than_the_server_name_fails_with_hostname_mismatch(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    result = run(ossl_client_context, ossl_server_context, "localhost", verify_host="otherhost")
    assert isinstance(result.error, CertificateVerifyError), repr(result.error)
    assert result.error.verify_code == X509_V_ERR_HOSTNAME_MISMATCH
    assert result.client.verify_result == X509_V_ERR_HOSTNAME_MISMATCH
    assert result.server.server_name == "localhost"  # SNI is still the server name


def test_verify_host_false_skips_only_the_name_check(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    result = run(ossl_client_context, ossl_server_context, "other.example", verify_host=False)
    assert result.ok, repr(result.error)
    assert result.client.verify_result == 0
    # The chain is still verified: an untrusted server still fails.
    untrusting = client(cafile=certs.UNTRUSTED_CA)
    result = run(untrusting, ossl_server_context, "localhost", verify_host=False)
    assert isinstance(result.error, CertificateVerifyError), repr(result.error)
    assert result.error.verify_code in (19, 20)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_ip_literal_server_name_is_verified_against_the_ip_san_and_sends_no_sni(
    address: str, ossl_client_context: Context, ossl_server_context: Context
) -> None:
    # certs/server-ecdsa.pem: DNS:localhost, IP:127.0.0.1, IP:::1.
    result = run(ossl_client_context, ossl_server_context, address)
    assert result.ok, repr(result.error)
    assert result.client.verify_result == 0
    assert result.server.server_name is None  # RFC 6066: no IP literals in SNI


def test_ip_literal_not_in_the_certificate_fails_with_ip_address_mismatch(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    result = run(ossl_client_context, ossl_server_context, "127.0.0.2")
    assert isinstance(result.error, CertificateVerifyError), repr(result.error)
    assert result.error.verify_code == X509_V_ERR_IP_ADDRESS_MISMATCH
    result = run(ossl_client_context, ossl_server_context, "localhost", verify_host="10.0.0.1")
    assert isinstance(result.error, CertificateVerifyError), repr(result.error)
    assert result.error.verify_code == X509_V_ERR_IP_ADDRESS_MISMATCH


# -- 13. hostile sizes, limits and pairings ----------------------------------------


@pytest.mark.parametrize("size", [-1, 2**31, 2**64, True, 1.5, "0"])
def test_bio_size_out_of_range_or_of_the_wrong_type_is_refused(
    size: object, ossl_client_context: Context, ossl_server_context: Context
) -> None:
    error = TypeError if isinstance(size, (bool, float, str)) else ValueError
    with pytest.raises(error, match="bio_size"):
        Connection(ossl_client_context, bio_size=size)  # type: ignore[arg-type]
    with pytest.raises(error, match="bio_size"):
        memory_pair(ossl_client_context, ossl_server_context, bio_size=size)  # type: ignore[arg-type]
    conn = Connection(ossl_client_context, bio_size=None)
    with pytest.raises(error, match="size"):
        conn.set_bio_pair(size)  # type: ignore[arg-type]
    conn.close()


@pytest.mark.parametrize(
    ("limit", "error"),
    [(-1, ValueError), (2**63, ValueError), (True, TypeError), (1.0, TypeError)],
)
def test_transfer_to_with_a_hostile_limit_is_refused(
    limit: object,
    error: type[Exception],
    ossl_client_context: Context,
    ossl_server_context: Context,
) -> None:
    client, server = memory_pair(ossl_client_context, ossl_server_context, server_name="localhost")
    client.step()
    pending = client.bio_pending
    with pytest.raises(error, match="limit"):
        client.transfer_to(server, limit=limit)  # type: ignore[arg-type]
    assert client.bio_pending == pending  # nothing moved
    assert client.transfer_to(server, limit=0) == 0
    assert client.transfer_to(server, limit=10) == 10
    client.close()
    server.close()


@pytest.mark.parametrize("direct", [False, True], ids=["python", "direct"])
@pytest.mark.parametrize(
    ("max_steps", "error"),
    [
        pytest.param(2**40, ValueError, id="2**40"),
        pytest.param(2**31, ValueError, id="2**31"),
        pytest.param(-1, ValueError, id="negative"),
        pytest.param(0, ValueError, id="zero"),
        pytest.param(True, TypeError, id="bool"),
        pytest.param("5", TypeError, id="str"),
        pytest.param(2.5, TypeError, id="float"),
    ],
)
def test_drive_with_a_hostile_max_steps_is_refused_before_any_step(
    max_steps: object,
    error: type[Exception],
    direct: bool,
    ossl_client_context: Context,
    ossl_server_context: Context,
) -> None:
    """Old: OverflowError from cffi (direct mode), or a silent 'budget exhausted'."""
    c, s = memory_pair(
        ossl_client_context, ossl_server_context, server_name="localhost", direct=direct
    )
    with pytest.raises(error, match="max_steps"):
        drive(c, s, max_steps=max_steps)  # type: ignore[arg-type]
    assert c.state == "before SSL initialization"  # refused before any step
    assert drive(c, s, max_steps=2**31 - 1).ok  # the largest budget is fine
    c.close()
    s.close()


def test_join_of_a_connection_with_itself_is_refused(ossl_client_context: Context) -> None:
    conn = Connection(ossl_client_context, bio_size=None)
    with pytest.raises(ValueError, match="two different connections"):
        join(conn, conn)
    assert not conn.closed
    conn.close()


def test_adopting_the_ssl_of_a_live_connection_again_is_refused(
    ossl_client_context: Context,
) -> None:
    """The role check on a C-made SSL is in tests/test_connection_observers.py."""
    conn = Connection(ossl_client_context, server_name="localhost")
    with pytest.raises(ValueError, match="already belongs to a live Connection"):
        Connection.adopt(conn.ptr, role="server")
    with pytest.raises(ValueError, match="already belongs to a live Connection"):
        Connection.adopt(conn.ptr)
    assert conn.state == "before SSL initialization"  # untouched
    conn.close()
