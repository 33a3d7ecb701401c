"""Asynchronous crypto jobs: handshakes that pause inside a provider (SSL_MODE_ASYNC).

The provider is ``tests/c/pause_provider.c``, compiled against the OpenSSL the
binding links and loaded into a library context of its own: it serves the
default provider's algorithms under ``provider=pause`` and pauses the running
ASYNC job a configured number of times in every signature and every key
exchange, the way OpenSSL's dasync engine does. Contexts select it with
``propquery="?provider=pause"``; no other test sees it.
"""

from __future__ import annotations

import select
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cffi
import pytest

from ossl_handshake import (
    FEATURES,
    AsyncStatus,
    ConfigurationError,
    Connection,
    Context,
    ErrorCode,
    LibraryContext,
    Mode,
    Role,
    Step,
    WantAsyncError,
    WantAsyncJobError,
    WantReadError,
    async_jobs,
    certs,
    drive,
    memory_pair,
)
from ossl_handshake._native import RUNTIME_VERSION_TEXT
from ossl_handshake.pair import driver as pair_mod
from ossl_handshake.testing.plugin import make_client_context, make_server_context
from tests._openssl import requires
from tests._peers import TIMEOUT, SServer, openssl_cli, s_server_identity
from tests.c.build import compile_c
from tests.test_fast_path import _compare as compare

pytestmark = pytest.mark.timeout(60)

C_DIR = Path(__file__).resolve().parent / "c"
PAUSE = "?provider=pause"
#: TLS 1.3 and 1.2 with a plain ECDHE group, so the key exchange is ECDH/X25519 derive.
GROUPS = "X25519:P-256"


class PauseProvider:
    """The compiled provider: its library context and its two exported knobs."""

    def __init__(self, so: Path) -> None:
        self.library = LibraryContext(search_path=so.parent)
        self.library.load_provider("default")
        self.library.load_provider(so.stem)
        ffi = cffi.FFI()
        ffi.cdef("void pause_provider_configure(int, int); long pause_provider_pauses(void);")
        self._lib: Any = ffi.dlopen(str(so))  # the module OpenSSL loaded (same file)

    def configure(self, sign: int, derive: int) -> None:
        """Pause ``sign`` times in each signature, ``derive`` times in each key exchange."""
        self._lib.pause_provider_configure(sign, derive)

    @property
    def pauses(self) -> int:
        """Pauses made (and resumed) so far in this process."""
        return int(self._lib.pause_provider_pauses())

    def server(self, identity: certs.Identity = certs.SERVER_ECDSA, **kw: Any) -> Context:
        kw.setdefault("groups", GROUPS)
        kw.setdefault("async_jobs", True)
        return make_server_context(identity, library=self.library, propquery=PAUSE, **kw)

    def client(self, **kw: Any) -> Context:
        kw.setdefault("groups", GROUPS)
        kw.setdefault("async_jobs", True)
        return make_client_context(library=self.library, propquery=PAUSE, **kw)


@pytest.fixture(scope="session")
def pause_provider(c_build_dir: Path) -> PauseProvider:
    if not FEATURES["providers"]:
        pytest.skip(f"{RUNTIME_VERSION_TEXT} has no providers (FEATURES['providers'] is False)")
    so = compile_c(C_DIR / "pause_provider.c", c_build_dir / "pause_provider.so", shared=True)
    return PauseProvider(so)


@pytest.fixture
def provider(pause_provider: PauseProvider) -> Iterator[PauseProvider]:
    """The provider, pausing nowhere until the test configures it (and again after)."""
    pause_provider.configure(0, 0)
    yield pause_provider
    pause_provider.configure(0, 0)


def async_steps(steps: list[Step], role: Role | None = None) -> list[Step]:
    return [s for s in steps if s.error_code is ErrorCode.WANT_ASYNC and role in (None, s.role)]


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
@pytest.mark.parametrize(
    "identity",
    [certs.SERVER_ECDSA, certs.SERVER_RSA, certs.SERVER_ED25519],
    ids=["ecdsa", "rsa", "ed25519"],
)
@pytest.mark.parametrize("sign", [1, 3])
def test_server_signature_pauses_n_times_then_the_handshake_succeeds(
    provider: PauseProvider, version: str, identity: certs.Identity, sign: int
) -> None:
    provider.configure(sign, 0)
    server_ctx = provider.server(identity, max_version=version)
    client, server = memory_pair(make_client_context(), server_ctx, server_name="localhost")
    before = provider.pauses

    result = drive(client, server)

    result.expect(ok=True)
    assert result.client.version == version
    paused = async_steps([r.step for r in result.steps])
    assert len(paused) == sign == provider.pauses - before
    assert {s.role for s in paused} == {Role.SERVER}
    assert all(isinstance(s.error, WantAsyncError) and s.wants for s in paused)
    # TLS 1.3 signs the CertificateVerify, TLS 1.2 the ServerKeyExchange.
    where = "certificate verify" if version == "TLSv1.3" else "key exchange"
    assert all(where in s.state for s in paused), [s.state for s in paused]


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
@pytest.mark.parametrize("group", ["X25519", "P-256"])
def test_key_exchange_pauses_on_both_sides(
    provider: PauseProvider, version: str, group: str
) -> None:
    provider.configure(0, 2)
    # An RSA certificate: with ECDSA P-256, TLS 1.2 needs P-256 among the groups.
    client, server = memory_pair(
        provider.client(max_version=version, groups=group),
        provider.server(certs.SERVER_RSA, max_version=version, groups=group),
        server_name="localhost",
    )
    before = provider.pauses

    result = drive(client, server)

    result.expect(ok=True)
    steps = [r.step for r in result.steps]
    assert len(async_steps(steps, Role.CLIENT)) == 2
    assert len(async_steps(steps, Role.SERVER)) == 2
    assert provider.pauses - before == 4


def test_both_sides_pause_in_signing_with_client_auth(provider: PauseProvider) -> None:
    provider.configure(2, 1)
    client_ctx = provider.client(cert=certs.CLIENT.cert, key=certs.CLIENT.key)
    server_ctx = provider.server(verify=True, cafile=certs.CA)
    client, server = memory_pair(client_ctx, server_ctx, server_name="localhost")

    result = drive(client, server)

    result.expect(ok=True)
    assert result.server.peer_subject is not None
    steps = [r.step for r in result.steps]
    # Each side: one key exchange (1 pause) and one CertificateVerify (2 pauses).
    assert len(async_steps(steps, Role.CLIENT)) == 3
    assert len(async_steps(steps, Role.SERVER)) == 3


def test_c_driver_matches_python_loop_on_async_pauses(
    provider: PauseProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule 8: the C driver (direct pairs) and the Python loop see the same pauses."""
    provider.configure(2, 1)
    client_ctx, server_ctx = provider.client(), provider.server()
    fast_calls: list[int] = []
    real = pair_mod._drive_c

    def counting(*a: Any, **kw: Any) -> Any:
        fast_calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(pair_mod, "_drive_c", counting)
    results = []
    for fast in (True, False):
        client, server = memory_pair(client_ctx, server_ctx, server_name="localhost", direct=True)
        results.append(drive(client, server, _fast=fast))
    fast_result, slow_result = results

    assert fast_calls == [1]
    fast_result.expect(ok=True)
    compare(fast_result, slow_result)
    assert len(async_steps([r.step for r in fast_result.steps])) == 4  # 1 + 1 derive, 2 signing


def step_until(conn: Connection, code: ErrorCode, peer: Connection, limit: int = 20) -> Step:
    """Step ``conn`` (moving bytes both ways after each step) until a step returns ``code``."""
    for _ in range(limit):
        st = conn.step()
        peer.bio_write(conn.bio_read())
        peer.step()
        conn.bio_write(peer.bio_read())
        if st.error_code is code:
            return st
    raise AssertionError(f"{conn.role.value} never returned {code.name}")


def test_a_paused_job_has_a_readable_fd_and_resumes_by_calling_again(
    provider: PauseProvider,
) -> None:
    provider.configure(1, 0)
    client, server = memory_pair(make_client_context(), provider.server(), server_name="localhost")
    assert server.async_fds() == ()
    assert server.async_status is AsyncStatus.UNSUPPORTED  # no job has run yet

    st = step_until(server, ErrorCode.WANT_ASYNC, client)

    assert server.waiting_for_async
    fds = server.async_fds()
    assert len(fds) == 1
    assert select.select(fds, [], [], 0)[0] == list(fds)  # ready: the "engine" has answered
    added, removed = server.changed_async_fds()
    assert added == fds and removed == ()
    assert server.async_status is AsyncStatus.OK
    with pytest.raises(WantAsyncError) as info:
        raise st.error or AssertionError("no error on a WANT_ASYNC step")
    assert info.value.error_code is ErrorCode.WANT_ASYNC

    pause = server.async_pause(st)
    assert pause is not None
    assert (pause.kind, pause.role, pause.state, pause.fds, pause.callback) == (
        ErrorCode.WANT_ASYNC,
        Role.SERVER,
        st.state,
        fds,
        "async",
    )
    with pytest.raises(TypeError):
        pause.resume(accept=True)  # nothing to answer: the job goes on
    pause.resume()
    with pytest.raises(RuntimeError):
        pause.resume()
    assert server.step().error_code is not ErrorCode.WANT_ASYNC  # the job resumed, finished
    assert not server.waiting_for_async
    drive(client, server).expect(ok=True)


def test_do_handshake_raises_want_async_and_a_retry_resumes(provider: PauseProvider) -> None:
    provider.configure(1, 1)
    client, server = memory_pair(make_client_context(), provider.server(), server_name="localhost")
    seen: list[type[BaseException]] = []
    for _ in range(30):
        for me, peer in ((client, server), (server, client)):
            if me.is_init_finished:
                continue
            try:
                me.do_handshake()
            except WantAsyncError as exc:
                seen.append(type(exc))
            except WantReadError:
                pass  # move the bytes
            peer.bio_write(me.bio_read())
        if client.is_init_finished and server.is_init_finished:
            break
    assert client.is_init_finished and server.is_init_finished
    assert seen == [WantAsyncError, WantAsyncError]  # one derive, one signature


def test_do_handshake_on_a_socket_with_a_timeout_raises_want_async_at_once(
    provider: PauseProvider,
) -> None:
    """The socket's timeout waits for bytes; a paused job is handed back to the caller."""
    provider.configure(1, 0)
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        client = Connection(make_client_context(), sock=a, server_name="localhost")
        b.settimeout(TIMEOUT)
        server = Connection(provider.server(), sock=b)
        assert client.step().error_code is ErrorCode.WANT_READ  # the ClientHello is out

        with pytest.raises(WantAsyncError):
            server.do_handshake()

        assert server.waiting_for_async
        assert server.step().error_code is ErrorCode.WANT_READ  # resumed: signed, flight sent
        for _ in range(10):
            if client.step().done:
                break
            select.select([a], [], [], TIMEOUT)
        server.do_handshake()  # reads the client's Finished (waiting with the timeout)
        assert client.is_init_finished and server.is_init_finished


def test_async_mode_is_a_context_setting(provider: PauseProvider) -> None:
    ctx = provider.server(async_jobs=False)
    assert not ctx.async_jobs and not ctx.mode & Mode.ASYNC
    ctx.async_jobs = True
    assert ctx.async_jobs and ctx.mode & Mode.ASYNC
    with pytest.raises(TypeError):
        ctx.async_jobs = 1  # type: ignore[assignment]


def test_without_async_mode_the_provider_never_pauses(provider: PauseProvider) -> None:
    provider.configure(3, 3)
    client_ctx = provider.client(async_jobs=False)
    server_ctx = provider.server(async_jobs=False)
    client, server = memory_pair(client_ctx, server_ctx, server_name="localhost")
    before = provider.pauses

    result = drive(client, server)

    result.expect(ok=True)
    assert async_steps([r.step for r in result.steps]) == []
    assert provider.pauses == before  # no job: the provider signs and derives at once


def in_thread(fn: Callable[[], None]) -> None:
    """Run ``fn`` in a fresh thread (its own ASYNC job pool) and re-raise what it raised."""
    errors: list[BaseException] = []

    def body() -> None:
        try:
            fn()
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    t = threading.Thread(target=body)
    t.start()
    t.join(TIMEOUT)
    assert not t.is_alive(), "the thread did not finish"
    if errors:
        raise errors[0]


def test_a_pool_of_one_job_gives_want_async_job_to_the_second_connection(
    provider: PauseProvider,
) -> None:
    provider.configure(1, 0)
    server_ctx = provider.server()

    def scenario() -> None:
        async_jobs.init_thread(max_size=1, init_size=1)
        c1, s1 = memory_pair(make_client_context(), server_ctx, server_name="localhost")
        c2, s2 = memory_pair(make_client_context(), server_ctx, server_name="localhost")
        step_until(s1, ErrorCode.WANT_ASYNC, c1)  # s1's job holds the only one

        c2.step()
        s2.bio_write(c2.bio_read())
        st = s2.step()

        assert st.error_code is ErrorCode.WANT_ASYNC_JOB
        assert isinstance(st.error, WantAsyncJobError) and st.wants
        pause = s2.async_pause(st)
        assert pause is not None and pause.kind is ErrorCode.WANT_ASYNC_JOB and pause.fds == ()
        assert s2.step().error_code is ErrorCode.WANT_ASYNC_JOB  # still no job free
        drive(c1, s1).expect(ok=True)  # s1's job finishes and goes back to the pool
        drive(c2, s2).expect(ok=True)

    in_thread(scenario)


def test_pool_sizes_are_checked() -> None:
    with pytest.raises(ValueError, match="init_size"):
        async_jobs.init_thread(max_size=1, init_size=2)
    with pytest.raises(ValueError):
        async_jobs.init_thread(max_size=-1)
    with pytest.raises(TypeError):
        async_jobs.init_thread(max_size="1")  # type: ignore[arg-type]


@pytest.mark.skipif(FEATURES["providers"], reason="providers exist from OpenSSL 3.0")
def test_without_providers_library_contexts_are_refused() -> None:
    """OpenSSL 1.1.1: no OSSL_LIB_CTX, no SSL_CTX_new_ex; the async calls still exist."""
    with pytest.raises(ConfigurationError, match=r"3\.0"):
        LibraryContext()
    with pytest.raises(ConfigurationError, match=r"3\.0"):
        Context(Role.CLIENT, propquery="?provider=pause")
    client, server = memory_pair(
        make_client_context(), make_server_context(async_jobs=True), server_name="localhost"
    )
    result = drive(client, server)  # SSL_MODE_ASYNC without a pausing engine: no pause
    result.expect(ok=True)
    assert server.async_fds() == () and not server.waiting_for_async
    with pytest.raises(ConfigurationError, match=r"3\.0"):
        server.async_status  # noqa: B018 - SSL_get_async_status is 3.0+


@requires("providers")
def test_library_context_refuses_what_it_cannot_load(tmp_path: Path) -> None:
    library = LibraryContext(search_path=tmp_path)
    with pytest.raises(ConfigurationError) as info:
        library.load_provider("no_such_provider")
    assert info.value.operation == "OSSL_PROVIDER_load"
    assert library.providers == ()
    with pytest.raises(NotADirectoryError):
        LibraryContext(search_path=tmp_path / "missing")
    with pytest.raises(TypeError):
        Context(Role.CLIENT, library="default")  # type: ignore[arg-type]
    library.load_provider("default")
    with pytest.raises(ConfigurationError):  # no provider answers to this query
        Context(Role.CLIENT, library=library, propquery="provider=absent")


@pytest.mark.timeout(60)
def test_async_server_on_a_socket_against_s_client(provider: PauseProvider) -> None:
    """A select() loop: wait on the socket for WANT_READ, on the async fds for WANT_ASYNC."""
    provider.configure(2, 1)
    server_ctx = provider.server()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        s_client = [openssl_cli(), "s_client", "-connect", f"127.0.0.1:{port}"]
        checks = ["-CAfile", str(certs.CA), "-servername", "localhost", "-verify_return_error"]
        peer = subprocess.Popen(
            [*s_client, *checks, "-brief", "-ign_eof"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            listener.settimeout(TIMEOUT)
            sock, _ = listener.accept()
            sock.setblocking(False)
            server = Connection(server_ctx, sock=sock)
            waits: list[ErrorCode] = []
            for _ in range(100):
                st = server.step()
                if st.done:
                    break
                assert st.wants, st.error
                waits.append(st.error_code)
                fds = server.async_fds() if st.error_code is ErrorCode.WANT_ASYNC else [sock]
                assert select.select(fds, [], [], TIMEOUT)[0], f"nothing ready after {st}"
            assert server.is_init_finished
            assert waits.count(ErrorCode.WANT_ASYNC) == 3
            server.write(b"async hello\n")
            server.close()
            sock.close()  # s_client (-ign_eof) prints what it read and exits on EOF
            out, err = peer.communicate(b"", timeout=TIMEOUT)
        finally:
            if peer.poll() is None:
                peer.kill()
                peer.communicate(timeout=TIMEOUT)
    assert b"async hello" in out, err
    assert b"Verification: OK" in err or b"Verification: OK" in out, err


def _s_client(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [openssl_cli(), "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(certs.CA),
         "-servername", "localhost", "-verify_return_error", "-brief", "-ign_eof"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _step_on_socket(server: Connection, sock: socket.socket, until: ErrorCode | None) -> Step:
    """Step a non-blocking socket server, waiting on the socket or the job's fds,
    until a step returns ``until`` (None: until the handshake is done)."""
    for _ in range(200):
        st = server.step()
        if st.done or st.error_code is until:
            return st
        assert st.wants, st.error
        if st.error_code is ErrorCode.WANT_ASYNC_JOB:
            continue  # waits for another job to finish: nothing to select on
        fds = server.async_fds() if st.error_code is ErrorCode.WANT_ASYNC else [sock]
        assert select.select(fds, [], [], TIMEOUT)[0], f"nothing ready after {st}"
    raise AssertionError(f"no {until} in 200 steps")


def test_a_pool_of_one_job_over_sockets_against_two_s_clients(provider: PauseProvider) -> None:
    """WANT_ASYNC_JOB on a socket: the second server waits until the first one's job ends."""
    provider.configure(1, 0)
    server_ctx = provider.server()
    outputs: list[bytes] = []

    def scenario() -> None:
        async_jobs.init_thread(max_size=1, init_size=1)
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(TIMEOUT)
            port = listener.getsockname()[1]
            peers = [_s_client(port), _s_client(port)]
            try:
                socks = [listener.accept()[0], listener.accept()[0]]
                for s in socks:
                    s.setblocking(False)
                first, second = (Connection(server_ctx, sock=s) for s in socks)
                _step_on_socket(first, socks[0], ErrorCode.WANT_ASYNC)  # holds the only job
                st = _step_on_socket(second, socks[1], ErrorCode.WANT_ASYNC_JOB)
                assert isinstance(st.error, WantAsyncJobError)
                assert second.step().error_code is ErrorCode.WANT_ASYNC_JOB  # still none free
                assert _step_on_socket(first, socks[0], None).done  # the job returns to the pool
                assert _step_on_socket(second, socks[1], None).done
                for conn, s in zip((first, second), socks, strict=True):
                    conn.write(b"pooled hello\n")
                    conn.close()
                    s.close()
                for peer in peers:
                    outputs.append(peer.communicate(b"", timeout=TIMEOUT)[0])
            finally:
                for peer in peers:
                    if peer.poll() is None:
                        peer.kill()
                        peer.communicate(timeout=TIMEOUT)

    in_thread(scenario)
    assert len(outputs) == 2 and all(b"pooled hello" in out for out in outputs), outputs


def test_async_client_on_a_socket_against_s_server_with_client_auth(
    provider: PauseProvider,
) -> None:
    """Our client pauses in its key exchange and its CertificateVerify against a C server."""
    provider.configure(2, 1)
    client_ctx = provider.client(cert=certs.CLIENT.cert, key=certs.CLIENT.key)
    before = provider.pauses
    peer = SServer(
        openssl_cli(), *s_server_identity(certs.SERVER_ECDSA), "-Verify", "1",
        "-CAfile", str(certs.CA), "-tls1_3",
    )  # fmt: skip
    try:
        with socket.create_connection(("127.0.0.1", peer.port), timeout=TIMEOUT) as sock:
            sock.setblocking(False)
            client = Connection(client_ctx, sock=sock, server_name="localhost")
            assert _step_on_socket(client, sock, None).done and client.is_init_finished
            assert client.peer_certificate is not None
            client.close()
    finally:
        _, out, err = peer.finish()
    assert provider.pauses - before == 2 * 1 + 1  # one signature (x2), one derive (x1)
    assert "Verification: OK" in err + out or "verify return:1" in err + out, err
