"""``ossl-handshake trace``: an in-memory handshake drawn as a ladder, with capture files.

Takes the same configuration flags as ``demo`` (see :mod:`ossl_handshake.cli.config`),
drives the pair with a :class:`~ossl_handshake.trace.Trace` attached, prints
the ladder and writes ``--pcap``, ``--pcapng`` (key log embedded),
``--keylog``, ``--svg`` and ``--json`` files on request. Exit codes as in
:mod:`ossl_handshake.cli.main`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ossl_handshake.cli.config import Config, add_config_args, build_config
from ossl_handshake.cli.main import EXIT_OK, EXIT_USAGE, command, exit_code_for
from ossl_handshake.core.errors import SSLError
from ossl_handshake.core.session import Session
from ossl_handshake.observe import ladder
from ossl_handshake.observe.trace import Trace
from ossl_handshake.pair.driver import drive, memory_pair
from ossl_handshake.pair.result import HandshakeResult


def _run_one(
    cfg: Config, args: argparse.Namespace, session: Session | None
) -> tuple[HandshakeResult, Trace, Session | None]:
    trace = Trace(keylog_env=args.keylog_from_env)
    # Both contexts log the same secrets; the trace keeps each line once.
    cfg.client.set_keylog(trace.keylog_line)
    cfg.server.set_keylog(trace.keylog_line)
    client, server = memory_pair(
        cfg.client, cfg.server, server_name=cfg.server_name, session=session
    )
    try:
        result = drive(client, server, trace=trace)
        if result.ok and args.send is not None:
            # Application data both ways: the client's message, echoed by the server.
            client.write(args.send.encode())
            trace.transfer(client, server)
            echo = server.read(65536)
            server.write(echo)
            trace.transfer(server, client)
            client.read(65536)
        new_session = client.session if result.ok else None
    finally:
        trace.detach_all()
        client.close()
        server.close()
    return result, trace, new_session


def _write_files(args: argparse.Namespace, trace: Trace, title: str) -> None:
    if args.keylog:
        trace.write_keylog(args.keylog)
    if args.pcap:
        trace.write_pcap(args.pcap)
    if args.pcapng:
        trace.write_pcapng(args.pcapng)
    if args.svg:
        with open(args.svg, "w", encoding="utf-8") as f:
            f.write(ladder.render_svg(trace, title=title))


def run_trace(args: argparse.Namespace) -> int:
    """Run the traced handshake(s); print ladders; write the requested files."""
    try:
        cfg = build_config(args)
    except (OSError, ValueError, TypeError) as exc:
        print(f"ossl-handshake trace: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rounds = 2 if args.resume else 1
    session: Session | None = None
    records: list[dict[str, Any]] = []
    code = EXIT_OK
    for i in range(rounds):
        label = "resumed handshake" if i else "full handshake"
        try:
            result, trace, session = _run_one(cfg, args, session)
        except SSLError as exc:  # application data after the handshake failed
            print(f"ossl-handshake trace: {exc}", file=sys.stderr)
            return exit_code_for(exc)
        if rounds > 1:
            print(f"== {label} ==")
        print(ladder.render_text(trace), end="")
        print(f"result: {result.summary()}\n")
        records.append({"handshake": label, "result": result.to_dict(), **trace.to_dict()})
        code = max(code, exit_code_for(result.error))
        # Files describe the last handshake run (the resumed one with --resume).
        last = i == rounds - 1 or result.error is not None
        if last:
            try:
                _write_files(args, trace, f"{label}: {result.summary()}")
            except (OSError, ValueError) as exc:
                print(f"ossl-handshake trace: {exc}", file=sys.stderr)
                return EXIT_USAGE
        if result.error is not None:
            break
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"handshakes": records}, f, indent=1, sort_keys=True)
            f.write("\n")
    return code


@command("trace", "in-memory handshake drawn as a ladder; pcap, keylog, SVG and JSON files")
def _configure_trace(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    p.add_argument("--resume", action="store_true", help="a full handshake, then a resumed one")
    p.add_argument(
        "--send",
        metavar="TEXT",
        default=None,
        help="after the handshake the client sends TEXT and the server echoes it",
    )
    out = p.add_argument_group("output files (with --resume: the resumed handshake)")
    out.add_argument("--pcap", metavar="FILE", help="classic pcap of the bytes on the wire")
    out.add_argument("--pcapng", metavar="FILE", help="pcapng with the key log embedded (DSB)")
    out.add_argument("--keylog", metavar="FILE", help="NSS key log (SSLKEYLOGFILE format)")
    out.add_argument("--svg", metavar="FILE", help="the ladder diagram as SVG")
    out.add_argument("--json", metavar="FILE", help="every event and the results as JSON")
    out.add_argument(
        "--keylog-from-env",
        action="store_true",
        help="also append key log lines to the file named by SSLKEYLOGFILE",
    )
    p.set_defaults(func=run_trace)


__all__ = ["run_trace"]
