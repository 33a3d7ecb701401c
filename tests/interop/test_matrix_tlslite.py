"""Interop matrix against tlslite-ng (pure Python TLS), as server and as client.

tlslite-ng runs in a subprocess (``tlslite_peer.py``) with the interpreter
running pytest; it prints one JSON report per connection.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ossl_handshake import Connection, Context
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
    ReceivedHandshakes,
    cells,
    check_exchanges,
    check_negative,
    cipher_name,
    context_for,
    describe_failure,
    negatives,
    our_client_context,
    our_server_context,
    peer_argv_python,
    peer_saw_alert,
    run_exchanges,
    run_our_client,
)

pytestmark = pytest.mark.timeout(60)

SCRIPT = Path(__file__).with_name("tlslite_peer.py")
TRAITS = PeerTraits(validates_chain=False)
TRAITS_13_SERVER = PeerTraits(validates_chain=False, reports_resumption=False)
TLS13_RESUMED_NOTE = (
    "tlslite-ng server does not report TLS 1.3 PSK resumption (conn.resumed stays False "
    "in _serverTLS13Handshake); the cell checks the wire instead: the resumed handshake "
    "we received had no server Certificate message"
)
COMPRESSION_NOTE = (
    "tlslite-ng 0.8.2 client compresses its TLS 1.3 Certificate whenever its own "
    "ClientHello offered compress_certificate (bug), which OpenSSL 3.0 rejects with "
    "unexpected_message; the peer runs with certificate_compression_send=[]"
)
NO_VALIDATION = (
    "tlslite-ng has no X.509 path validation or hostname check "
    "(its Checker only pins a leaf fingerprint), so it cannot reject this certificate"
)


class Worker:
    """The tlslite-ng subprocess; one per module, restarted after a failed cell."""

    def __init__(self) -> None:
        self.proc: PeerProcess | None = None

    def live(self) -> PeerProcess:
        if self.proc is None or self.proc.proc.poll() is not None:
            self.proc = PeerProcess(peer_argv_python(SCRIPT), stdin=True)
        return self.proc

    def submit(self, cfg: dict[str, Any]) -> tuple[PeerProcess, int]:
        """Send one config; returns the process and the index its answer starts at."""
        peer = self.live()
        start = peer.mark()
        peer.send(json.dumps(cfg) + "\n")
        return peer, start

    def finish(self, peer: PeerProcess, start: int) -> list[dict[str, Any]]:
        """Wait for the config's ``done`` line; its JSON lines (without ready/done)."""
        peer.wait_for('"done"', 2 * TIMEOUT, start=start)
        with peer._cond:
            lines = peer.lines[start:]
        objs = [json.loads(x) for x in lines if x.startswith("{")]
        return [o for o in objs if "ready" not in o and "done" not in o]

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    w = Worker()
    yield w
    w.kill()


@pytest.fixture
def tlslite(worker: Worker) -> Iterator[Worker]:
    """The module's worker; killed (and restarted by the next cell) if this cell fails."""
    ok = False
    try:
        yield worker
        ok = True
    finally:
        if not ok:
            worker.kill()


def _reports(objs: list[dict[str, Any]], *, expects_cert: bool) -> list[EndReport]:
    out: list[EndReport] = []
    for obj in objs:
        if not obj["ok"]:
            out.append(EndReport(ok=False, error=obj["error"]))
            continue
        out.append(
            EndReport(
                ok=True,
                version=obj["version"],
                cipher=cipher_name(obj["cipher_code"]),
                alpn=obj["alpn"],
                resumed=obj["resumed"],
                verify="unchecked" if expects_cert else "none",
                received=obj["received"],
                peer_leaf_sha256=obj["peer_leaf_sha256"],
            )
        )
    return out


def _base_cfg(
    versions: tuple[str, str], connections: int, alpn: tuple[str, ...] | None
) -> dict[str, Any]:
    return {
        "min_version": versions[0],
        "max_version": versions[1],
        "connections": connections,
        "alpn": list(alpn) if alpn else [],
        "timeout": TIMEOUT,
    }


def _start_server(w: Worker, cfg: dict[str, Any]) -> tuple[PeerProcess, int, int]:
    peer, start = w.submit(cfg)
    line = peer.wait_for('"ready"', start=start)
    return peer, start, int(json.loads(line)["ready"])


def _run_pair(
    w: Worker,
    ours_role: str,
    ctx: Context,
    cfg: dict[str, Any],
    connections: int,
    token: str,
    *,
    mutual: bool,
    observe: Callable[[Connection], None] | None = None,
) -> tuple[list[EndReport], list[EndReport]]:
    """Run our side against the worker; returns (our reports, tlslite's reports)."""
    if ours_role == "client":
        peer, start, port = _start_server(w, {**cfg, "role": "server"})
        ours = run_our_client(ctx, port, connections, token, observe=observe)
        if len(ours) < connections:
            w.kill()  # the server still waits in accept(); do not wait for its timeout
            return ours, []
        return ours, _reports(w.finish(peer, start), expects_cert=mutual)
    with OurServer(ctx, connections, expect_peer_cert=mutual) as server:
        peer, start = w.submit({**cfg, "role": "client", "port": server.port, "token": token})
        objs = w.finish(peer, start)
        ours = server.join()
    return ours, _reports(objs, expects_cert=True)


@pytest.mark.parametrize("cell", cells("tlslite"), ids=lambda c: c.id)
def test_tlslite_matrix_cell(cell: Cell, tlslite: Worker, record_property: Any) -> None:
    versions = (cell.version, cell.version)
    if cell.ours == "client":
        cfg = _base_cfg(versions, cell.connections, SERVER_ALPN if cell.alpn == "alpn" else None)
        cfg.update(
            cert=str(cell.server_identity.cert),
            key=str(cell.server_identity.key),
            require_client_cert=cell.mutual,
        )
    else:
        cfg = _base_cfg(versions, cell.connections, CLIENT_ALPN if cell.alpn == "alpn" else None)
        if cell.mutual:
            cfg.update(cert=str(cell.client_identity.cert), key=str(cell.client_identity.key))
    seen = ReceivedHandshakes()
    ours, theirs = _run_pair(
        tlslite,
        cell.ours,
        context_for(cell, cell.ours),
        cfg,
        cell.connections,
        cell.token,
        mutual=cell.mutual,
        observe=seen.attach,
    )
    traits = TRAITS
    if cell.ours == "client" and cell.version == "1.3" and cell.mode == "resumed":
        traits = TRAITS_13_SERVER
        record_property("note", TLS13_RESUMED_NOTE)
        # the wire shows what tlslite-ng does not report: the resumed
        # handshake came without a server Certificate (PSK accepted)
        first, second = seen.per_connection
        assert ReceivedHandshakes.CERTIFICATE in first, first
        assert ReceivedHandshakes.CERTIFICATE not in second, second
    if cell.ours == "server" and cell.mutual and cell.version == "1.3":
        record_property("note", COMPRESSION_NOTE)
    check_exchanges(cell, run_exchanges(ours, theirs), traits)


def _negative_applicable(neg: Negative) -> str | None:
    """Why tlslite-ng cannot play this negative cell, or None."""
    if neg.kind in ("wrong-ca", "wrong-host") and neg.ours == "server":
        return NO_VALIDATION
    if neg.kind == "untrusted-client-cert" and neg.ours == "client":
        return NO_VALIDATION
    return None


@pytest.mark.parametrize("neg", negatives("tlslite"), ids=lambda n: n.id)
def test_tlslite_negative_cell(neg: Negative, tlslite: Worker, record_property: Any) -> None:
    reason = _negative_applicable(neg)
    if reason is not None:
        pytest.skip(f"not applicable: {reason}")
    if neg.ours == "client":
        cfg = _base_cfg(neg.server_versions, 1, None)
        cfg.update(
            cert=str(neg.server_identity.cert),
            key=str(neg.server_identity.key),
            require_client_cert=neg.mutual,
        )
        ctx = our_client_context(
            versions=neg.client_versions, identity=neg.client_identity if neg.mutual else None
        )
    else:
        cfg = _base_cfg(neg.client_versions, 1, None)
        if neg.mutual:
            cfg.update(cert=str(neg.client_identity.cert), key=str(neg.client_identity.key))
        ctx = our_server_context(
            versions=neg.server_versions, identity=neg.server_identity, mutual=neg.mutual
        )
    ours, theirs = _run_pair(tlslite, neg.ours, ctx, cfg, 1, "neg", mutual=neg.mutual)
    peer_ok = bool(theirs) and all(r.ok for r in theirs)
    record_property("observed", describe_failure(ours[0] if ours else None))
    record_property("peer_saw", f"tlslite-ng: {theirs[0].error}" if theirs else "no report")
    check_negative(neg, ours, peer_ok, repr(theirs))
    if ours and ours[0].alert_sent:
        assert theirs, "tlslite-ng made no report"
        assert peer_saw_alert(ours[0].alert_sent, theirs[0].error or ""), theirs[0]
