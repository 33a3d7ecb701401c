"""docs/semantics.md: what each OpenSSL version reports for each handshake outcome.

Two modes:

    python scripts/semantics_table.py --measure > out.json
        run the scenarios below with the ossl_handshake this interpreter
        imports (one venv of make test-openssl) and print what libssl said;
    python scripts/semantics_table.py --render a.json b.json ... > docs/semantics.md
        the measurements side by side, one table per outcome.

``scripts/semantics.sh`` runs the first in every ``.venv-openssl-<V>`` and
the second into docs/semantics.md. Each scenario is a real handshake over
memory BIO pairs (bytes moved by hand where the scenario needs it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLOSE_NOTIFY = b"\x15\x03\x03\x00\x02\x01\x00"
FATAL_HANDSHAKE_FAILURE = b"\x15\x03\x03\x00\x02\x02\x28"


def _measure() -> dict[str, Any]:
    import ossl_handshake as o
    from ossl_handshake import Connection, Context, Role, certs, drive, memory_pair
    from ossl_handshake._native import RUNTIME_VERSION_TEXT

    def client(**kw: Any) -> Context:
        return Context(Role.CLIENT, cafile=kw.pop("cafile", certs.CA), **kw)

    def server(ident: Any = certs.SERVER_ECDSA) -> Context:
        return Context(Role.SERVER, cert=ident.cert, key=ident.key)

    def row(step: Any, conn: Any) -> dict[str, Any]:
        err = step.error
        return {
            "ret": step.ret,
            "SSL_get_error": f"SSL_ERROR_{step.error_code.name}",
            "exception": type(err).__name__ if err is not None else None,
            "reasons": list(err.reasons) if err is not None else [],
            "alert_sent": conn.alert_sent,
            "alert_received": conn.alert_received,
            "verify_result": getattr(err, "verify_result", 0) if err is not None else 0,
        }

    def success() -> dict[str, Any]:
        c, s = memory_pair(client(), server(), server_name="localhost")
        result = drive(c, s)
        last = [r.step for r in result.steps if r.step.role is Role.CLIENT][-1]
        return row(last, c)

    def want_read() -> dict[str, Any]:
        c = Connection(client(), server_name="localhost")
        return row(c.step(), c)

    def want_write() -> dict[str, Any]:
        c = Connection(client(), server_name="localhost", bio_size=64)
        return row(c.step(), c)

    def peer_eof() -> dict[str, Any]:
        c = Connection(client(), server_name="localhost")
        c.step()
        c.bio_shutdown_wr()
        return row(c.step(), c)

    def close_notify() -> dict[str, Any]:
        c = Connection(client(), server_name="localhost")
        c.step()
        c.bio_write(CLOSE_NOTIFY)
        return row(c.step(), c)

    def fatal_alert() -> dict[str, Any]:
        c = Connection(client(), server_name="localhost")
        c.step()
        c.bio_write(FATAL_HANDSHAKE_FAILURE)
        return row(c.step(), c)

    def garbage() -> dict[str, Any]:
        s = Connection(server())
        s.bio_write(bytes(64))
        return row(s.step(), s)

    def http_request() -> dict[str, Any]:
        s = Connection(server())
        s.bio_write(b"GET / HTTP/1.0\r\n\r\n")
        return row(s.step(), s)

    def _verify_fail(cctx: Context, name: str) -> dict[str, Any]:
        c, s = memory_pair(cctx, server(), server_name=name)
        result = drive(c, s)
        steps = [r.step for r in result.steps if r.step.role is Role.CLIENT and r.step.failed]
        return row(steps[-1], c)

    def unknown_ca() -> dict[str, Any]:
        return _verify_fail(Context(Role.CLIENT, verify=True), "localhost")

    def hostname_mismatch() -> dict[str, Any]:
        return _verify_fail(client(), "example.com")

    def key_update_before_handshake() -> dict[str, Any]:
        c = Connection(client(), server_name="localhost")
        try:
            c.key_update()
        except o.SSLError as exc:
            return {
                "ret": exc.ret,
                "SSL_get_error": f"SSL_ERROR_{exc.error_code.name}",
                "exception": type(exc).__name__,
                "reasons": list(exc.reasons),
                "alert_sent": None,
                "alert_received": None,
                "verify_result": 0,
            }
        return {"ret": 1, "SSL_get_error": "SSL_ERROR_NONE", "exception": None, "reasons": []}

    scenarios: dict[str, Callable[[], dict[str, Any]]] = {
        "success (client's last handshake step, TLS 1.3)": success,
        "want read (client after its ClientHello)": want_read,
        "want write (ClientHello into a full 64-byte BIO pair)": want_write,
        "peer EOF in the handshake (transport closed, no close_notify)": peer_eof,
        "close_notify before the ServerHello": close_notify,
        "fatal alert received (handshake_failure)": fatal_alert,
        "garbage (64 zero bytes to a server)": garbage,
        "an HTTP request to a server": http_request,
        "verification failure: unknown CA": unknown_ca,
        "verification failure: hostname mismatch": hostname_mismatch,
        "SSL_key_update before the handshake": key_update_before_handshake,
    }
    out: dict[str, Any] = {}
    for name, fn in scenarios.items():
        try:
            out[name] = fn()
        except Exception as exc:  # a scenario that cannot run on this version
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return {"version": RUNTIME_VERSION_TEXT, "features": dict(o.FEATURES), "rows": out}


def _cell(r: dict[str, Any], key: str) -> str:
    if "error" in r:
        return "(not measurable)" if key == "ret" else ""
    v = r.get(key)
    if key == "reasons":
        return "; ".join(f'"{x}"' for x in v) if v else "(empty queue)"
    if key == "verify_result":
        return str(v) if v else "-"
    return "-" if v is None else f"`{v}`" if isinstance(v, str) else str(v)


def _render(paths: list[str]) -> str:
    data = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
    heads = [d["version"].replace("OpenSSL ", "").split()[0] for d in data]
    lines = [
        "# Handshake semantics per OpenSSL version",
        "",
        "Generated by `scripts/semantics.sh` (`scripts/semantics_table.py`) from real",
        "handshakes against each version `make test-openssl` builds; do not edit by hand.",
        "Each table is one outcome: the raw `ret`, `SSL_get_error`, the exception the",
        "binding raises, the error queue's reasons, the alerts that crossed the wire",
        "(from the info callback) and the verify result.",
        "",
        "Versions: " + ", ".join(d["version"] for d in data) + ".",
        "",
    ]
    keys = [
        ("ret", "ret"),
        ("SSL_get_error", "SSL_get_error"),
        ("exception", "exception"),
        ("reasons", "reasons"),
        ("alert_sent", "alert sent"),
        ("alert_received", "alert received"),
        ("verify_result", "verify result"),
    ]
    for name in data[0]["rows"]:
        lines += [f"## {name}", "", "| | " + " | ".join(heads) + " |"]
        lines.append("|---" * (len(heads) + 1) + "|")
        rows = [d["rows"].get(name, {"error": "missing"}) for d in data]
        for key, label in keys:
            cells = [_cell(r, key) for r in rows]
            mark = "" if len(set(cells)) == 1 else " **differs**"
            lines.append(f"| {label}{mark} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "## What changes when porting a test between versions",
        "",
        "- Assert `SSL_get_error` through the exception class (`UnexpectedEOFError`,",
        "  `ZeroReturnError`, `CertificateVerifyError`, ...), not the raw code: EOF in a",
        "  handshake is `SSL_ERROR_SYSCALL` with an empty queue on 1.1.1 and",
        '  `SSL_ERROR_SSL` "unexpected eof while reading" from 3.0.',
        "- Assert alerts by number/name (`alert_received`), not the reason text:",
        '  "sslv3 alert X" became "ssl/tls alert X" (3.5/3.6) and "tls alert X" (4.0).',
        '- From 3.2 the record layer adds "record layer failure" after the specific',
        "  reason of a rejected record; compare the first reason.",
        '- Verify messages: 1.1.1 says "Hostname mismatch", 3.0+ "hostname mismatch";',
        "  compare `verify_result` (62).",
        "- 4.0's record layer no longer parses an SSLv2-format ClientHello (\"wrong version",
        '  number", no alert); 3.5+ clients refuse TLS 1.0/1.1 above security level 0.',
        "- `SSL_get_error` here is the code the binding reports (`SSLError.error_code`):",
        "  4.0's `SSL_get_error` no longer reads the queue, so a call such as",
        "  `SSL_key_update` before the handshake returns `SSL_ERROR_SYSCALL` there with",
        "  a queued reason; `core/errors.py` classifies it from ret + queue as",
        "  `SSL_ERROR_SSL`/`ProtocolError` on every version, as the last table shows.",
        "- Not measured here: a real socket's syscall error (needs a TCP peer that",
        "  resets; `tests/test_sockets.py` covers it on each version).",
        "- See `tests/_openssl.py` for every difference the suite depends on.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--measure"]:
        json.dump(_measure(), sys.stdout, indent=1)
        print()
        return 0
    if argv[:1] == ["--render"] and len(argv) > 1:
        sys.stdout.write(_render(argv[1:]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
