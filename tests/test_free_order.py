"""Objects freed in any order, and at interpreter exit: no crash, no double free.

Each scenario runs in its own interpreter (``python -X dev``, so CPython's
debug allocator hooks are on) and must exit 0 with no "Exception ignored"
noise: a double ``SSL_free`` or a use after free aborts the child (glibc's
heap checks) or segfaults it, which the parent sees as a signal exit.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(60)

PRELUDE = """
import gc, sys, threading
from ossl_handshake import Connection, Context, Role, certs, handshake, join, lib, memory_pair

def cctx(**kw):
    return Context(Role.CLIENT, cafile=certs.CA, **kw)

def sctx(**kw):
    return Context(Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.key, **kw)
"""

SCENARIOS = {
    "context_closed_and_deleted_before_its_connections": """
        c_ctx, s_ctx = cctx(verify_callback=lambda *a: True), sctx()
        client, server = memory_pair(c_ctx, s_ctx, server_name="localhost")
        c_ctx.close(); s_ctx.close(); del c_ctx, s_ctx; gc.collect()
        assert handshake(client, server).ok  # the SSLs hold their own SSL_CTX references
        del client; gc.collect(); del server; gc.collect()
    """,
    "pair_halves_freed_mid_handshake_in_both_orders": """
        c_ctx, s_ctx = cctx(), sctx()
        for first in ("client", "server"):
            client, server = memory_pair(c_ctx, s_ctx, server_name="localhost")
            client.step(); client.transfer_to(server); server.step()
            if first == "client":
                del client; gc.collect()
                server.transfer_to  # the survivor still works on its own
                server.step(); del server
            else:
                del server; gc.collect()
                client.step(); del client
            gc.collect()
    """,
    "direct_pair_closed_one_half_then_the_other": """
        c_ctx, s_ctx = cctx(), sctx()
        for order in (0, 1):
            client, server = memory_pair(c_ctx, s_ctx, server_name="localhost", direct=True)
            handshake(client, server)
            a, b = (client, server) if order == 0 else (server, client)
            a.close(); b.step(); b.close(); a.close(); b.close()
    """,
    "adopted_pointers_released_before_and_after_their_creator": """
        c_ctx = cctx()
        for owned in (False, True):
            for wrapper_first in (True, False):
                raw = lib.SSL_new(c_ctx.ptr)
                conn = Connection.adopt(raw, owned=owned)
                conn.set_bio_pair()
                conn.step()
                if owned:
                    del conn; gc.collect()  # freed exactly once, by us
                elif wrapper_first:
                    del conn; gc.collect(); lib.SSL_free(raw)
                else:
                    lib.SSL_free(raw)  # our up_ref keeps it alive
                    conn.step(); conn.close()
        ctx_raw = lib.SSL_CTX_new(lib.TLS_client_method())
        ctx = Context.adopt(ctx_raw, "client")
        conn = Connection(ctx)
        lib.SSL_CTX_free(ctx_raw); del ctx; gc.collect()
        conn.step(); del conn; gc.collect()
    """,
    "session_outlives_its_connection_and_context": """
        c_ctx, s_ctx = cctx(), sctx()
        client, server = memory_pair(c_ctx, s_ctx, server_name="localhost")
        handshake(client, server)
        session = client.session
        client.close(); server.close(); c_ctx.close(); del client, server, c_ctx; gc.collect()
        client, server = memory_pair(cctx(), s_ctx, server_name="localhost", session=session)
        del session; gc.collect()
        assert handshake(client, server).client.session_reused
    """,
    "freed_from_another_thread_than_the_one_that_made_them": """
        c_ctx, s_ctx = cctx(), sctx()
        made = [memory_pair(c_ctx, s_ctx, server_name="localhost") for _ in range(20)]
        for c, s in made[:10]:
            handshake(c, s)
        t = threading.Thread(target=lambda: (made.clear(), gc.collect()))
        t.start(); t.join()
    """,
    "everything_left_alive_at_interpreter_exit": """
        from ossl_handshake.observe.trace import Trace
        keep = []
        c_ctx = cctx(verify_callback=lambda conn, ok, *a: ok or not keep)
        s_ctx = sctx(servername_callback=lambda conn, name: s_ctx if name else None)
        for i in range(10):
            client, server = memory_pair(c_ctx, s_ctx, server_name="localhost")
            if i % 3 == 0:
                handshake(client, server, trace=Trace())
            elif i % 3 == 1:
                client.step(); client.transfer_to(server)  # mid-handshake
            client.on_info = lambda *a, client=client: client.state
            keep.append((client, server, client.session))
        keep.append(keep)  # a cycle through the callbacks' closures
    """,
}


def _run(name: str) -> subprocess.Popen[str]:
    code = PRELUDE + textwrap.dedent(SCENARIOS[name]) + "\nprint('ok')\n"
    return subprocess.Popen(
        [sys.executable, "-X", "dev", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def outcomes() -> dict[str, tuple[int, str, str]]:
    """All scenarios in parallel child processes: (returncode, stdout, stderr)."""
    procs = {name: _run(name) for name in SCENARIOS}
    out: dict[str, tuple[int, str, str]] = {}
    for name, proc in procs.items():
        try:
            stdout, stderr = proc.communicate(timeout=45)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        out[name] = (proc.returncode, stdout, stderr)
    return out


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_objects_freed_in_odd_orders_do_not_crash(
    name: str, outcomes: dict[str, tuple[int, str, str]]
) -> None:
    rc, stdout, stderr = outcomes[name]
    assert rc == 0, f"exit status {rc} (negative: killed by a signal)\n{stderr[-3000:]}"
    assert stdout.strip() == "ok", stderr[-3000:]
    assert "Exception ignored" not in stderr, stderr[-3000:]
