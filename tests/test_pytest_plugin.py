"""The pytest plugin, as a user sees it: fixtures and ``expect_handshake_failure``.

Inner test files run under ``pytester`` with the plugin loaded from its
``pytest11`` entry point (the package is installed), including the example
test file from docs/guide/pytest-plugin.md. The ``ossl_tls_server`` fixture is also used directly.
"""

from __future__ import annotations

import re
import socket
import threading
from pathlib import Path

import pytest

from ossl_handshake import (
    CertificateVerifyError,
    Connection,
    Context,
    ProtocolError,
    Role,
    certs,
)
from ossl_handshake.testing.plugin import TLSServer, TLSServerFactory, expect_handshake_failure

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.timeout(30)

PLUGIN_PAGE = Path(__file__).resolve().parents[1] / "docs" / "guide" / "pytest-plugin.md"


def client_on(address: tuple[str, int], ctx: Context) -> Connection:
    sock = socket.create_connection(address, timeout=5)
    sock.settimeout(5)
    return Connection(ctx, sock=sock, server_name="localhost")


def run_inner(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=source)
    # No -p option: the inner session finds the plugin through its pytest11 entry point.
    # hypothesis's plugin costs seconds per session and is not needed here.
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-q")


def test_the_documented_example_test_file_passes(pytester: pytest.Pytester) -> None:
    text = PLUGIN_PAGE.read_text(encoding="utf-8")
    match = re.search(r"<!-- pytest-file -->\n```python\n(.*?)```", text, re.DOTALL)
    assert match is not None, "docs/guide/pytest-plugin.md lost its example test file"
    result = run_inner(pytester, match.group(1))
    result.assert_outcomes(passed=len(re.findall(r"^def test_", match.group(1), re.M)))


def test_plugin_fixtures_give_pki_contexts_and_a_memory_pair(pytester: pytest.Pytester) -> None:
    result = run_inner(
        pytester,
        """
from ossl_handshake import handshake

def test_memory_handshake(ossl_pki, ossl_client_context, ossl_server_context, ossl_memory_pair):
    assert ossl_pki.CA.is_file()
    client, server = ossl_memory_pair
    assert client.context is ossl_client_context and server.context is ossl_server_context
    result = handshake(client, server)
    assert result.client.peer_subject == "O=ossl-handshake tests,CN=localhost"
""",
    )
    result.assert_outcomes(passed=1)


def test_a_projects_own_client_context_and_memory_pair_do_not_collide_with_the_plugin(
    pytester: pytest.Pytester,
) -> None:
    # The user's conftest has fixtures with the names the plugin used to take;
    # its tests use them and the plugin's next to each other in one session.
    pytester.makeconftest(
        """
import pytest

@pytest.fixture
def client_context():
    return "the project's client_context"

@pytest.fixture
def memory_pair(client_context):
    return ("the project's memory_pair", client_context)
"""
    )
    result = run_inner(
        pytester,
        """
from ossl_handshake import Context, handshake

def test_the_projects_fixtures_are_its_own(client_context, memory_pair):
    assert client_context == "the project's client_context"
    assert memory_pair == ("the project's memory_pair", "the project's client_context")

def test_the_plugins_fixtures_next_to_them(
    client_context, memory_pair, ossl_client_context, ossl_memory_pair
):
    assert isinstance(ossl_client_context, Context)
    client, server = ossl_memory_pair
    assert client.context is ossl_client_context  # not the project's client_context
    assert handshake(client, server).ok
    assert memory_pair[0] == "the project's memory_pair"

def test_the_plugin_offers_no_unprefixed_names(server_context):
    pass
""",
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*fixture 'server_context' not found*"])


def test_expect_handshake_failure_reports_success_and_mismatches(
    pytester: pytest.Pytester,
) -> None:
    result = run_inner(
        pytester,
        """
from ossl_handshake import CertificateVerifyError, Context, Role, handshake, memory_pair

def test_no_failure(ossl_client_context, ossl_memory_pair, ossl_expect_handshake_failure):
    client, server = ossl_memory_pair
    with ossl_expect_handshake_failure():
        handshake(client, server)

def test_wrong_alert(ossl_server_context, ossl_pki, ossl_expect_handshake_failure):
    ctx = Context(Role.CLIENT, cafile=ossl_pki.UNTRUSTED_CA)
    client, server = memory_pair(ctx, ossl_server_context, server_name="localhost")
    with ossl_expect_handshake_failure(CertificateVerifyError, alert="bad_certificate"):
        handshake(client, server)

def test_other_exceptions_pass_through(ossl_expect_handshake_failure):
    with ossl_expect_handshake_failure():
        raise KeyError("not a TLS error")
""",
    )
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*handshake succeeded; expected SSLError*",
            "*CertificateVerifyError*does not match: alert 'bad_certificate' neither sent"
            " ('unknown_ca')*",
            "*KeyError*not a TLS error*",
        ]
    )


def test_tls_server_serves_concurrent_clients_and_stops_cleanly(
    ossl_tls_server: TLSServerFactory, ossl_client_context: Context
) -> None:
    before = threading.active_count()
    server: TLSServer = ossl_tls_server()
    a = client_on(server.address, ossl_client_context)
    b = client_on(server.address, ossl_client_context)
    b.do_handshake()  # the second client first: connections are served concurrently
    a.do_handshake()
    for conn, data in ((a, b"from a"), (b, b"from b")):
        conn.write(data)
        assert conn.read() == data
    b.shutdown()
    server.wait(1)
    server.stop()  # a is still open: stop cuts it and joins every thread
    assert len(server.served) == 2
    assert all(s.result is not None and s.result.finished for s in server.served)
    assert threading.active_count() == before
    for conn in (a, b):
        conn.close()


def test_tls_server_with_mtls_config_records_the_failed_handshake(
    ossl_tls_server: TLSServerFactory, ossl_client_context: Context, mtls_client_context: Context
) -> None:
    server: TLSServer = ossl_tls_server(cafile=certs.CA, client_auth="require")
    good = client_on(server.address, mtls_client_context)
    good.do_handshake()
    good.write(b"x")
    assert good.read() == b"x"
    good.shutdown()
    (served,) = server.wait(1)
    assert served.ok
    assert served.result is not None
    assert served.result.peer_subject == "O=ossl-handshake tests,CN=ossl-handshake test client"

    bad = client_on(server.address, ossl_client_context)
    bad.do_handshake()  # TLS 1.3: the rejection comes after our side finished
    with expect_handshake_failure(ProtocolError, alert_received="certificate_required"):
        bad.read()
    served_bad = server.wait(2)[1]
    assert not served_bad.ok
    assert isinstance(served_bad.error, ProtocolError)
    assert served_bad.error.reason == "peer did not return a certificate"
    assert served_bad.error.alert_sent == "certificate_required"
    for conn in (good, bad):
        conn.close()


def test_tls_server_handler_errors_are_recorded_not_lost(
    ossl_tls_server: TLSServerFactory, ossl_client_context: Context
) -> None:
    def handler(conn: Connection) -> None:
        raise RuntimeError("handler bug")

    server: TLSServer = ossl_tls_server(handler=handler)
    conn = client_on(server.address, ossl_client_context)
    conn.do_handshake()
    (served,) = server.wait(1)
    assert isinstance(served.error, RuntimeError)
    assert served.result is not None and served.result.finished
    conn.close()


def test_expect_handshake_failure_matches_verify_code_and_reason(
    ossl_tls_server: TLSServerFactory,
) -> None:
    server: TLSServer = ossl_tls_server(cert=certs.EXPIRED.cert, key=certs.EXPIRED.key)
    conn = client_on(server.address, Context(Role.CLIENT, cafile=certs.CA))
    with expect_handshake_failure(
        CertificateVerifyError,
        alert="certificate_expired",
        reason="certificate verify failed",
        verify_code=10,  # X509_V_ERR_CERT_HAS_EXPIRED
    ) as info:
        conn.do_handshake()
    assert info.error is not None and info.error.verify_message == "certificate has expired"
    conn.close()
