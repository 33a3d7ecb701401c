"""Interop matrix against GnuTLS: gnutls-serv (ours as client), gnutls-cli (ours as server).

Both tools are parsed from their normal output: ``- Description:``,
``- Version:``, ``- Key Exchange:``, ``- Application protocol:``,
``- Status: The certificate is trusted.``, ``*** This is a resumed session``,
and the echoed application data. ``gnutls-serv`` has no option to bind one
address: it listens on 0.0.0.0 and :: (we only ever connect to 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from ossl_handshake import Connection, Context, certs
from tests.interop.common import (
    CLIENT_ALPN,
    SERVER_ALPN,
    TIMEOUT,
    Cell,
    EndReport,
    Negative,
    OurServer,
    PeerTraits,
    SentRecords,
    cells,
    check_exchanges,
    check_negative,
    cipher_from_gnutls,
    context_for,
    describe_failure,
    gnutls_version,
    negatives,
    our_client_context,
    our_server_context,
    peer_saw_alert,
    require_tool,
    run_exchanges,
    run_our_client,
    start_listening_peer,
)

pytestmark = pytest.mark.timeout(60)

TRAITS = PeerTraits()
# gnutls-cli --resume makes the first connection handshake-only.
CLI_RESUME_TRAITS = PeerTraits(data_on_every_connection=False)
SERV_BIND_NOTE = (
    "gnutls-serv has no bind-address option: it listens on 0.0.0.0 and :: "
    "(the test connects to 127.0.0.1 only)"
)
PLAINTEXT_ALERT_NOTE = (
    "gnutls-serv reports 'Decryption has failed' for the alert our TLS 1.3 client sends "
    "when it rejects the server certificate: OpenSSL 3.0 sends that alert as a plaintext "
    "record (content type 21, checked with SSL_set_msg_callback; its write side moves to "
    "the handshake traffic keys only with its second flight). The OpenSSL, stdlib and "
    "tlslite-ng servers read it as the alert (see their negative tables); GnuTLS 3.7.9 "
    "tries to decrypt it"
)
CLI_RESUME_NOTE = (
    "gnutls-cli --resume makes the first connection handshake-only; data round-trips "
    "on the resumed one. Its resumed TLS 1.2 description omits the signature group, "
    "so the suite's authentication is taken from the first connection"
)


def _priority(versions: tuple[str, str]) -> str:
    allowed = [v for v in ("1.2", "1.3") if versions[0] <= v <= versions[1]]
    return "NORMAL:-VERS-ALL:" + ":".join(f"+VERS-TLS{v}" for v in allowed)


def _field(block: str, name: str) -> str | None:
    m = re.search(rf"^- {re.escape(name)}: (.*)$", block, re.M)
    return m.group(1).strip() if m else None


def _description(block: str) -> tuple[str | None, list[str]]:
    desc = _field(block, "Description")
    if desc is None:
        return None, []
    # "(TLS1.3-X.509)-(ECDHE-SECP256R1)-(ECDSA-SECP256R1-SHA256)-(AES-256-GCM)";
    # resumed TLS 1.3 prints "(TLS1.3-X.509)--(AES-256-GCM)".
    groups = re.findall(r"\(([^()]*)\)", desc)
    return gnutls_version(groups[0].split("-")[0]), groups


def _auth_from(groups: list[str], kx: str | None) -> str | None:
    if kx:
        return "RSA" if kx.endswith("RSA") else "ECDSA"
    if len(groups) >= 4:  # (ver)-(kx)-(sig)-(cipher); resumed handshakes drop (sig)
        return "RSA" if groups[2].startswith("RSA") else "ECDSA"
    return None


def parse_serv(output: str, *, mutual: bool) -> list[EndReport]:
    """One report per connection: an ``* Accepted connection`` block, or the
    ``Error in handshake:`` line gnutls-serv prints (without that header) for a
    handshake that failed."""
    out: list[EndReport] = []
    chunks = re.split(r"^(?=\* Accepted connection from|Error in handshake: )", output, flags=re.M)
    for block in chunks:
        if block.startswith("Error in handshake: "):
            out.append(EndReport(ok=False, error=block.splitlines()[0].split(": ", 1)[1]))
            continue
        if not block.startswith("* Accepted connection from"):
            continue
        version = gnutls_version(_field(block, "Version") or "")
        _v, groups = _description(block)
        auth = _auth_from(groups, _field(block, "Key Exchange"))
        cipher = cipher_from_gnutls(_field(block, "Cipher") or "", version, auth)
        resumed = "*** This is a resumed session" in block
        status = _field(block, "Status")
        if status is not None:
            verify = "ok" if status.startswith("The certificate is trusted") else status
        else:
            verify = "resumed" if (mutual and resumed) else "none"
        got = re.search(r"^received cmd: (.*)$", block, re.M)
        out.append(
            EndReport(
                ok=True,
                version=version,
                cipher=cipher,
                alpn=_field(block, "Application protocol"),
                resumed=resumed,
                verify=verify,
                received=got.group(1) + "\n" if got else None,
            )
        )
    return out


def parse_cli(output: str, token_line: str | None) -> list[EndReport]:
    """One report per connection gnutls-cli made (two with ``--resume``)."""
    out: list[EndReport] = []
    blocks = output.split("- Connecting again- trying to resume previous session")
    prev_auth: str | None = None
    for i, block in enumerate(blocks):
        if "Handshake was completed" not in block:
            err = re.search(r"\*\*\* Fatal error: (.*)", block)
            out.append(EndReport(ok=False, error=err.group(1) if err else block.strip()[-300:]))
            break
        version, groups = _description(block)
        # A resumed TLS 1.2 description has no signature group; the suite is
        # the session's, so the authentication is the first connection's.
        auth = _auth_from(groups, None) or prev_auth
        prev_auth = auth
        cipher = cipher_from_gnutls(groups[-1] if groups else "", version or "", auth)
        resumed = "*** This is a resumed session" in block
        status = _field(block, "Status")
        verify = (
            "resumed"
            if resumed and status is None
            else (
                "ok" if status and status.startswith("The certificate is trusted") else str(status)
            )
        )
        last = i == len(blocks) - 1
        received = None
        if last and token_line is not None and token_line.strip() in block.splitlines():
            received = token_line
        out.append(
            EndReport(
                ok=True,
                version=version,
                cipher=cipher,
                alpn=_field(block, "Application protocol"),
                resumed=resumed,
                verify=verify,
                received=received,
            )
        )
    return out


def _serv_argv(
    port: int,
    identity: certs.Identity,
    versions: tuple[str, str],
    *,
    mutual: bool,
    alpn: tuple[str, ...] | None,
) -> list[str]:
    argv = [
        require_tool("gnutls-serv"),
        "-p",
        str(port),
        "--echo",
        "--x509certfile",
        str(identity.cert),
        "--x509keyfile",
        str(identity.key),
        "--priority",
        _priority(versions),
    ]
    if mutual:
        argv += ["--x509cafile", str(certs.CA), "--require-client-cert", "--verify-client-cert"]
    else:
        argv += ["--disable-client-cert"]
    for proto in alpn or ():
        argv += ["--alpn", proto]
    return argv


def _cli_run(
    port: int,
    versions: tuple[str, str],
    *,
    identity: certs.Identity | None,
    alpn: tuple[str, ...] | None,
    resume: bool,
    stdin: str,
) -> tuple[int, str]:
    argv = [
        require_tool("gnutls-cli"),
        "-p",
        str(port),
        "--x509cafile",
        str(certs.CA),
        "--verify-hostname",
        "localhost",
        "--sni-hostname",
        "localhost",
        "--priority",
        _priority(versions),
    ]
    if identity is not None:
        argv += ["--x509certfile", str(identity.cert), "--x509keyfile", str(identity.key)]
    for proto in alpn or ():
        argv += ["--alpn", proto]
    if resume:
        argv += ["--resume"]
    argv.append("127.0.0.1")
    proc = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=2 * TIMEOUT, check=False
    )
    return proc.returncode, proc.stdout + proc.stderr


def _serve_and_connect(
    identity: certs.Identity,
    versions: tuple[str, str],
    mutual: bool,
    alpn: tuple[str, ...] | None,
    ctx: Context,
    connections: int,
    token: str,
    *,
    settle: str | None = None,
    observe: Callable[[Connection], None] | None = None,
) -> tuple[list[EndReport], list[EndReport], str]:
    """Start gnutls-serv, run our client; ``settle``: a line to wait for before stopping it."""
    peer, port = start_listening_peer(
        lambda p: _serv_argv(p, identity, versions, mutual=mutual, alpn=alpn)
    )
    try:
        ours = run_our_client(ctx, port, connections, token, observe=observe)
        if settle is not None:
            with contextlib.suppress(TimeoutError):
                peer.wait_for(settle)
    finally:
        output = peer.stop()
    return ours, parse_serv(output, mutual=mutual), output


@pytest.mark.parametrize("cell", cells("gnutls"), ids=lambda c: c.id)
def test_gnutls_matrix_cell(cell: Cell, record_property: Any) -> None:
    versions = (cell.version, cell.version)
    alpn_on = cell.alpn == "alpn"
    if cell.ours == "client":
        ours, theirs, _out = _serve_and_connect(
            cell.server_identity,
            versions,
            cell.mutual,
            SERVER_ALPN if alpn_on else None,
            context_for(cell, "client"),
            cell.connections,
            cell.token,
        )
        record_property("note", SERV_BIND_NOTE)
        check_exchanges(cell, run_exchanges(ours, theirs), TRAITS)
        return
    resume = cell.mode == "resumed"
    if resume:
        record_property("note", CLI_RESUME_NOTE)
    token_line = f"{cell.token}-{cell.connections - 1}\n"
    with OurServer(
        context_for(cell, "server"), cell.connections, expect_peer_cert=cell.mutual
    ) as srv:
        _rc, output = _cli_run(
            srv.port,
            versions,
            identity=cell.client_identity if cell.mutual else None,
            alpn=CLIENT_ALPN if alpn_on else None,
            resume=resume,
            stdin=token_line,
        )
        ours = srv.join()
    theirs = parse_cli(output, token_line)
    check_exchanges(cell, run_exchanges(ours, theirs), CLI_RESUME_TRAITS if resume else TRAITS)


@pytest.mark.parametrize("neg", negatives("gnutls"), ids=lambda n: n.id)
def test_gnutls_negative_cell(neg: Negative, record_property: Any) -> None:
    if neg.ours == "client":
        ctx = our_client_context(
            versions=neg.client_versions, identity=neg.client_identity if neg.mutual else None
        )
        records = SentRecords()
        ours, theirs, output = _serve_and_connect(
            neg.server_identity,
            neg.server_versions,
            neg.mutual,
            None,
            ctx,
            1,
            "neg",
            settle="Error in handshake",
            observe=records.attach,
        )
        peer_ok = bool(theirs) and all(r.ok for r in theirs)
        peer_saw = theirs[0].error if theirs and theirs[0].error else ""
        record_property("observed", describe_failure(ours[0] if ours else None))
        record_property("peer_saw", f"gnutls-serv: {peer_saw}")
        check_negative(neg, ours, peer_ok, output)
        sent = ours[0].alert_sent
        if sent is not None and peer_saw.startswith("Decryption has failed"):
            # Measured: OpenSSL 3.0 sends this TLS 1.3 alert before it has
            # switched its write side to the handshake keys, as a plaintext
            # record (type 21); GnuTLS tries to decrypt it.
            assert records.plaintext_alert, records.headers
            record_property("note", PLAINTEXT_ALERT_NOTE)
        elif sent is not None:
            assert "A TLS fatal alert has been received" in peer_saw, output
        return
    ctx = our_server_context(
        versions=neg.server_versions, identity=neg.server_identity, mutual=neg.mutual
    )
    with OurServer(ctx, 1, expect_peer_cert=neg.mutual) as srv:
        rc, output = _cli_run(
            srv.port,
            neg.client_versions,
            identity=neg.client_identity if neg.mutual else None,
            alpn=None,
            resume=False,
            stdin="neg-0\n",
        )
        ours = srv.join()
    theirs = parse_cli(output, None)
    peer_ok = rc == 0 and bool(theirs) and all(r.ok for r in theirs)
    saw = re.findall(
        r"^(?:\*\*\* Received alert .*|- Status: The certificate is NOT .*)$", output, re.M
    )
    record_property("observed", describe_failure(ours[0] if ours else None))
    record_property("peer_saw", "gnutls-cli: " + "; ".join(s.strip() for s in saw))
    check_negative(neg, ours, peer_ok, output)
    if ours and ours[0].alert_sent:
        assert peer_saw_alert(ours[0].alert_sent, output), output
    if neg.kind == "wrong-ca":
        assert "The certificate issuer is unknown" in output, output
    if neg.kind == "wrong-host":
        assert "The name in the certificate does not match" in output, output
