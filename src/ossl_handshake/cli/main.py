"""``ossl-handshake`` command line: ``demo`` (and the commands other modules add).

Exit codes (stable; a C test can assert on them):

- 0 success
- 1 TLS handshake failure (protocol level)
- 2 usage error (bad flags, unreadable files)
- 3 certificate verification failure
- 4 I/O error or timeout
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from ossl_handshake._native import RUNTIME_VERSION_TEXT as OPENSSL_VERSION
from ossl_handshake.cli.config import add_config_args, build_config
from ossl_handshake.core.connection import Connection
from ossl_handshake.core.errors import CertificateVerifyError, SSLError
from ossl_handshake.pair.driver import drive, memory_pair
from ossl_handshake.pair.result import HandshakeResult
from ossl_handshake.tls.roles import Role

EXIT_OK = 0
EXIT_TLS = 1
EXIT_USAGE = 2
EXIT_VERIFY = 3
EXIT_IO = 4

Command = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(
    name: str, help_: str
) -> Callable[
    [Callable[[argparse.ArgumentParser], None]], Callable[[argparse.ArgumentParser], None]
]:
    """Register a sub-command: decorate its ``configure(parser)``; it sets ``func``."""

    def deco(
        configure: Callable[[argparse.ArgumentParser], None],
    ) -> Callable[[argparse.ArgumentParser], None]:
        _COMMANDS[name] = (lambda a: int(a.func(a)), configure, help_)
        return configure

    return deco


def exit_code_for(error: BaseException | None) -> int:
    """Map an outcome to the documented exit codes."""
    if error is None:
        return EXIT_OK
    if isinstance(error, CertificateVerifyError):
        return EXIT_VERIFY
    if isinstance(error, SSLError):
        return EXIT_TLS
    if isinstance(error, (OSError, TimeoutError)):
        return EXIT_IO
    return EXIT_TLS


def _print_steps(result: HandshakeResult, out: Callable[[str], None]) -> None:
    out(f"{'#':>3}  {'side':6}  {'ret':>3}  {'SSL_get_error':24}  {'bytes':>5}  state")
    for rec in result.steps:
        st = rec.step
        out(
            f"{rec.index:>3}  {st.role.value:6}  {st.ret:>3}  "
            f"SSL_ERROR_{st.error_code.name:14}  {rec.sent:>5}  {st.state}"
        )


def _print_summary(result: HandshakeResult, out: Callable[[str], None]) -> None:
    if not result.ok:
        out(f"result: {result.summary()}")
        return
    for side in (result.client, result.server):
        out(
            f"{side.role.value:6}: {side.version} {side.cipher} ({side.cipher_bits} bits)"
            f" group={side.group} alpn={side.alpn_protocol} sni={side.server_name}"
            f" reused={side.session_reused} hrr={side.hello_retry_request}"
            f" verify={side.verify_result} ({side.verify_message})"
            f" peer_sig={side.peer_signature_algorithm} peer={side.peer_subject}"
        )


def run_demo(args: argparse.Namespace) -> int:
    """In-memory client/server handshake with the bundled certificates."""
    out: Callable[[str], None] = print
    try:
        cfg = build_config(args)
    except (OSError, ValueError, TypeError) as exc:
        print(f"ossl-handshake demo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.json:
        out(f"ossl-handshake demo ({OPENSSL_VERSION}), in-memory BIO pairs")
    session = None
    rounds = 2 if args.resume else 1
    code = EXIT_OK
    results = []
    for i in range(rounds):
        client, server = memory_pair(
            cfg.client, cfg.server, server_name=cfg.server_name, session=session
        )
        result = drive(client, server)
        results.append(result)
        if not args.json:
            label = "resumed handshake" if i else "full handshake"
            out(f"\n== {label} ==" if rounds > 1 else "")
            _print_steps(result, out)
            _print_summary(result, out)
        session = client.session
        client.close()
        server.close()
        code = max(code, exit_code_for(result.error))
        if result.error is not None:
            break
    if args.json:
        for r in results:
            out(json.dumps(r.to_dict(), sort_keys=True))
    return code


@command("demo", "in-memory handshake with the bundled certificates, step by step")
def _configure_demo(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    p.add_argument("--resume", action="store_true", help="a full handshake, then a resumed one")
    p.add_argument("--json", action="store_true", help="print the results as JSON lines")
    p.set_defaults(func=run_demo)


def _load_plugins() -> None:
    """Import the modules that register further sub-commands (if present)."""
    import importlib

    for mod in (
        "ossl_handshake.cli.trace",
        "ossl_handshake.cli.peers",
        "ossl_handshake.cli.proxy",
        "ossl_handshake.cli_certs",
    ):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise


def build_parser() -> argparse.ArgumentParser:
    _load_plugins()
    parser = argparse.ArgumentParser(
        prog="ossl-handshake",
        description="Drive OpenSSL TLS handshakes and see every step.",
        epilog="exit codes: 0 ok, 1 TLS failure, 2 usage, 3 verification failure, 4 I/O/timeout",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s ({OPENSSL_VERSION})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, configure, help_) in sorted(_COMMANDS.items()):
        configure(sub.add_parser(name, help=help_, description=help_))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    return int(args.func(args))


__all__ = [
    "EXIT_IO",
    "EXIT_OK",
    "EXIT_TLS",
    "EXIT_USAGE",
    "EXIT_VERIFY",
    "Connection",
    "Role",
    "main",
]
