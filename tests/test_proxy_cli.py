"""``ossl-handshake proxy`` and its fault-spec grammar.

The grammar parses into the same fault objects the in-process ``Wire``
uses (and writes them back: a property test round-trips every fault), bad
specs are usage errors (exit 2), and the command runs between a C client and
a C server with one JSON line per connection and a pcapng of what crossed.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ossl_handshake import Role, certs, wire
from ossl_handshake.proxy import SpecError, fault_spec, parse_fault, parse_policy, policy_spec
from ossl_handshake.tls.names import CONTENT_TYPES
from tests import _fault_strategies as fs
from tests._peers import TIMEOUT, EchoServer, cli, json_lines, read_until
from tests.test_c_integration import (
    tls_client,
)
from tests.test_cli_capture import TSHARK, decrypted, needs_tshark

pytestmark = pytest.mark.timeout(60)

S, C = Role.SERVER, Role.CLIENT


# ---- the grammar --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "cls", "select", "attrs"),
    [
        (
            "corrupt:server:record=3",
            wire.Corrupt,
            wire.Select(S, record=3),
            {"offset": -1, "xor": 1},
        ),
        (
            "drop:client:flight=1:type=application_data",
            wire.Drop,
            wire.Select(C, flight=1, content_type="application_data"),
            {},
        ),
        (
            "truncate:server:handshake=certificate:bytes=10",
            wire.Truncate,
            wire.Select(S, handshake_type="Certificate"),
            {"at": 10},
        ),
        (
            "corrupt:any:encrypted=yes:offset=7:xor=0x80",
            wire.Corrupt,
            wire.Select(encrypted=True),
            {
                "offset": 7,
                "xor": 0x80,
            },
        ),
        (
            "duplicate:server:type=22:times=all",
            wire.Duplicate,
            wire.Select(S, content_type=22),
            {"times": None},
        ),
        (
            "reorder:client:record=0:optional",
            wire.Reorder,
            wire.Select(C, record=0),
            {"optional": True},
        ),
        (
            "delay:server:record=1:flights=2:after=client",
            wire.Delay,
            wire.Select(S, record=1),
            {
                "flights": 2,
                "after": C,
            },
        ),
        (
            "inject:server:record=0:data=15030300020228:where=after",
            wire.Inject,
            wire.Select(S, record=0),
            {
                "data": bytes.fromhex("15030300020228"),
                "where": "after",
            },
        ),
    ],
)
def test_documented_specs_parse_into_the_wire_faults(
    spec: str, cls: type[wire.Fault], select: wire.Select, attrs: dict[str, object]
) -> None:
    fault = parse_fault(spec)
    assert type(fault) is cls
    assert fault.select == select
    for name, value in attrs.items():
        assert getattr(fault, name) == value
    assert parse_fault(fault_spec(fault)).select == select


def test_close_spec_is_close_after_on_one_direction() -> None:
    fault = parse_fault("close:server:bytes=100:flight=2")
    assert isinstance(fault, wire.CloseAfter)
    assert (fault.direction, fault.nbytes, fault.flight) == (S, 100, 2)
    assert fault_spec(fault) == "close:server:bytes=100:flight=2"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("corrupt", "expected KIND:SENDER"),
        ("smash:server", "unknown fault 'smash'"),
        ("drop:middle", "sender must be client, server or any"),
        ("drop:server:record", "is not KEY=VALUE"),
        ("drop:server:record=x", "record='x' is not an integer"),
        ("drop:server:record=-1", "record must be >= 0"),
        ("drop:server:record=1:record=2", "record given twice"),
        ("drop:server:bytes=3", "drop takes no bytes"),
        ("drop:server:type=hello", "unknown content type 'hello'"),
        ("drop:server:handshake=hullo", "unknown handshake message 'hullo'"),
        ("drop:server:encrypted=maybe", "encrypted must be 'yes' or 'no'"),
        ("drop:server:times=0", "times must be >= 1"),
        ("corrupt:server:xor=0", "xor must be 1..255"),
        ("inject:server", "inject needs data=HEX"),
        ("inject:server:data=zz", "is not hex"),
        ("inject:server:data=00:where=inside", "where must be before, after or instead"),
        ("delay:server:after=proxy", "after must be 'client' or 'server'"),
        ("close:any:bytes=3", "close needs a sender"),
        ("close:server", "close needs bytes=N"),
        ("close:server:bytes=3:record=1", "close takes no record"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_fault(spec)


def test_policies_parse_and_print_back() -> None:
    assert parse_policy("flights") is wire.FLIGHTS
    assert parse_policy("records") is wire.RECORDS
    assert parse_policy("bytes") is wire.BYTES
    split = parse_policy("split=5,9")
    assert isinstance(split, wire.Split) and split.offsets == [5, 9]
    coalesce = parse_policy("coalesce=3")
    assert isinstance(coalesce, wire.Coalesce) and coalesce.flights == 3
    for spec in ("flights", "records", "bytes", "split=5,9", "coalesce=3"):
        assert policy_spec(parse_policy(spec)) == spec
    for bad in ("slow", "split=", "split=0", "coalesce=1", "bytes=2"):
        with pytest.raises(SpecError):
            parse_policy(bad)


_index = st.integers(0, 50)
_faults = fs.faults(
    fs.selects(
        record=_index,
        flight=_index,
        content_type=st.sampled_from(sorted(set(CONTENT_TYPES.values()))) | st.integers(0, 255),
        handshake_type=st.sampled_from(["ClientHello", "Certificate", "Finished"]),
        encrypted=st.booleans(),
    ),
    times=st.none() | st.integers(1, 9),
    optional=st.booleans(),
    truncate_at=st.integers(0, 300),
    corrupt_offset=st.integers(-300, 300),
    inject_data=st.binary(max_size=20),
    delay_flights=st.integers(0, 5),
    close_bytes=st.integers(0, 5000),
    close_flight=st.none() | _index,
)


@given(_faults)
@example(wire.Inject(wire.Select(), b"", times=None))  # an empty value: data=
def test_every_fault_round_trips_through_its_spec(fault: wire.Fault) -> None:
    spec = fault_spec(fault)
    again = parse_fault(spec)
    assert type(again) is type(fault)
    assert fault_spec(again) == spec
    assert again.select == fault.select
    assert (again.times, again.optional) == (fault.times, fault.optional)
    assert vars(again).keys() == vars(fault).keys()
    for name, value in vars(fault).items():
        if not name.startswith("_") and name not in ("select",):
            assert getattr(again, name) == value, name


# ---- the command --------------------------------------------------------------------------


def test_a_bad_spec_is_a_usage_error() -> None:
    proc = subprocess.run(
        cli("proxy", "--connect", "127.0.0.1:9", "--fault", "corrupt:server:record=x"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 2
    assert "record='x' is not an integer" in proc.stderr
    assert "usage:" in proc.stderr


class ProxyProc:
    """``ossl-handshake proxy --json ARGS`` started, its listening line read."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            cli("proxy", "--json", *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.early = read_until(self.proc, b"\n")
        lines = json_lines(self.early.decode())
        if not lines or lines[0].get("event") != "listening":
            self.proc.kill()
            pytest.fail(f"the proxy did not print its listening line: {self.early!r}")
        self.port = int(lines[0]["port"])

    @classmethod
    def to(cls, port: int, *args: str) -> ProxyProc:
        """A proxy to ``127.0.0.1:port`` that stops after one connection."""
        return cls("--connect", f"127.0.0.1:{port}", "--count", "1", *args)

    def finish(self) -> tuple[int, list[dict[str, object]], str]:
        try:
            out, err = self.proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=TIMEOUT)
        lines = json_lines((self.early + out).decode())
        return self.proc.returncode, lines[1:], err.decode()


def test_proxy_command_between_c_client_and_c_server_writes_json_and_pcapng(
    tls_client_exe: Path, echo_server: Callable[..., EchoServer], tmp_path: Path
) -> None:
    server = echo_server()
    cap = tmp_path / "crossed.pcapng"
    proxy = ProxyProc.to(server.port, "--policy", "bytes", "--pcapng", str(cap))
    rc, _, err = tls_client(
        tls_client_exe, proxy.port, "--cafile", str(certs.CA), "--send", "hi", "--expect", "hi"
    )
    assert rc == 0, err
    prc, lines, perr = proxy.finish()
    assert prc == 0, perr
    (line,) = lines
    assert line["event"] == "connection" and line["outcome"] == "closed"
    client, server_side = line["client"], line["server"]
    assert isinstance(client, dict) and isinstance(server_side, dict)
    assert client["messages"] == ["ClientHello"] and server_side["messages"] == ["ServerHello"]
    assert client["closed"] == server_side["closed"] == "fin"
    assert server.finish()[0] == 0
    assert cap.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    if shutil.which("tshark"):  # one byte per segment, as tshark reads the capture
        tshark = subprocess.run(
            ["tshark", "-n", "-r", str(cap), "-T", "fields", "-e", "tcp.len"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        lengths = {int(v) for v in tshark.stdout.split()}
        assert lengths == {0, 1}


def test_proxy_command_fails_when_its_fault_never_fired(
    tls_client_exe: Path, echo_server: Callable[..., EchoServer]
) -> None:
    server = echo_server()
    proxy = ProxyProc.to(server.port, "--fault", "drop:server:handshake=HelloRetryRequest")
    rc, _, err = tls_client(tls_client_exe, proxy.port, "--cafile", str(certs.CA))
    assert rc == 0, err
    prc, lines, perr = proxy.finish()
    assert prc == 1
    assert "fault never fired" in perr
    assert lines[0]["faults"] == [
        {"fault": "drop:server:handshake=HelloRetryRequest", "fired": 0, "optional": False}
    ]
    server.finish()


def test_proxy_command_reports_the_fault_and_both_ends_fail(
    tls_client_exe: Path, echo_server: Callable[..., EchoServer]
) -> None:
    server = echo_server()
    proxy = ProxyProc.to(server.port, "--fault", "corrupt:client:type=application_data")
    rc, out, _ = tls_client(
        tls_client_exe, proxy.port, "--cafile", str(certs.CA), "--send", "x", "--expect", "x"
    )
    assert rc == 2 and out.startswith("FAIL ")
    prc, lines, perr = proxy.finish()
    assert prc == 0, perr
    assert lines[0]["faults"] == [
        {"fault": "corrupt:client:type=application_data", "fired": 1, "optional": False}
    ]
    assert server.finish()[0] == 2


def test_proxy_command_stops_on_sigterm_and_embeds_the_key_log(tmp_path: Path) -> None:
    keys = tmp_path / "keys.log"
    keys.write_text("CLIENT_RANDOM " + "00" * 32 + " " + "11" * 48 + "\n")
    cap = tmp_path / "none.pcapng"
    proxy = ProxyProc("--connect", "127.0.0.1:9", "--keylog", str(keys), "--pcapng", str(cap))
    proxy.proc.send_signal(signal.SIGTERM)
    prc, lines, perr = proxy.finish()
    assert prc == 0, perr
    assert lines == []
    data = cap.read_bytes()
    assert b"CLIENT_RANDOM " + b"00" * 32 in data  # the Decryption Secrets Block


# ---- --trace, --keylog and the per-side policies ------------------------------------------


def _proxied_through(
    keylogged_echo_server: Callable[..., EchoServer],
    tls_client_exe: Path,
    *args: str,
    keys: bool = True,
) -> tuple[dict[str, object], str]:
    """C client -> ``proxy --trace [--keylog <the C server's key log>]`` -> C echo server.

    TLS 1.3; the proxy's JSON line for the one connection, and its stderr.
    """
    server = keylogged_echo_server()
    keylog = ("--keylog", str(server.keylog)) if keys else ()
    proxy = ProxyProc.to(server.port, *keylog, "--trace", *args)
    rc, _, err = tls_client(
        tls_client_exe, proxy.port, "--cafile", str(certs.CA), "--send", "hi", "--expect", "hi"
    )
    assert rc == 0, err
    prc, lines, perr = proxy.finish()
    assert prc == 0, perr
    assert server.finish()[0] == 0
    (line,) = lines
    return line, perr


def test_proxy_trace_names_the_decrypted_tls13_messages_with_the_peers_key_log(
    keylogged_echo_server: Callable[..., EchoServer], tls_client_exe: Path
) -> None:
    line, _ = _proxied_through(keylogged_echo_server, tls_client_exe)
    flights = line["ladder"]
    assert isinstance(flights, list)
    server_labels = [
        [x for x in f["labels"] if x != "ChangeCipherSpec"]  # middlebox compatibility
        for f in flights
        if f.get("from") == "server"
    ]
    assert server_labels[0][:5] == [
        "ServerHello", "EncryptedExtensions", "Certificate", "CertificateVerify", "Finished"
    ], flights  # fmt: skip
    client_labels = [f["labels"] for f in flights if f.get("from") == "client"]
    assert client_labels[0] == ["ClientHello"]
    assert "Finished" in client_labels[1], flights
    # The wire decrypted them too (KeyLog(path=...)): the report names them.
    server_side = line["server"]
    assert isinstance(server_side, dict)
    assert {"EncryptedExtensions", "Certificate", "Finished"} <= set(server_side["messages"])


def test_proxy_trace_prints_a_text_ladder_without_json(
    keylogged_echo_server: Callable[..., EchoServer], tls_client_exe: Path
) -> None:
    server = keylogged_echo_server()
    proc = subprocess.Popen(
        cli("proxy", "--connect", f"127.0.0.1:{server.port}", "--count", "1",
            "--keylog", str(server.keylog), "--trace"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = proc.stdout.readline() if proc.stdout is not None else ""
        port = int(first.split()[1].rpartition(":")[2])
        rc, _, err = tls_client(tls_client_exe, port, "--cafile", str(certs.CA))
        assert rc == 0, err
        out, perr = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, perr
    assert server.finish()[0] == 0
    summary, _, drawn = out.partition("\n")
    assert summary.startswith("#0 ") and ": closed" in summary, out
    for name in ("EncryptedExtensions", "Certificate", "CertificateVerify", "Finished"):
        assert name in drawn, drawn


@needs_tshark
def test_a_proxied_tls13_capture_decrypts_in_tshark_with_the_c_servers_keys(
    keylogged_echo_server: Callable[..., EchoServer], tls_client_exe: Path, tmp_path: Path
) -> None:
    cap = tmp_path / "proxied.pcapng"
    _proxied_through(keylogged_echo_server, tls_client_exe, "--pcapng", str(cap))
    frames = decrypted(cap)
    types = {t for f in frames for t in f.split("\t")[1].split(",") if t}
    assert {"1", "2", "8", "11", "15", "20"} <= types, frames  # EE, Certificate, CV decrypted
    assert len([f for f in frames if f.endswith(b"hi".hex())]) == 2, frames  # both directions


@needs_tshark
@pytest.mark.parametrize("keys", [False, True], ids=["sealed", "keyed"])
def test_per_side_policies_shape_each_direction_separately(
    keylogged_echo_server: Callable[..., EchoServer],
    tls_client_exe: Path,
    tmp_path: Path,
    keys: bool,
) -> None:
    """One byte per segment one way, whole records the other, with or without the keys.

    Keyed, the C server's key log line can reach the proxy after the first
    records it protects (measured on OpenSSL 4.0): those pass sealed, and the
    records after them keep their numbers (no bad_record_mac at close_notify).
    """
    cap = tmp_path / "policies.pcapng"
    line, _ = _proxied_through(
        keylogged_echo_server, tls_client_exe,
        "--client-policy", "bytes", "--server-policy", "records", "--pcapng", str(cap),
        keys=keys,
    )  # fmt: skip
    assert TSHARK is not None
    proc = subprocess.run(
        [TSHARK, "-n", "-r", str(cap), "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.len"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    server_port = int(str(line["server"]["address"]).rpartition(":")[2])  # type: ignore[index]
    lengths: dict[bool, set[int]] = {True: set(), False: set()}
    for row in proc.stdout.splitlines():
        port, length = row.split("\t")
        if int(length):
            lengths[int(port) == server_port].add(int(length))
    assert lengths[False] == {1}, lengths  # the client's bytes: one per segment
    assert max(lengths[True]) > 1, lengths  # the server's: whole records
