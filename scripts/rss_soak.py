#!/usr/bin/env python3
"""RSS over many memory-pair handshakes: does the binding leak per handshake?

Runs ``--count`` handshakes of each kind (``--kinds full,resumed``) on shared
contexts with every Python callback in use (verify callback, new-session
callback, servername callback) and tracing on (``handshake(trace=True)``:
info and message callbacks, bytes moved through Python). Prints one JSON
line per checkpoint and a summary line with the RSS growth after warm-up.

``--leak-session`` deliberately leaks one ``SSL_SESSION`` per handshake
(``SSL_get1_session`` without ``SSL_SESSION_free``): the self-check that the
measurement catches a real per-handshake leak.

    .venv/bin/python scripts/rss_soak.py --count 100000 --kinds full,resumed
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

from ossl_handshake import Connection, Context, Role, Session, certs, handshake, lib, memory_pair

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process (``/proc/self/statm``)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * _PAGE


def contexts() -> tuple[Context, Context]:
    """A client and a server context with Python callbacks on every hook they offer."""
    seen: list[int] = []

    def verify(conn: Connection, ok: bool, depth: int, err: int, der: bytes) -> bool:
        seen.append(depth)
        del seen[:-8]
        return ok

    def new_session(conn: Connection, session: Session) -> None:
        seen.append(session.protocol_version)
        del seen[:-8]

    def servername(conn: Connection, name: str | None) -> Context | None:
        return None  # keep the default context

    client = Context(
        Role.CLIENT, cafile=certs.CA, verify_callback=verify, on_new_session=new_session
    )
    server = Context(
        Role.SERVER,
        cert=certs.SERVER_ECDSA.cert,
        key=certs.SERVER_ECDSA.key,
        servername_callback=servername,
    )
    return client, server


def one(
    client_ctx: Context,
    server_ctx: Context,
    session: Session | None,
    *,
    trace: bool,
    leak_session: bool,
) -> Session | None:
    """One handshake; returns the client's session for the next resumed one."""
    client, server = memory_pair(client_ctx, server_ctx, server_name="localhost", session=session)
    try:
        result = handshake(client, server, trace=trace)
        if session is not None and not result.client.session_reused:
            raise AssertionError("resumption did not happen")
        if leak_session:
            lib.SSL_get1_session(client.ptr)  # deliberately never freed
        return client.session
    finally:
        client.close()
        server.close()


def soak(
    count: int, kind: str, *, warmup: int, checkpoints: int, trace: bool, leak_session: bool
) -> dict[str, object]:
    """Run ``warmup`` + ``count`` handshakes of ``kind``; RSS after warm-up and at the end."""
    client_ctx, server_ctx = contexts()
    resumed = kind == "resumed"
    session = one(client_ctx, server_ctx, None, trace=trace, leak_session=False)
    for _ in range(warmup):
        new = one(
            client_ctx, server_ctx, session if resumed else None, trace=trace, leak_session=False
        )
        session = new if new is not None else session
    gc.collect()
    base = rss_bytes()
    start = time.perf_counter()
    every = max(1, count // checkpoints)
    peak = base
    for i in range(1, count + 1):
        new = one(
            client_ctx,
            server_ctx,
            session if resumed else None,
            trace=trace,
            leak_session=leak_session,
        )
        session = new if new is not None else session
        if i % every == 0 or i == count:
            gc.collect()
            rss = rss_bytes()
            peak = max(peak, rss)
            print(
                json.dumps({"kind": kind, "done": i, "rss_kib": rss // 1024}),
                file=sys.stderr,
                flush=True,
            )
    gc.collect()
    end = rss_bytes()
    return {
        "kind": kind,
        "handshakes": count,
        "warmup": warmup,
        "trace": trace,
        "callbacks": True,
        "leak_session": leak_session,
        "rss_base_kib": base // 1024,
        "rss_end_kib": end // 1024,
        "rss_peak_kib": peak // 1024,
        "growth_kib": (end - base) // 1024,
        "growth_bytes_per_handshake": round((end - base) / count, 1),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--kinds", default="full,resumed")
    ap.add_argument("--checkpoints", type=int, default=10)
    ap.add_argument("--no-trace", action="store_true")
    ap.add_argument("--leak-session", action="store_true")
    args = ap.parse_args(argv)
    for kind in args.kinds.split(","):
        if kind not in ("full", "resumed"):
            ap.error(f"unknown kind {kind!r}")
        summary = soak(
            args.count,
            kind,
            warmup=args.warmup,
            checkpoints=args.checkpoints,
            trace=not args.no_trace,
            leak_session=args.leak_session,
        )
        print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
