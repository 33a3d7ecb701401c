"""``ossl-handshake proxy``: the fault proxy between two processes, from the shell.

``ossl-handshake proxy --listen HOST:PORT --connect HOST:PORT [--fault SPEC]...
[--policy P] [--client-policy P] [--server-policy P] [--pcapng FILE]
[--keylog FILE] [--trace] [--count N] [--timeout S] [--ready-file PATH] [--json]``
runs a :class:`~ossl_handshake.proxy.FaultProxy` (grammar of ``--fault`` and
the policies: :mod:`ossl_handshake.proxy.spec`). It prints a ready line
(``LISTEN host:port -> host:port``, or with ``--json`` an ``event: listening``
object), then one line per finished connection (with ``--json`` the
:meth:`~ossl_handshake.proxy.ConnectionReport.to_dict` object), and stops after
``--count`` connections or on SIGINT/SIGTERM. ``--trace`` adds each
connection's ladder (:mod:`ossl_handshake.observe.ladder`, drawn from the
records that crossed: the text ladder after the summary line, or a
``ladder`` list of flights in the JSON object); with ``--keylog`` the TLS 1.3
messages in it are named decrypted.

Exit codes: 0 every fault fired in every connection; 1 a fault never fired
or the proxy failed on a connection; 2 usage (a bad spec); 4 cannot listen.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from ossl_handshake.cli.args import add_capture_args, address, at_least, seconds, write_ready_file
from ossl_handshake.cli.main import EXIT_IO, EXIT_OK, EXIT_TLS, EXIT_USAGE, command
from ossl_handshake.observe import ladder
from ossl_handshake.proxy.proxy import FaultProxy
from ossl_handshake.proxy.report import ConnectionReport
from ossl_handshake.proxy.spec import GRAMMAR, POLICY_GRAMMAR, SpecError, parse_fault, parse_policy
from ossl_handshake.wire.faults import Fault, FaultNotFiredError
from ossl_handshake.wire.wire import Policy


def _fault(text: str) -> Fault:
    try:
        return parse_fault(text)
    except SpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _policy(text: str) -> Policy:
    try:
        return parse_policy(text)
    except SpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _summary(report: ConnectionReport) -> str:
    fired = ", ".join(f"{d['fault']} fired {d['fired']}" for d in report.to_dict()["faults"])
    c, s = report.client, report.server
    return (
        f"#{report.index} {c.address} -> {s.address}: {report.outcome}"
        f"{' (' + report.error + ')' if report.error else ''}; "
        f"client {c.records} records {c.received} B closed={c.closed} alerts={c.alerts}; "
        f"server {s.records} records {s.received} B closed={s.closed} alerts={s.alerts}"
        f"{'; ' + fired if fired else ''}"
    )


def _flight_dict(row: ladder.Flight | ladder.Marker) -> dict[str, object]:
    if isinstance(row, ladder.Marker):  # not drawn: the proxy records no steps
        return {"marker": row.text}
    return {
        "from": row.side.value,
        "to": row.to.value,
        "bytes": row.length,
        "labels": list(row.labels),
    }


def run_proxy(args: argparse.Namespace) -> int:
    """Serve until ``--count`` connections finished or a signal; exit code as documented."""
    lock = threading.Lock()

    def emit(line: str) -> None:
        with lock:
            print(line, flush=True)

    def on_connection(report: ConnectionReport) -> None:
        line = report.to_dict()
        trace = proxy.trace(report) if args.trace else None
        if trace is not None and args.json:
            line["ladder"] = [_flight_dict(f) for f in ladder.flights(trace)]
        emit(json.dumps(line, sort_keys=True) if args.json else _summary(report))
        if trace is not None and not args.json:
            emit(ladder.render_text(trace))

    try:
        proxy = FaultProxy(
            args.connect,
            listen=args.listen,
            faults=args.fault,
            policy=args.policy,
            client_policy=args.client_policy,
            server_policy=args.server_policy,
            timeout=args.timeout,
            count=args.count,
            keylog=args.keylog,
            on_connection=on_connection,
        )
    except OSError as exc:
        print(f"ossl-handshake proxy: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return EXIT_IO
    except (TypeError, ValueError) as exc:
        print(f"ossl-handshake proxy: {exc}", file=sys.stderr)
        return EXIT_USAGE

    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()  # the wait loop below sees it within 0.2 s

    previous = signal.signal(signal.SIGTERM, stop)
    host, port = proxy.address
    target = f"{args.connect[0]}:{args.connect[1]}"
    if args.ready_file:
        write_ready_file(args.ready_file, port)
    if args.json:
        ready = {"event": "listening", "address": f"{host}:{port}", "port": port}
        emit(json.dumps({**ready, "connect": target}, sort_keys=True))
    else:
        emit(f"LISTEN {host}:{port} -> {target}")
    try:
        while not stopping.is_set():
            if args.count is not None and len(proxy.connections) >= args.count:
                break
            try:
                proxy.wait(args.count or 1 << 30, timeout=0.2)
            except TimeoutError:
                continue
    except KeyboardInterrupt:
        pass
    finally:
        proxy.close()
        signal.signal(signal.SIGTERM, previous)
    if args.pcapng:
        proxy.write_pcapng(args.pcapng)
    errors = proxy.errors()
    if errors:
        print(f"ossl-handshake proxy: the proxy failed: {errors[0]}", file=sys.stderr)
        return EXIT_TLS
    try:
        proxy.check_fired()
    except FaultNotFiredError as exc:
        print(f"ossl-handshake proxy: {exc}", file=sys.stderr)
        return EXIT_TLS
    return EXIT_OK


@command("proxy", "a fault proxy between two processes: TCP in, the Wire's faults, TCP out")
def _configure_proxy(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--listen",
        type=address,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="where to accept (default 127.0.0.1:0, an ephemeral port)",
    )
    p.add_argument(
        "--connect",
        type=address,
        required=True,
        metavar="HOST:PORT",
        help="the server to forward each connection to",
    )
    p.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="SPEC",
        help=f"a fault, repeatable: {GRAMMAR}",
    )
    p.add_argument(
        "--policy",
        type=_policy,
        default=parse_policy("flights"),
        metavar="P",
        help=f"delivery policy: {POLICY_GRAMMAR} (default flights)",
    )
    for side in ("client", "server"):
        p.add_argument(
            f"--{side}-policy",
            type=_policy,
            default=None,
            metavar="P",
            help=f"delivery policy of what the {side} sends (default: --policy)",
        )
    p.add_argument(
        "--timeout",
        type=seconds,
        default=10.0,
        metavar="S",
        help="per-connection deadline in seconds (default 10)",
    )
    p.add_argument(
        "--count",
        type=at_least(1),
        default=None,
        metavar="N",
        help="stop after N connections finished",
    )
    add_capture_args(
        p,
        trace="print each connection's ladder after its line",
        pcapng="write what crossed as pcapng at the end",
        keylog="key log file of a peer (SSLKEYLOGFILE): TLS 1.3 decrypted, embedded in the pcapng",
    )
    p.add_argument(
        "--ready-file",
        metavar="PATH",
        help="write the listening port to PATH once accepting (for scripts)",
    )
    p.add_argument("--json", action="store_true", help="JSON lines on stdout")
    p.set_defaults(func=run_proxy)


__all__ = ["run_proxy"]
