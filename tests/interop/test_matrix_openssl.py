"""Interop matrix against OpenSSL's own tools: ``openssl s_server`` and ``openssl s_client``.

Same library as ours, but a different application: its own state machine
driving, session handling, ALPN callback and verify callback. ``s_server``
runs in its default mode (application data received is printed, lines typed
on its stdin are sent), binds ``127.0.0.1:0`` and prints the port it got; it
reports ``CIPHER is``, ``Reused session-id``, ``ALPN protocols selected``, the
verify callback's ``verify return:1`` lines and the session (whose DER holds
the protocol version). ``s_client`` reports ``New|Reused, TLSv1.x, Cipher is``,
``ALPN protocol``, ``Verify return code``.
"""

from __future__ import annotations

import base64
import contextlib
import re
import subprocess
from pathlib import Path

import pytest

from ossl_handshake import Context, certs
from tests._openssl import VERIFY_TEXT
from tests.interop.common import (
    CLIENT_ALPN,
    SERVER_ALPN,
    TIMEOUT,
    Cell,
    EndReport,
    Negative,
    OurServer,
    PeerProcess,
    PeerTraits,
    cells,
    check_exchanges,
    check_negative,
    context_for,
    describe_failure,
    negatives,
    our_client_context,
    our_server_context,
    peer_saw_alert,
    require_tool,
    run_exchanges,
    run_our_client,
)

pytestmark = pytest.mark.timeout(60)

TRAITS = PeerTraits()
_VERSION_FLAG = {"1.2": "TLSv1.2", "1.3": "TLSv1.3"}


def session_version(pem_body: str) -> str | None:
    """Protocol version from an ``SSL SESSION PARAMETERS`` PEM body.

    The DER is ``SEQUENCE { INTEGER 1, INTEGER ssl_version, ... }``.
    """
    der = base64.b64decode("".join(pem_body.split()))
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    if der[i : i + 3] != b"\x02\x01\x01" or der[i + 3] != 0x02:
        return None
    n = der[i + 4]
    value = int.from_bytes(der[i + 5 : i + 5 + n], "big")
    return {0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}.get(value)


def parse_s_server(output: str, *, mutual: bool) -> list[EndReport]:
    """One report per connection block (each ends with ``CONNECTION CLOSED``)."""
    out: list[EndReport] = []
    for block in output.split("CONNECTION CLOSED")[:-1]:
        cipher = re.search(r"^CIPHER is (\S+)", block, re.M)
        if cipher is None:
            out.append(EndReport(ok=False, error=block.strip()[-400:]))
            continue
        sess = re.search(
            r"-----BEGIN SSL SESSION PARAMETERS-----(.*?)-----END SSL SESSION PARAMETERS-----",
            block,
            re.S,
        )
        alpn = re.search(r"^ALPN protocols selected: (\S+)", block, re.M)
        resumed = "Reused session-id" in block
        if not mutual:
            verify = "none"
        elif "verify error" in block:
            verify = "failed"
        elif re.search(r"^depth=0 .*\nverify return:1", block, re.M):
            verify = "ok"
        else:
            verify = "resumed" if resumed else "no client certificate"
        # data is written raw, reports through a buffered BIO: search anywhere
        got = re.search(r"(ping-\S+-\d+)", block)
        out.append(
            EndReport(
                ok=True,
                version=session_version(sess.group(1)) if sess else None,
                cipher=cipher.group(1),
                alpn=alpn.group(1) if alpn else None,
                resumed=resumed,
                verify=verify,
                received=got.group(1) + "\n" if got else None,
            )
        )
    return out


def parse_s_client(output: str, token_line: str) -> EndReport:
    m = re.search(r"^(New|Reused), (TLSv[\d.]+), Cipher is (\S+)", output, re.M)
    if m is None or "(NONE)" in m.group(3):
        err = re.findall(r"^(?:verify error:.*|.*:error:.*)$", output, re.M)
        return EndReport(ok=False, error="\n".join(err) or output.strip()[-400:])
    alpn = re.search(r"^ALPN protocol: (\S+)", output, re.M)
    code = re.search(r"^\s*Verify return code: (\d+) \((.*)\)", output, re.M)
    verify = "ok" if code and code.group(1) == "0" else (code.group(2) if code else None)
    return EndReport(
        ok=True,
        version=m.group(2),
        cipher=m.group(3),
        alpn=alpn.group(1) if alpn else None,
        resumed=m.group(1) == "Reused",
        verify=verify,
        # s_client writes received data with write(2) while its reports go
        # through a buffered BIO: the line can land inside another line.
        received=token_line if token_line.strip() in output else None,
    )


def openssl_errors(output: str) -> list[str]:
    """The reasons in an OpenSSL app's error lines (``...:SSL routines:func:reason:file``)
    and its ``verify error:`` lines, deduplicated, in order."""
    found = re.findall(r"SSL routines:[^:]*:([^:]+):", output)
    found += re.findall(r"^verify error:(num=\d+:.*)$", output, re.M)
    return list(dict.fromkeys(found))


def _s_server(
    identity: certs.Identity,
    versions: tuple[str, str],
    *,
    mutual: bool,
    alpn: tuple[str, ...] | None,
    connections: int,
) -> tuple[PeerProcess, int]:
    argv = [
        require_tool("openssl"),
        "s_server",
        "-accept",
        "127.0.0.1:0",
        "-naccept",
        str(connections),
        "-cert",
        str(identity.cert),
        "-key",
        str(identity.key),
        "-cert_chain",
        str(certs.INTERMEDIATE),
        "-min_protocol",
        _VERSION_FLAG[versions[0]],
        "-max_protocol",
        _VERSION_FLAG[versions[1]],
    ]
    if mutual:
        argv += ["-CAfile", str(certs.CA), "-Verify", "2", "-verify_return_error"]
    if alpn:
        argv += ["-alpn", ",".join(alpn)]
    peer = PeerProcess(argv, stdin=True)
    try:
        line = peer.wait_for("ACCEPT ")
    except TimeoutError:
        peer.stop()
        raise
    return peer, int(line.rsplit(":", 1)[1])


def _s_client(
    port: int,
    versions: tuple[str, str],
    *,
    identity: certs.Identity | None,
    alpn: tuple[str, ...] | None,
    stdin: str,
    sess_out: Path | None = None,
    sess_in: Path | None = None,
) -> tuple[int, str]:
    argv = [
        require_tool("openssl"),
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-servername",
        "localhost",
        "-verify_hostname",
        "localhost",
        "-verify_return_error",
        "-CAfile",
        str(certs.CA),
        "-min_protocol",
        _VERSION_FLAG[versions[0]],
        "-max_protocol",
        _VERSION_FLAG[versions[1]],
        "-ign_eof",
    ]
    if identity is not None:
        argv += ["-cert", str(identity.cert), "-key", str(identity.key)]
        argv += ["-cert_chain", str(certs.INTERMEDIATE)]
    if alpn:
        argv += ["-alpn", ",".join(alpn)]
    if sess_out is not None:
        argv += ["-sess_out", str(sess_out)]
    if sess_in is not None:
        argv += ["-sess_in", str(sess_in)]
    proc = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=2 * TIMEOUT, check=False
    )
    return proc.returncode, proc.stdout + proc.stderr


def _ours_client_vs_s_server(
    ctx: Context,
    identity: certs.Identity,
    versions: tuple[str, str],
    *,
    mutual: bool,
    alpn: tuple[str, ...] | None,
    connections: int,
    token: str,
) -> tuple[list[EndReport], list[EndReport], str]:
    peer, port = _s_server(identity, versions, mutual=mutual, alpn=alpn, connections=connections)

    def answer(line: str) -> None:
        # s_server printed what we sent: type the same line on its stdin.
        peer.wait_for(line.strip())
        peer.send(line)

    try:
        ours = run_our_client(ctx, port, connections, token, after_write=answer)
        if all(r.ok for r in ours) and len(ours) == connections:
            peer.wait_for("CONNECTION CLOSED", start=0)
            peer.wait(TIMEOUT)
        elif len(ours) == connections:
            # a failed connection still counts for -naccept: s_server prints
            # what it saw and exits (its buffered output is lost if we kill it)
            with contextlib.suppress(subprocess.TimeoutExpired):
                peer.wait(TIMEOUT)
    finally:
        output = peer.stop()
    return ours, parse_s_server(output, mutual=mutual), output


@pytest.mark.parametrize("cell", cells("openssl"), ids=lambda c: c.id)
def test_openssl_matrix_cell(cell: Cell, tmp_path: Path) -> None:
    versions = (cell.version, cell.version)
    alpn_on = cell.alpn == "alpn"
    if cell.ours == "client":
        ours, theirs, _ = _ours_client_vs_s_server(
            context_for(cell, "client"),
            cell.server_identity,
            versions,
            mutual=cell.mutual,
            alpn=SERVER_ALPN if alpn_on else None,
            connections=cell.connections,
            token=cell.token,
        )
    else:
        sess = tmp_path / "session.pem"
        theirs = []
        with OurServer(
            context_for(cell, "server"), cell.connections, expect_peer_cert=cell.mutual
        ) as srv:
            for i in range(cell.connections):
                line = f"{cell.token}-{i}\n"
                _rc, output = _s_client(
                    srv.port,
                    versions,
                    identity=cell.client_identity if cell.mutual else None,
                    alpn=CLIENT_ALPN if alpn_on else None,
                    stdin=line,
                    sess_out=sess if i == 0 else None,
                    sess_in=sess if i > 0 else None,
                )
                theirs.append(parse_s_client(output, line))
            ours = srv.join()
    check_exchanges(cell, run_exchanges(ours, theirs), TRAITS)


@pytest.mark.parametrize("neg", negatives("openssl"), ids=lambda n: n.id)
def test_openssl_negative_cell(neg: Negative, record_property: object) -> None:
    if neg.ours == "client":
        ctx = our_client_context(
            versions=neg.client_versions, identity=neg.client_identity if neg.mutual else None
        )
        ours, theirs, output = _ours_client_vs_s_server(
            ctx,
            neg.server_identity,
            neg.server_versions,
            mutual=neg.mutual,
            alpn=None,
            connections=1,
            token="neg",
        )
        peer_ok = bool(theirs) and all(r.ok for r in theirs)
    else:
        ctx = our_server_context(
            versions=neg.server_versions, identity=neg.server_identity, mutual=neg.mutual
        )
        with OurServer(ctx, 1, expect_peer_cert=neg.mutual) as srv:
            rc, output = _s_client(
                srv.port,
                neg.client_versions,
                identity=neg.client_identity if neg.mutual else None,
                alpn=None,
                stdin="ping-neg-0\n",
            )
            ours = srv.join()
        peer_ok = rc == 0 and parse_s_client(output, "ping-neg-0\n").ok
        if neg.kind == "wrong-ca":
            assert "verify error:num=20:unable to get local issuer certificate" in output
        if neg.kind == "wrong-host":
            assert f"verify error:num=62:{VERIFY_TEXT[62]}" in output
    assert callable(record_property)
    record_property("observed", describe_failure(ours[0] if ours else None))
    tool = "s_server" if neg.ours == "client" else "s_client"
    record_property("peer_saw", f"{tool}: " + "; ".join(openssl_errors(output)))
    check_negative(neg, ours, peer_ok, output)
    if ours and ours[0].alert_sent:
        assert peer_saw_alert(ours[0].alert_sent, output), output
