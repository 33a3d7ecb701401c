#!/usr/bin/env python3
"""Fuzz harness: arbitrary bytes into real libssl connections on the memory transport.

Modes (``--mode``):

- ``server``: a fresh server :class:`Connection` (one of several server
  configurations, chosen by the first byte) receives the input as if a
  client sent it, then steps until it fails, finishes or wants more.
- ``client``: a fresh client sends its ClientHello (discarded), then
  receives the input as the server's answer.
- ``records``: structure-aware. A real client/server handshake runs (TLS 1.3
  or 1.2, chosen by the input) through a small wire that splits each flight
  into records and applies a mutation program decoded from the input to the
  chosen record: flip a bit, insert bytes, delete bytes, rewrite the record
  length field or the handshake message length field, truncate.
- ``all``: the first byte picks one of the three (one corpus, one process).

Every run checks the binding's contract (docs/architecture.md, rule 9): a step never
raises; a failure is a typed :class:`SSLError` with a retry-safe repeat; the
driver ends within its step budget; every accessor works on whatever state
the connection was left in. Anything else raises out of :func:`fuzz_one`,
which atheris reports as a crash (and a segfault is a crash anyway).

With atheris (``pip install atheris``)::

    .venv/bin/python fuzz/fuzz_handshake.py --mode server fuzz/corpus/server -max_total_time=60

Without atheris, a deterministic mutation loop over the seed corpus
(``--random N --seed S``) runs the same :func:`fuzz_one`::

    .venv/bin/python fuzz/fuzz_handshake.py --mode all --random 20000 --seed 1

``--regen-corpus`` rewrites ``fuzz/corpus/`` from real handshakes.
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
MODES = ("server", "client", "records")

try:  # atheris instruments the binding's Python code when it is available
    import atheris

    _ATHERIS = True
except ImportError:  # pragma: no cover - depends on the environment
    atheris = None
    _ATHERIS = False

if _ATHERIS and os.environ.get("FUZZ_NO_INSTRUMENT") != "1":
    with atheris.instrument_imports(include=["ossl_handshake"]):
        import ossl_handshake  # noqa: F401
        from ossl_handshake import (
            Connection,
            Context,
            Role,
            SSLError,
            certs,
            drive,
            memory_pair,
        )
        from ossl_handshake.pair.result import SideResult
else:
    from ossl_handshake import (
        Connection,
        Context,
        Role,
        SSLError,
        certs,
        drive,
        memory_pair,
    )
    from ossl_handshake.pair.result import SideResult

MAX_STEPS = 12
RECORD_STEP_BUDGET = 200

_contexts: dict[str, Context] = {}


def _ctx(name: str) -> Context:
    """Contexts are built once per process: building one costs more than a handshake."""
    ctx = _contexts.get(name)
    if ctx is None:
        ecdsa, rsa = certs.SERVER_ECDSA, certs.SERVER_RSA
        makers: dict[str, Any] = {
            "server-ecdsa": lambda: Context(Role.SERVER, cert=ecdsa.cert, key=ecdsa.key),
            "server-rsa-mtls": lambda: Context(
                Role.SERVER, cert=rsa.cert, key=rsa.key, cafile=certs.CA, client_auth="require"
            ),
            "server-tls12": lambda: Context(
                Role.SERVER, cert=ecdsa.cert, key=ecdsa.key, max_version="1.2", alpn_select=["h2"]
            ),
            "server-p384-hrr": lambda: Context(
                Role.SERVER, cert=ecdsa.cert, key=ecdsa.key, groups="P-384"
            ),
            "client": lambda: Context(Role.CLIENT, cafile=certs.CA),
            "client-tls12": lambda: Context(
                Role.CLIENT, cafile=certs.CA, max_version="1.2", alpn=["h2", "http/1.1"]
            ),
            "client-noverify": lambda: Context(Role.CLIENT, verify=False),
            "client-mtls": lambda: Context(
                Role.CLIENT, cafile=certs.CA, cert=certs.CLIENT.cert, key=certs.CLIENT.key
            ),
        }
        ctx = _contexts[name] = makers[name]()
    return ctx


SERVER_CONTEXTS = ("server-ecdsa", "server-rsa-mtls", "server-tls12", "server-p384-hrr")
CLIENT_CONTEXTS = ("client", "client-tls12", "client-noverify")


# -- contract checks ---------------------------------------------------------


def _inspect(conn: Connection) -> None:
    """Every accessor must work (or return None) in whatever state ``conn`` is in."""
    _ = (
        conn.state,
        conn.version,
        conn.cipher,
        conn.cipher_bits,
        conn.group,
        conn.alert_sent,
        conn.alert_received,
        conn.verify_result,
        conn.verify_message,
        conn.session_reused,
        conn.alpn_protocol,
        conn.server_name,
        conn.peer_certificate,
        conn.peer_chain,
        conn.peer_subject,
        conn.peer_signature_algorithm,
        conn.signature_algorithm,
        conn.hello_retry_request,
        conn.failed,
    )
    session = conn.session
    if session is not None:
        _ = session.resumable
    SideResult.of(conn)


def _check_step(conn: Connection) -> bool:
    """One step; returns True when the handshake is over (done or failed)."""
    st = conn.step()
    if st.failed:
        if not isinstance(st.error, SSLError):
            raise AssertionError(f"failed step without a typed error: {st!r}")
        again = conn.step()  # a failed connection repeats its failure
        if again is not st:
            raise AssertionError(f"repeated step changed: {st!r} then {again!r}")
        str(st.error)
        return True
    if st.done:
        return True
    if not st.wants:
        raise AssertionError(f"step neither done, failed nor retryable: {st!r}")
    return False


def _feed(conn: Connection, data: bytes) -> None:
    """Give all of ``data`` to ``conn``, stepping whenever its BIO pair is full."""
    view = memoryview(data)
    steps = 0
    while view:
        n = conn.bio_write(view)
        view = view[n:]
        conn.bio_read()  # whatever it answered goes nowhere
        if _check_step(conn) or n == 0:
            steps += 1
            if steps > MAX_STEPS or conn.failed is not None or conn.is_init_finished:
                return


def fuzz_server(data: bytes) -> None:
    """A fresh server receives ``data`` (first byte: which server configuration)."""
    if not data:
        return
    ctx = _ctx(SERVER_CONTEXTS[data[0] % len(SERVER_CONTEXTS)])
    with Connection(ctx) as server:
        _feed(server, data[1:])
        for _ in range(MAX_STEPS):
            server.bio_read()
            if _check_step(server):
                break
        _inspect(server)


def fuzz_client(data: bytes) -> None:
    """A fresh client sends its ClientHello, then receives ``data`` as the answer."""
    if not data:
        return
    ctx = _ctx(CLIENT_CONTEXTS[data[0] % len(CLIENT_CONTEXTS)])
    with Connection(ctx, server_name="localhost") as client:
        if _check_step(client):
            raise AssertionError("a client finished or failed before any answer")
        client.bio_read()
        _feed(client, data[1:])
        for _ in range(MAX_STEPS):
            client.bio_read()
            if _check_step(client):
                break
        _inspect(client)


# -- structure-aware mode ------------------------------------------------------


class _Reader:
    """Consumes the fuzz input as a mutation program (0 when it runs out)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u16(self) -> int:
        return (self.byte() << 8) | self.byte()

    def take(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def mutate_record(rec: bytes, prog: _Reader) -> bytes:
    """Apply up to 4 operations from ``prog`` to one TLS record (header included)."""
    buf = bytearray(rec)
    for _ in range(1 + prog.byte() % 4):
        if prog.left == 0:
            break
        op = prog.byte() % 7
        at = prog.u16() % (len(buf) + 1)
        if op == 0 and buf:  # flip one bit
            i = at % len(buf)
            buf[i] ^= 1 << (prog.byte() % 8)
        elif op == 1:  # insert bytes
            buf[at:at] = prog.take(1 + prog.byte() % 16)
        elif op == 2:  # delete bytes
            del buf[at : at + 1 + prog.byte() % 16]
        elif op == 3 and len(buf) >= 5:  # rewrite the record length field
            struct.pack_into(">H", buf, 3, prog.u16())
        elif op == 4 and len(buf) >= 9:  # rewrite the first handshake message's length
            n = (prog.byte() << 16) | prog.u16()
            buf[6:9] = n.to_bytes(3, "big")
        elif op == 5:  # truncate
            del buf[at:]
        elif op == 6 and len(buf) >= 1:  # set one byte
            buf[at % len(buf)] = prog.byte()
    return bytes(buf)


class MutatingWire:
    """A minimal wire: splits each direction into records, mutates the target one.

    Implements the driver's :class:`~ossl_handshake.pair.WireLike` plus
    ``in_flight`` (bytes accepted from a sender but not yet delivered).
    """

    step_budget = RECORD_STEP_BUDGET

    def __init__(self, target: Role, index: int, prog: _Reader) -> None:
        self.target = target
        self.index = index
        self.prog = prog
        self.fired = False
        self._buf = {Role.CLIENT: b"", Role.SERVER: b""}
        self._out = {Role.CLIENT: b"", Role.SERVER: b""}
        self._count = {Role.CLIENT: 0, Role.SERVER: 0}

    def transfer(self, src: Connection, dst: Connection) -> int:
        role = src.role
        buf = self._buf[role] + src.bio_read()
        out = bytearray()
        while len(buf) >= 5:
            end = 5 + int.from_bytes(buf[3:5], "big")
            if len(buf) < end:
                break
            rec, buf = buf[:end], buf[end:]
            if role is self.target and self._count[role] == self.index and not self.fired:
                rec = mutate_record(rec, self.prog)
                self.fired = True
            self._count[role] += 1
            out += rec
        self._buf[role] = buf
        pending = self._out[role] + bytes(out)
        if not pending:
            return 0
        n = dst.bio_write(pending)
        self._out[role] = pending[n:]
        return n

    def in_flight(self, role: Role) -> int:
        return len(self._out[role])


def fuzz_records(data: bytes) -> None:
    """A real handshake with one record mutated by the program in ``data``."""
    prog = _Reader(data)
    cfg = prog.byte()
    client_ctx = _ctx(("client", "client-tls12", "client-mtls")[cfg % 3])
    server_ctx = _ctx(SERVER_CONTEXTS[(cfg >> 2) % len(SERVER_CONTEXTS)])
    target = Role.CLIENT if prog.byte() & 1 else Role.SERVER
    index = prog.byte() % 8
    wire = MutatingWire(target, index, prog)
    client, server = memory_pair(client_ctx, server_ctx, server_name="localhost")
    with client, server:
        result = drive(client, server, wire=wire)
        if result.error is not None and not isinstance(result.error, SSLError):
            raise AssertionError(f"untyped handshake error: {result.error!r}")
        if result.error is None and not (client.is_init_finished and server.is_init_finished):
            raise AssertionError("no error but the handshake is not finished")
        _inspect(client)
        _inspect(server)


def fuzz_one(data: bytes, mode: str = "all") -> None:
    """Run one input in ``mode`` (``all``: the first byte selects the mode)."""
    if mode == "all":
        if not data:
            return
        mode, data = MODES[data[0] % len(MODES)], data[1:]
    if mode == "server":
        fuzz_server(data)
    elif mode == "client":
        fuzz_client(data)
    elif mode == "records":
        fuzz_records(data)
    else:
        raise ValueError(f"unknown mode {mode!r}")


# -- seed corpus ---------------------------------------------------------------


def _flights(client_ctx: Context, server_ctx: Context) -> tuple[list[bytes], list[bytes]]:
    """The bytes each side sent, flight by flight, in one real handshake."""
    client, server = memory_pair(client_ctx, server_ctx, server_name="localhost")
    sent: dict[Role, list[bytes]] = {Role.CLIENT: [], Role.SERVER: []}
    with client, server:
        for _ in range(20):
            for me, other in ((client, server), (server, client)):
                if not me.is_init_finished:
                    me.step()
                data = me.bio_read()
                if data:
                    sent[me.role].append(data)
                    other.bio_write(data)
            if client.is_init_finished and server.is_init_finished:
                break
    return sent[Role.CLIENT], sent[Role.SERVER]


def regen_corpus() -> dict[str, int]:
    """Write ``fuzz/corpus/{server,client,records,all}`` from real handshakes."""
    rng = random.Random(20261130)
    seeds: dict[str, list[bytes]] = {m: [] for m in MODES}
    for ci, cname in enumerate(("client", "client-tls12", "client-mtls")):
        for si, sname in enumerate(SERVER_CONTEXTS):
            if cname == "client-mtls" and sname != "server-rsa-mtls":
                continue
            if cname != "client-mtls" and sname == "server-rsa-mtls":
                continue
            cfl, sfl = _flights(_ctx(cname), _ctx(sname))
            if cfl:
                seeds["server"].append(bytes([si]) + cfl[0])  # a real ClientHello
            if sfl and cname in CLIENT_CONTEXTS:
                seeds["client"].append(bytes([CLIENT_CONTEXTS.index(cname)]) + sfl[0])
            for target in (0, 1):
                for index in range(3):
                    prog = bytes([si << 2 | ci, target, index]) + rng.randbytes(12)
                    seeds["records"].append(prog)
    written: dict[str, int] = {}
    for mode, items in seeds.items():
        d = CORPUS / mode
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            old.unlink()
        for i, item in enumerate(items):
            (d / f"seed-{i:03d}").write_bytes(item)
        written[mode] = len(items)
    d = CORPUS / "all"
    d.mkdir(parents=True, exist_ok=True)
    for old in d.iterdir():
        old.unlink()
    n = 0
    for mi, mode in enumerate(MODES):
        for item in seeds[mode]:
            (d / f"seed-{n:03d}").write_bytes(bytes([mi]) + item)
            n += 1
    written["all"] = n
    return written


def load_corpus(mode: str) -> list[bytes]:
    d = CORPUS / mode
    return [p.read_bytes() for p in sorted(d.iterdir())] if d.is_dir() else []


# -- the deterministic loop (no atheris) -----------------------------------------


def mutate(data: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    """A byte-level mutation: flips, inserts, deletes, splices, interesting values."""
    buf = bytearray(data)
    for _ in range(1 + rng.randrange(4)):
        op = rng.randrange(6)
        at = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[at % len(buf)] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[at:at] = rng.randbytes(rng.randrange(1, 9))
        elif op == 2:
            del buf[at : at + rng.randrange(1, 33)]
        elif op == 3 and pool:
            other = rng.choice(pool)
            cut = rng.randrange(len(other) + 1)
            buf[at:] = other[cut:]
        elif op == 4 and buf:
            buf[at % len(buf)] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF))
        elif op == 5 and len(buf) > 2:
            i = at % (len(buf) - 1)
            buf[i : i + 2] = rng.choice((b"\x00\x00", b"\xff\xff", b"\x40\x00", b"\x00\x01"))
    return bytes(buf)


def random_loop(mode: str, runs: int, seed: int, seconds: float | None = None) -> int:
    """``runs`` mutated inputs (or until ``seconds`` pass) through :func:`fuzz_one`."""
    rng = random.Random(seed)
    pool = load_corpus(mode) or [b"\x00" * 8]
    deadline = time.monotonic() + seconds if seconds else None
    done = 0
    for seed_input in pool:  # every seed once, unmutated
        fuzz_one(seed_input, mode)
        done += 1
    while done < runs and (deadline is None or time.monotonic() < deadline):
        data = mutate(rng.choice(pool), rng, pool)
        try:
            fuzz_one(data, mode)
        except BaseException:
            sys.stderr.write(f"crashing input ({mode}): {data.hex()}\n")
            raise
        done += 1
    return done


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=True)
    ap.add_argument("--mode", choices=(*MODES, "all"), default="all")
    ap.add_argument("--random", type=int, default=0, help="run N mutations without atheris")
    ap.add_argument("--seconds", type=float, default=None, help="stop the --random loop after S s")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--regen-corpus", action="store_true")
    ap.add_argument("--replay", nargs="*", help="run these input files once each")
    args, rest = ap.parse_known_args(argv[1:])
    if args.regen_corpus:
        print(regen_corpus())
        return 0
    if args.replay is not None:
        for name in args.replay:
            fuzz_one(Path(name).read_bytes(), args.mode)
        print(f"replayed {len(args.replay)} inputs: ok")
        return 0
    if args.random:
        start = time.monotonic()
        n = random_loop(args.mode, args.random, args.seed, args.seconds)
        print(f"executions={n} mode={args.mode} seconds={time.monotonic() - start:.1f} crashes=0")
        return 0
    if not _ATHERIS:
        ap.error("atheris is not installed: use --random N for the deterministic loop")
    mode = args.mode

    def test_one_input(data: bytes) -> None:
        fuzz_one(data, mode)

    atheris.Setup([argv[0], *rest], test_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
