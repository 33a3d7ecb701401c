"""Configuration flags shared by every CLI command (demo, trace, server, client).

One place turns ``--tls 1.2 --cipher ... --group ... --alpn h2,http/1.1
--sni ... --mtls --key-type rsa`` into a pair of :class:`Context` objects, so
that each command accepts the same flags with the same meaning.
"""

from __future__ import annotations

import argparse
import string
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ossl_handshake import certs
from ossl_handshake._native import UNAVAILABLE_OPTIONS
from ossl_handshake.core.constants import ClientAuth, Options
from ossl_handshake.core.context import Context
from ossl_handshake.tls.roles import Role

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection

KEY_TYPES = {
    "ecdsa": certs.SERVER_ECDSA,
    "rsa": certs.SERVER_RSA,
    "rsa-chain": certs.SERVER_RSA_CHAIN,
    "ed25519": certs.SERVER_ED25519,
}
#: The trust anchor a key type needs when ``--cafile`` is not given (demo: both sides).
KEY_TYPE_CA = {"rsa-chain": certs.RSA_CA}


def add_config_args(p: argparse.ArgumentParser) -> None:
    """Add the shared configuration flags to ``p``."""
    g = p.add_argument_group("TLS configuration")
    g.add_argument("--tls", metavar="VER", help="pin the version (1.2 or 1.3): min = max")
    g.add_argument("--min-version", metavar="VER", help="lowest version allowed (1.0..1.3)")
    g.add_argument("--max-version", metavar="VER", help="highest version allowed (1.0..1.3)")
    g.add_argument("--cipher", metavar="LIST", help="TLS 1.2 cipher list (SSL_CTX_set_cipher_list)")
    g.add_argument(
        "--ciphersuites", metavar="LIST", help="TLS 1.3 ciphersuites (SSL_CTX_set_ciphersuites)"
    )
    g.add_argument(
        "--group", "--groups", dest="groups", metavar="LIST", help="groups, e.g. X25519:P-256"
    )
    g.add_argument(
        "--sigalgs", metavar="LIST", help="signature algorithms (SSL_CTX_set1_sigalgs_list)"
    )
    g.add_argument("--alpn", metavar="P1,P2", help="ALPN protocols (client offers, server prefers)")
    g.add_argument("--sni", metavar="NAME", default=None, help="server name sent and verified")
    g.add_argument(
        "--key-type", choices=sorted(KEY_TYPES), default="ecdsa", help="bundled server certificate"
    )
    g.add_argument(
        "--cert",
        metavar="PEM",
        help="certificate chain file: the server's (overrides --key-type), on client its own",
    )
    g.add_argument("--key", metavar="PEM", help="private key for --cert")
    g.add_argument("--cafile", metavar="PEM", help="trust anchors (default: the bundled test CA)")
    g.add_argument("--no-verify", action="store_true", help="client does not verify the server")
    g.add_argument("--mtls", action="store_true", help="server requires a client certificate")
    g.add_argument("--client-cert", metavar="PEM", help="client certificate chain (with --mtls)")
    g.add_argument("--client-key", metavar="PEM", help="client key (with --mtls)")
    g.add_argument("--no-tickets", action="store_true", help="SSL_OP_NO_TICKET")
    g.add_argument("--security-level", type=int, metavar="N", help="SSL_CTX_set_security_level")


@dataclass
class Config:
    """The parsed flags as the contexts and connection settings they describe."""

    client: Context
    server: Context
    server_name: str | None


def _split(value: str | None) -> list[str] | None:
    return [v for v in value.split(",") if v] if value else None


#: The name the demo server answers with :data:`certs.SNI_ALT` (DNS alt.localhost).
SNI_ALT_NAME = "alt.localhost"


def build_context(
    args: argparse.Namespace, role: Role, identity: certs.Identity | None = None
) -> Context:
    """One context for ``role`` from the shared flags (``identity`` overrides a server's)."""
    versions: dict[str, str | None] = {
        "min_version": args.tls or args.min_version,
        "max_version": args.tls or args.max_version,
    }
    common = {
        **versions,
        "ciphers": args.cipher,
        "ciphersuites": args.ciphersuites,
        "groups": args.groups,
        "sigalgs": args.sigalgs,
        "security_level": args.security_level,
        "options": Options.NO_TICKET if args.no_tickets else Options.NONE,
        "cafile": args.cafile or KEY_TYPE_CA.get(args.key_type, certs.CA),
    }
    if role is Role.SERVER:
        cert: str | Path
        key: str | Path | None
        if identity is not None:
            cert, key = identity.cert, identity.key
        else:
            ident = KEY_TYPES[args.key_type]
            cert = args.cert or ident.cert
            key = args.key or (ident.key if not args.cert else None)
        return Context(
            Role.SERVER,
            cert=cert,
            key=key,
            client_auth=ClientAuth.REQUIRE if args.mtls else ClientAuth.NONE,
            **common,
        )
    client_cert = client_key = None
    if args.mtls or args.client_cert:
        client_cert = args.client_cert or certs.CLIENT.cert
        client_key = args.client_key or (certs.CLIENT.key if not args.client_cert else None)
    return Context(
        Role.CLIENT,
        cert=client_cert,
        key=client_key,
        verify=not args.no_verify,
        alpn=_split(args.alpn),
        **common,
    )


def build_config(args: argparse.Namespace) -> Config:
    """Both contexts plus the server name for an in-memory run.

    The server picks its certificate by SNI: a client asking for
    ``alt.localhost`` gets :data:`certs.SNI_ALT` through a servername
    callback that switches to a second server context (same flags, built on
    first use); any other name gets the ``--key-type``/``--cert`` one.
    """
    server = build_context(args, Role.SERVER)
    alpn = _split(args.alpn)
    if alpn:
        set_server_alpn(server, alpn)
    alt: list[Context] = []

    def select_by_name(conn: Connection, name: str | None) -> Context | None:
        if name != SNI_ALT_NAME:
            return None
        if not alt:
            ctx = build_context(args, Role.SERVER, certs.SNI_ALT)
            if alpn:
                set_server_alpn(ctx, alpn)
            alt.append(ctx)
        return alt[0]

    server.set_servername_callback(select_by_name)
    return Config(build_context(args, Role.CLIENT), server, args.sni or "localhost")


def set_server_alpn(server: Context, alpn: list[str]) -> None:
    """Server ALPN preference, when the context supports selection."""
    select = getattr(server, "set_alpn_select", None)
    if select is not None:
        select(alpn)


def configure_peer(ctx: Context, args: argparse.Namespace, role: Role) -> None:
    """The ``server``/``client`` flags beyond the shared ones, on a fresh context.

    Server: ``--alpn`` (with ``--alpn-required``), ``--dhparam``,
    ``--num-tickets``, ``--renegotiation``/``--no-renegotiation``. Both:
    ``--keylog``.
    """
    if getattr(args, "keylog", None) and not (
        getattr(args, "pcapng", None) or getattr(args, "trace", None)
    ):
        ctx.set_keylog(args.keylog)  # else cli/peers.py's dispatcher writes it
    if role is not Role.SERVER:
        return
    alpn = _split(args.alpn)
    if alpn:
        ctx.set_alpn_select(alpn, bool(getattr(args, "alpn_required", False)))
    elif getattr(args, "alpn_required", False):
        raise ValueError("--alpn-required needs --alpn (the server's protocols)")
    if getattr(args, "dhparam", None):
        ctx.set_dh_params(args.dhparam)
    if getattr(args, "num_tickets", None) is not None:
        ctx.num_tickets = args.num_tickets
    reneg = getattr(args, "renegotiation", None)
    if reneg is False:
        ctx.set_options(Options.NO_RENEGOTIATION)
    elif reneg is True:
        ctx.clear_options(Options.NO_RENEGOTIATION)
        # OpenSSL 1.1.1 has no such option: it accepts a client's renegotiation by default.
        if not UNAVAILABLE_OPTIONS & int(Options.ALLOW_CLIENT_RENEGOTIATION):
            ctx.set_options(Options.ALLOW_CLIENT_RENEGOTIATION)


_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\x00", "\\": b"\\"}


def parse_escapes(text: str, what: str) -> bytes:
    r"""``--send``/``--expect`` text to bytes: UTF-8, with ``\r \n \t \0 \\ \xHH``.

    Any other backslash sequence is a ``ValueError`` (a usage error), never
    sent as typed.
    """
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt in _ESCAPES:
            out += _ESCAPES[nxt]
            i += 2
        elif nxt == "x" and all(c in string.hexdigits for c in text[i + 2 : i + 4]):
            if len(text) < i + 4:
                raise ValueError(f"{what}: bad escape {text[i:]!r}")
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            raise ValueError(f"{what}: bad escape {text[i : i + 4]!r} (\\r \\n \\t \\0 \\\\ \\xHH)")
    return bytes(out)
