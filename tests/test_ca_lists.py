"""CA lists of client authentication: what the server sends, what the client reads.

The server's CertificateRequest lists acceptable CA names
(``SSL_CTX_set_client_CA_list``: from ``cafile`` with ``client_auth``, an
explicit list, or an empty one); the client reads them
(``SSL_get_client_CA_list``) on its result, in memory and against
``openssl s_server -CAfile``.
"""

from __future__ import annotations

import pytest

from ossl_handshake import ConfigurationError, ContextInUseError, certs, handshake, memory_pair
from tests._contexts import client, server
from tests._pause_sockets import connect_to
from tests._peers import SServer, openssl_cli, s_server_identity

pytestmark = pytest.mark.timeout(60)

ROOT = "O=ossl-handshake tests,CN=ossl-handshake Test Root CA"
INTERMEDIATE = "O=ossl-handshake tests,CN=ossl-handshake Test Intermediate CA"


def _untrusted_root() -> str:
    return server(
        cafile=certs.UNTRUSTED_CA, client_auth="request", client_ca_list=[certs.UNTRUSTED_CA]
    ).client_ca_names[0]


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_the_client_reads_the_ca_names_the_server_asked_for(version: str) -> None:
    srv = server(cafile=certs.CA, client_auth="request")
    assert srv.client_ca_names == [ROOT]
    result = handshake(*memory_pair(client(max_version=version), srv, server_name="localhost"))
    assert result.client.client_ca_names == [ROOT]
    assert result.server.peer_subject is None  # asked, none sent


def test_an_explicit_list_names_every_ca_of_the_files_given() -> None:
    srv = server(
        cafile=certs.CA,
        client_auth="request",
        client_ca_list=[certs.CA, certs.INTERMEDIATE, certs.UNTRUSTED_CA],
    )
    expected = [ROOT, INTERMEDIATE, _untrusted_root()]
    assert srv.client_ca_names == expected
    result = handshake(*memory_pair(client(), srv, server_name="localhost"))
    assert result.client.client_ca_names == expected


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_an_empty_list_sends_no_names_and_the_client_still_authenticates(version: str) -> None:
    srv = server(cafile=certs.CA, client_auth="require", client_ca_list=[])
    assert srv.client_ca_names == []
    mtls = client(cert=certs.CLIENT.cert, key=certs.CLIENT.key, max_version=version)
    result = handshake(*memory_pair(mtls, srv, server_name="localhost"))
    # TLS 1.2 sends an empty list; TLS 1.3 leaves certificate_authorities out.
    assert result.client.client_ca_names == ([] if version == "1.2" else None)
    assert result.server.peer_subject is not None


def test_without_client_auth_no_list_reaches_the_client() -> None:
    result = handshake(*memory_pair(client(), server(), server_name="localhost"))
    assert not result.client.client_ca_names  # None or [] by version: nothing was asked


def test_bad_lists_are_typed_errors_and_the_list_is_refused_in_use() -> None:
    with pytest.raises(ConfigurationError):
        server(client_ca_list=[certs.NOT_A_CERT])
    with pytest.raises(ConfigurationError):
        server(client_ca_list=[certs.CA, certs.NOT_A_CERT])
    with pytest.raises(FileNotFoundError):
        server(client_ca_list=["/nonexistent/ca.pem"])
    srv = server()
    c, s = memory_pair(client(), srv)
    with pytest.raises(ContextInUseError):
        srv.set_client_ca_list([certs.CA])
    c.close()
    s.close()
    srv.set_client_ca_list([certs.CA])
    assert srv.client_ca_names == [ROOT]


def test_over_a_socket_the_client_reads_the_names_openssl_s_server_sent() -> None:
    openssl = openssl_cli()
    proc = SServer(
        openssl, *s_server_identity(certs.SERVER_ECDSA), "-verify", "1", "-CAfile", str(certs.CA)
    )
    try:
        with connect_to(client(), proc.port) as conn:
            conn.do_handshake()
            assert conn.client_ca_names == [ROOT]
    finally:
        proc.finish()
