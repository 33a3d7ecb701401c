"""One benchmark measurement in this process: a Python variant running one configuration.

``python bench/workers.py VARIANT CONFIG [--count N | --seconds S] [--threads T]
[--hold N] [--bulk MB]`` prints one JSON line shaped like the C reference loop's
(bench/c/handshake_loop.c): ``handshakes``, ``seconds``, ``per_second``,
``openssl`` (the library this variant really used), and for the other modes
``mb_per_second`` or ``rss_bytes_per_pair``. ``bench/run.py`` starts one
process per measurement so variants never share a heap or an import state.

Every variant does the same work per handshake as the C loop: two fresh
connection objects over shared, pre-built contexts, the bytes of one
memory transport moved until both sides finish, the client settled (one
read that takes in what came after its handshake: the TLS 1.3 tickets, as
``handshake()`` does by default), then both freed. Resumption
offers the session of the first handshake (taken after the client read its
TLS 1.3 tickets) to every later one and checks that it was reused.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The source tree measured: this checkout, or the one ``bench/run.py --tree``
#: names (run with that tree's own interpreter, so its built extension loads).
ROOT = Path(os.environ.get("OSSL_BENCH_TREE") or Path(__file__).resolve().parent.parent)
# The tree's src/ only when no ossl_handshake is installed: the venvs of
# make test-openssl install a build against their OpenSSL, and src/ may hold
# .venv's editable module, built against another libssl.
if importlib.util.find_spec("ossl_handshake") is None:
    sys.path.insert(0, str(ROOT / "src"))

from ossl_handshake import certs  # noqa: E402

CHUNK = 16384
HOST = "localhost"


@dataclass(frozen=True)
class Config:
    """One benchmark configuration (mirrored by handshake_loop's flags in run.py)."""

    name: str
    server: certs.Identity
    tls: str  # "1.2" or "1.3"
    verify: bool = False
    mtls: bool = False
    resume: bool = False
    bulk: bool = False

    def c_flags(self) -> list[str]:
        """The same configuration as ``handshake_loop`` arguments."""
        flags = ["--cert", str(self.server.cert), "--key", str(self.server.key)]
        # --settle: the client reads its TLS 1.3 tickets, as handshake() does by default.
        flags += ["--tls", self.tls, "--release-buffers", "--settle"]
        if self.verify or self.mtls:
            flags += ["--cafile", str(certs.CA), "--verify", "--sni", HOST]
        if self.mtls:
            flags += ["--mtls", "--client-cert", str(certs.CLIENT.cert)]
            flags += ["--client-key", str(certs.CLIENT.key)]
        if self.resume:
            flags.append("--resume")
        return flags


CONFIGS: dict[str, Config] = {
    c.name: c
    for c in (
        Config("ecdsa-1.3-full", certs.SERVER_ECDSA, "1.3"),
        Config("rsa-1.3-full", certs.SERVER_RSA, "1.3"),
        Config("ecdsa-1.3-verify", certs.SERVER_ECDSA, "1.3", verify=True),
        Config("ecdsa-1.3-resumed", certs.SERVER_ECDSA, "1.3", resume=True),
        Config("ecdsa-1.2-resumed", certs.SERVER_ECDSA, "1.2", resume=True),
        Config("mtls-1.3", certs.SERVER_ECDSA, "1.3", verify=True, mtls=True),
        Config("bulk-1.3", certs.SERVER_ECDSA, "1.3", bulk=True),
    )
}


class Variant:
    """A handshake loop over one TLS library; subclasses fill in the four hooks."""

    name = "?"
    #: Bytes per send_bulk call in the bulk mode (every variant writes 16 KiB records).
    bulk_block = CHUNK

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def openssl(self) -> str:
        raise NotImplementedError

    def new_pair(self, session: Any) -> tuple[Any, Any]:
        """Two fresh connections (client offering ``session`` when given)."""
        raise NotImplementedError

    def handshake(self, pair: tuple[Any, Any]) -> None:
        """Drive ``pair`` until both finished; raise on failure."""
        raise NotImplementedError

    def session(self, pair: tuple[Any, Any]) -> Any:
        """The client's session after the first handshake (tickets read in)."""
        raise NotImplementedError

    def reused(self, pair: tuple[Any, Any]) -> bool:
        raise NotImplementedError

    def close(self, pair: tuple[Any, Any]) -> None:
        """Free both connections now (as SSL_free does in C)."""

    def send_bulk(self, pair: tuple[Any, Any], data: bytes) -> int:
        """Client writes ``data`` (one 16 KiB record), server reads all of it."""
        raise NotImplementedError

    def loop(self, count: int, deadline: float, stop: threading.Event) -> int:
        """Handshakes until ``count`` or ``deadline``; returns how many were done."""
        session = None
        done = 0
        resume = self.cfg.resume
        clock = time.perf_counter
        while done < count and clock() < deadline and not stop.is_set():
            pair = self.new_pair(session)
            self.handshake(pair)
            if resume:
                if session is None:
                    session = self.session(pair)
                elif not self.reused(pair):
                    raise RuntimeError(f"{self.name}: handshake did not resume")
            self.close(pair)
            done += 1
        return done


# -- ossl_handshake ---------------------------------------------------------


class OsslDirect(Variant):
    """ossl-handshake with both peers on one shared BIO pair (bytes stay in C)."""

    name = "ossl-direct"
    direct = True

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        import ossl_handshake as oh

        self.oh = oh
        self.client_ctx = oh.Context(
            oh.Role.CLIENT,
            cafile=certs.CA if cfg.verify or cfg.mtls else None,
            verify=cfg.verify or cfg.mtls,
            cert=certs.CLIENT.cert if cfg.mtls else None,
            key=certs.CLIENT.key if cfg.mtls else None,
            min_version=cfg.tls,
            max_version=cfg.tls,
        )
        self.server_ctx = oh.Context(
            oh.Role.SERVER,
            cert=cfg.server.cert,
            key=cfg.server.key,
            cafile=certs.CA if cfg.mtls else None,
            client_auth="require" if cfg.mtls else None,
            min_version=cfg.tls,
            max_version=cfg.tls,
        )
        self.server_name = HOST if cfg.verify or cfg.mtls else None
        self.wire_cls: Any = None
        self.bio_size = 0  # memory_pair's default (17 KiB per direction)

    def openssl(self) -> str:
        return str(self.oh.OPENSSL_VERSION)

    def new_pair(self, session: Any) -> tuple[Any, Any]:
        return self.oh.memory_pair(
            self.client_ctx,
            self.server_ctx,
            server_name=self.server_name,
            session=session,
            direct=self.direct,
            bio_size=self.bio_size,
        )

    def handshake(self, pair: tuple[Any, Any]) -> None:
        if self.wire_cls is not None:
            self.oh.handshake(pair[0], pair[1], wire=self.wire_cls())
        else:
            self.oh.handshake(pair[0], pair[1])

    def session(self, pair: tuple[Any, Any]) -> Any:
        return pair[0].session

    def reused(self, pair: tuple[Any, Any]) -> bool:
        return bool(pair[0].session_reused)

    def close(self, pair: tuple[Any, Any]) -> None:
        pair[0].close()
        pair[1].close()

    def send_bulk(self, pair: tuple[Any, Any], data: bytes) -> int:
        client, server = pair
        client.write(data)
        if not self.direct:
            client.transfer_to(server)
        got = 0
        read = server.read
        while got < len(data):
            got += len(read(CHUNK))
        return got


class OsslDefault(OsslDirect):
    """The path the README shows first: ``memory_pair(client_ctx, server_ctx)`` + ``handshake()``.

    Each connection on its own BIO pair (``direct=False``), no wire: the
    driver moves the bytes between the two pairs itself.
    """

    name = "ossl-default"
    direct = False
    #: The bulk path: pair.deliver writes 16 KiB records, moves and reads them
    #: in one C loop, so one call carries 64 records.
    bulk_block = 64 * CHUNK

    def send_bulk(self, pair: tuple[Any, Any], data: bytes) -> int:
        if len(getattr(self, "_into", b"")) < len(data):
            self._into = bytearray(len(data))  # reused, as the C loop reuses its buffer
        return int(self.oh.pair.deliver_into(pair[0], pair[1], data, self._into))


class OsslWire(OsslDirect):
    """ossl-handshake with a BIO pair per connection; bytes move through the wire.

    Uses ``ossl_handshake.wire.Wire`` when that module exists, else the
    driver's default per-connection transfer (then labelled ``ossl-pairs``).
    """

    direct = False

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.wire_cls = wire_class()
        self.name = "ossl-wire" if self.wire_cls is not None else "ossl-pairs"


def wire_class() -> Any:
    """``ossl_handshake.wire.Wire`` if another module provides it, else None."""
    try:
        from ossl_handshake import wire
    except ImportError:
        return None
    return getattr(wire, "Wire", None)


# -- stdlib ssl ---------------------------------------------------------------


class Stdlib(Variant):
    """CPython's ``ssl`` module: SSLObject over two MemoryBIOs per side."""

    name = "stdlib"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        import ssl

        self.ssl = ssl
        version = ssl.TLSVersion.TLSv1_3 if cfg.tls == "1.3" else ssl.TLSVersion.TLSv1_2
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if cfg.verify or cfg.mtls:
            cctx.load_verify_locations(str(certs.CA))
        else:
            cctx.check_hostname = False
            cctx.verify_mode = ssl.CERT_NONE
        if cfg.mtls:
            cctx.load_cert_chain(str(certs.CLIENT.cert), str(certs.CLIENT.key))
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(str(cfg.server.cert), str(cfg.server.key))
        if cfg.mtls:
            sctx.load_verify_locations(str(certs.CA))
            sctx.verify_mode = ssl.CERT_REQUIRED
        for ctx in (cctx, sctx):
            ctx.minimum_version = ctx.maximum_version = version
        self.cctx, self.sctx = cctx, sctx
        self.server_name = HOST if cfg.verify or cfg.mtls else None

    def openssl(self) -> str:
        return self.ssl.OPENSSL_VERSION

    def new_pair(self, session: Any) -> tuple[Any, Any]:
        mb = self.ssl.MemoryBIO
        c_in, c_out, s_in, s_out = mb(), mb(), mb(), mb()
        c = self.cctx.wrap_bio(c_in, c_out, server_hostname=self.server_name, session=session)
        s = self.sctx.wrap_bio(s_in, s_out, server_side=True)
        return (c, c_in, c_out), (s, s_in, s_out)

    def handshake(self, pair: tuple[Any, Any]) -> None:
        (c, c_in, c_out), (s, s_in, s_out) = pair
        want = self.ssl.SSLWantReadError
        c_done = s_done = False
        for _ in range(100):
            if not c_done:
                try:
                    c.do_handshake()
                    c_done = True
                except want:
                    pass
                if c_out.pending:
                    s_in.write(c_out.read())
            if not s_done:
                try:
                    s.do_handshake()
                    s_done = True
                except want:
                    pass
                if s_out.pending:
                    c_in.write(s_out.read())
            if c_done and s_done:
                with contextlib.suppress(want):
                    c.read(1)  # settle: take in the TLS 1.3 tickets, as handshake() does
                return
        raise RuntimeError("stdlib handshake did not finish")

    def session(self, pair: tuple[Any, Any]) -> Any:
        c = pair[0][0]
        if self.cfg.tls == "1.3":
            with contextlib.suppress(self.ssl.SSLWantReadError):
                c.read(1)  # takes in the NewSessionTickets
        return c.session

    def reused(self, pair: tuple[Any, Any]) -> bool:
        return bool(pair[0][0].session_reused)

    def send_bulk(self, pair: tuple[Any, Any], data: bytes) -> int:
        (c, _, c_out), (s, s_in, _) = pair
        c.write(data)
        s_in.write(c_out.read())
        got = 0
        while got < len(data):
            got += len(s.read(CHUNK))
        return got


# -- pyOpenSSL ----------------------------------------------------------------


class PyOpenSSL(Variant):
    """pyOpenSSL ``Connection(ctx, None)``: a memory BIO pair per connection."""

    name = "pyopenssl"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        from OpenSSL import SSL

        self.SSL = SSL
        self.lib: Any = getattr(SSL, "_lib")  # noqa: B009 - pyOpenSSL's cffi lib, not exported
        version = SSL.TLS1_3_VERSION if cfg.tls == "1.3" else SSL.TLS1_2_VERSION
        cctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        sctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        sctx.use_certificate_chain_file(str(cfg.server.cert))
        sctx.use_privatekey_file(str(cfg.server.key))
        sctx.set_session_id(b"bench")
        if cfg.verify or cfg.mtls:
            cctx.load_verify_locations(str(certs.CA))
            cctx.set_verify(SSL.VERIFY_PEER)
        if cfg.mtls:
            cctx.use_certificate_chain_file(str(certs.CLIENT.cert))
            cctx.use_privatekey_file(str(certs.CLIENT.key))
            sctx.load_verify_locations(str(certs.CA))
            sctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT)
        for ctx in (cctx, sctx):
            ctx.set_min_proto_version(version)
            ctx.set_max_proto_version(version)
            ctx.set_mode(SSL.MODE_RELEASE_BUFFERS)
        self.cctx, self.sctx = cctx, sctx

    def openssl(self) -> str:
        return self.SSL.OpenSSL_version(self.SSL.OPENSSL_VERSION).decode()

    def new_pair(self, session: Any) -> tuple[Any, Any]:
        SSL = self.SSL
        c = SSL.Connection(self.cctx, None)
        s = SSL.Connection(self.sctx, None)
        c.set_connect_state()
        s.set_accept_state()
        if self.cfg.verify or self.cfg.mtls:
            c.set_tlsext_host_name(HOST.encode())
            param = self.lib.SSL_get0_param(c._ssl)  # pyOpenSSL has no set1_host API
            self.lib.X509_VERIFY_PARAM_set1_host(param, HOST.encode(), len(HOST))
        if session is not None:
            c.set_session(session)
        return c, s

    def handshake(self, pair: tuple[Any, Any]) -> None:
        c, s = pair
        want = self.SSL.WantReadError
        c_done = s_done = False
        for _ in range(100):
            if not c_done:
                try:
                    c.do_handshake()
                    c_done = True
                except want:
                    pass
                _pump(c, s, want)
            if not s_done:
                try:
                    s.do_handshake()
                    s_done = True
                except want:
                    pass
                _pump(s, c, want)
            if c_done and s_done:
                with contextlib.suppress(want):
                    c.recv(1)  # settle: take in the TLS 1.3 tickets, as handshake() does
                return
        raise RuntimeError("pyOpenSSL handshake did not finish")

    def session(self, pair: tuple[Any, Any]) -> Any:
        c = pair[0]
        if self.cfg.tls == "1.3":
            with contextlib.suppress(self.SSL.WantReadError):
                c.recv(1)
        return c.get_session()

    def reused(self, pair: tuple[Any, Any]) -> bool:
        return bool(self.lib.SSL_session_reused(pair[0]._ssl))

    def close(self, pair: tuple[Any, Any]) -> None:
        # A client freed without shutdown spoils its session (docs/architecture.md, rule 11).
        pair[0].set_shutdown(self.SSL.SENT_SHUTDOWN)

    def send_bulk(self, pair: tuple[Any, Any], data: bytes) -> int:
        c, s = pair
        c.send(data)
        s.bio_write(c.bio_read(65536))
        got = 0
        while got < len(data):
            got += len(s.recv(CHUNK))
        return got


def _pump(src: Any, dst: Any, want: type[Exception]) -> None:
    with contextlib.suppress(want):  # nothing pending (pyOpenSSL has no bio_pending)
        dst.bio_write(src.bio_read(65536))


VARIANTS: dict[str, Callable[[Config], Variant]] = {
    "stdlib": Stdlib,
    "pyopenssl": PyOpenSSL,
    "ossl-default": OsslDefault,
    "ossl-direct": OsslDirect,
    "ossl-wire": OsslWire,
}


# -- modes --------------------------------------------------------------------


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def run_handshakes(v: Variant, count: int, seconds: float, threads: int) -> dict[str, Any]:
    v.loop(3, float("inf"), threading.Event())  # warm-up: first-use costs out of the timing
    stop = threading.Event()
    per_thread = [count // threads + (i < count % threads) for i in range(threads)]
    done = [0] * threads
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            done[i] = v.loop(per_thread[i], deadline, stop)
        except BaseException as exc:  # reported below, never lost
            errors.append(exc)
            stop.set()

    deadline = time.perf_counter() + (seconds if seconds > 0 else 1e9)
    t0 = time.perf_counter()
    c0 = time.process_time()
    if threads == 1:
        work(0)
    else:
        ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    if errors:
        raise errors[0]
    total = sum(done)
    return {
        "handshakes": total,
        "seconds": elapsed,
        "per_second": total / elapsed if elapsed > 0 else 0.0,
        "cpu_seconds": cpu,
        "threads": threads,
    }


def run_bulk(v: Variant, mb: float) -> dict[str, Any]:
    pair = v.new_pair(None)
    v.handshake(pair)
    block = v.bulk_block
    data = b"x" * block
    total = max(1, int(mb * 1048576) // block) * block
    moved = 0
    send = v.send_bulk
    t0 = time.perf_counter()
    c0 = time.process_time()
    while moved < total:
        moved += send(pair, data)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    v.close(pair)
    return {
        "handshakes": 1,
        "bulk_bytes": moved,
        "bulk_seconds": elapsed,
        "mb_per_second": moved / 1048576 / elapsed if elapsed > 0 else 0.0,
        "cpu_seconds": cpu,
    }


def run_hold(v: Variant, n: int) -> dict[str, Any]:
    held = []
    pair = v.new_pair(None)
    v.handshake(pair)
    v.close(pair)
    del pair
    gc.collect()
    before = rss_kb()
    for _ in range(n):
        pair = v.new_pair(None)
        v.handshake(pair)
        held.append(pair)
    gc.collect()
    after = rss_kb()
    for pair in held:
        v.close(pair)
    return {
        "handshakes": n,
        "hold": n,
        "rss_kb_before": before,
        "rss_kb_after": after,
        "rss_bytes_per_pair": (after - before) * 1024 / n,
    }


def run_profile(v: Variant, count: int, top: int) -> dict[str, Any]:
    """Python calls per handshake (cProfile over ``count`` handshakes after a warm-up).

    ``calls``: the functions with the most calls, each as ``[name, calls per
    handshake, own seconds per handshake]`` (cProfile's own time, inflated by
    the profiler: compare the counts, not the times, with other runs).
    """
    import cProfile
    import pstats

    v.loop(3, float("inf"), threading.Event())
    prof = cProfile.Profile()
    prof.enable()
    done = v.loop(count, float("inf"), threading.Event())
    prof.disable()
    stats: dict[Any, Any] = getattr(pstats.Stats(prof), "stats")  # noqa: B009 - no public accessor
    rows = []
    total_calls = 0
    for (file, line, func), (_, ncalls, tottime, _, _) in stats.items():
        total_calls += ncalls
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else file
        rows.append([f"{func} ({where})", ncalls / done, tottime / done])
    rows.sort(key=lambda r: -r[1])
    return {
        "handshakes": done,
        "calls_per_handshake": total_calls / done,
        "calls": [[n, round(c, 2), round(t, 7)] for n, c, t in rows[:top]],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("variant", choices=sorted(VARIANTS))
    p.add_argument("config", choices=sorted(CONFIGS))
    p.add_argument("--count", type=int, default=0, help="handshakes (0: until --seconds)")
    p.add_argument("--seconds", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hold", type=int, default=0, help="memory mode: keep N pairs alive")
    p.add_argument("--bio-size", type=int, default=0, help="ossl-*: memory_pair(bio_size=N)")
    p.add_argument("--bulk", type=float, default=0.0, help="bulk mode: MiB client->server")
    p.add_argument(
        "--profile", type=int, default=0, help="print the N most-called Python functions instead"
    )
    a = p.parse_args(argv)
    cfg = CONFIGS[a.config]
    v = VARIANTS[a.variant](cfg)
    if a.bio_size:
        if not isinstance(v, OsslDirect):
            p.error("--bio-size is for the ossl-* variants")
        v.bio_size = a.bio_size
    if a.profile:
        out = run_profile(v, a.count or 100, a.profile)
    elif a.hold:
        out = run_hold(v, a.hold)
    elif a.bulk or cfg.bulk:
        out = run_bulk(v, a.bulk or 64.0)
    else:
        count = a.count if a.count > 0 else (1 << 62 if a.seconds > 0 else 1000)
        out = run_handshakes(v, count, a.seconds, a.threads)
    out = {"variant": v.name, "config": cfg.name, "openssl": v.openssl(), **out}
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
