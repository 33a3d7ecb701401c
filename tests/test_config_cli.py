"""``ossl-handshake demo`` configuration flags, end to end through ``cli.main``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ossl_handshake import certs
from ossl_handshake.cli.main import EXIT_OK, EXIT_TLS, EXIT_USAGE, EXIT_VERIFY, main
from tests._openssl import NO_PROTOCOLS_ALERT, group


def demo(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, list[dict[str, Any]]]:
    code = main(["demo", "--json", *flags])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_tls_and_cipher_flags_pin_version_and_cipher(capsys: pytest.CaptureFixture[str]) -> None:
    code, [r] = demo(capsys, "--tls", "1.2", "--cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert code == EXIT_OK and r["ok"]
    for side in ("client", "server"):
        assert r[side]["version"] == "TLSv1.2"
        assert r[side]["cipher"] == "ECDHE-ECDSA-AES128-GCM-SHA256"
        assert r[side]["cipher_bits"] == 128


def test_ciphersuites_and_group_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code, [r] = demo(capsys, "--ciphersuites", "TLS_CHACHA20_POLY1305_SHA256", "--group", "P-384")
    assert code == EXIT_OK
    assert r["client"]["cipher"] == "TLS_CHACHA20_POLY1305_SHA256"
    assert r["client"]["group"] == r["server"]["group"] == group("secp384r1")


def test_alpn_flag_offers_and_the_server_selects(capsys: pytest.CaptureFixture[str]) -> None:
    code, [r] = demo(capsys, "--alpn", "h2,http/1.1")
    assert code == EXIT_OK
    assert r["client"]["alpn_protocol"] == r["server"]["alpn_protocol"] == "h2"


def test_sni_alt_localhost_selects_the_alt_certificate(capsys: pytest.CaptureFixture[str]) -> None:
    code, [r] = demo(capsys, "--sni", "alt.localhost", "--alpn", "http/1.1")
    assert code == EXIT_OK
    assert r["server"]["server_name"] == "alt.localhost"
    assert r["client"]["peer_subject"] == "O=ossl-handshake tests,CN=alt.localhost"
    assert r["server"]["alpn_protocol"] == "http/1.1"  # the alt context selects too


def test_sni_for_a_name_without_a_certificate_fails_verification(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, [r] = demo(capsys, "--sni", "other.localhost")
    assert code == EXIT_VERIFY
    assert r["failed_side"] == "client"
    assert r["error"]["class"] == "CertificateVerifyError"


def test_mtls_flag_shows_the_client_on_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    code, [r] = demo(capsys, "--mtls")
    assert code == EXIT_OK
    assert r["server"]["peer_subject"] == "O=ossl-handshake tests,CN=ossl-handshake test client"
    assert r["server"]["verify_result"] == 0


def test_mtls_with_an_untrusted_client_cert_fails_on_the_server(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, [r] = demo(
        capsys,
        "--mtls",
        "--client-cert",
        str(certs.UNTRUSTED_CLIENT.cert),
        "--client-key",
        str(certs.UNTRUSTED_CLIENT.key),
    )
    assert code == EXIT_VERIFY
    assert r["failed_side"] == "server"
    assert r["server"]["alert_sent"] == "unknown_ca"


@pytest.mark.parametrize("flags", [(), ("--tls", "1.2"), ("--tls", "1.2", "--no-tickets")])
def test_resume_shows_a_full_then_a_resumed_handshake(
    capsys: pytest.CaptureFixture[str], flags: tuple[str, ...]
) -> None:
    code, results = demo(capsys, "--resume", *flags)
    assert code == EXIT_OK
    assert [r["client"]["session_reused"] for r in results] == [False, True]
    assert [r["server"]["session_reused"] for r in results] == [False, True]


def test_resume_text_output_labels_both_handshakes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--resume", "--mtls", "--alpn", "h2"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "== full handshake ==" in out and "== resumed handshake ==" in out
    assert "reused=False" in out and "reused=True" in out
    assert "alpn=h2" in out


def test_empty_version_range_exits_with_the_tls_failure_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, [r] = demo(capsys, "--min-version", "1.3", "--max-version", "1.2")
    assert code == EXIT_TLS
    assert r["failed_side"] == "client"
    assert r["error"]["reasons"] == ["no protocols available"]
    assert r["client"]["alert_sent"] == NO_PROTOCOLS_ALERT


@pytest.mark.parametrize(
    "flags", [("--cipher", "NO-SUCH-CIPHER"), ("--group", "nope"), ("--tls", "9.9")]
)
def test_bad_configuration_values_are_usage_errors(
    capsys: pytest.CaptureFixture[str], flags: tuple[str, ...]
) -> None:
    assert main(["demo", *flags]) == EXIT_USAGE
    assert "ossl-handshake demo:" in capsys.readouterr().err


def test_text_summary_shows_hrr_and_the_server_signature(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--group", "P-256", "--key-type", "ed25519"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"group={group('secp256r1')}" in out
    assert "hrr=False" in out and "peer_sig=ED25519" in out


def test_rsa_chain_key_type_is_trusted_through_its_own_root(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, [r] = demo(capsys, "--key-type", "rsa-chain", "--sigalgs", "rsa_pss_rsae_sha256")
    assert code == EXIT_OK
    assert r["client"]["verify_result"] == 0  # the demo client trusts certs.RSA_CA for it
    assert r["client"]["peer_subject"] == "O=ossl-handshake tests,CN=localhost"
    assert r["client"]["peer_signature_algorithm"] == "RSASSA-PSS"
