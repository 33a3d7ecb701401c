"""The bundled test PKI (certs/) and ossl_handshake.certs, checked with the openssl CLI.

These tests do not use the cffi binding: only ``ossl_handshake.certs`` and the
``openssl`` command (``$OPENSSL`` or the one on PATH).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests._openssl import CLI_DN_EQ, VERIFY_TEXT


def _load_certs_module() -> ModuleType:
    try:
        from ossl_handshake import certs as module
    except ImportError:
        # The package __init__ may import the compiled binding, which is not needed
        # here (and may not be built yet): load the module file on its own.
        src = Path(__file__).resolve().parents[1] / "src" / "ossl_handshake" / "certs.py"
        spec = importlib.util.spec_from_file_location("_ossl_handshake_certs_standalone", src)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look the module up by name
        spec.loader.exec_module(module)
    return module


certs = _load_certs_module()

OPENSSL = os.environ.get("OPENSSL") or shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not available")

SERVERS = ["server-ecdsa", "server-rsa", "server-ed25519"]
GENERATED = {
    f"{stem}.{ext}"
    for stem in [
        "ca",
        "intermediate",
        "untrusted-ca",
        "rsa-ca",
        "rsa-intermediate",
        *certs.identities(),
    ]
    for ext in ["pem", "key"]
} | {"not-a-cert.pem", "mismatched.key"}


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run(
        [OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def ok(*args: str | Path) -> str:
    result = openssl(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def verify(cert: Path, *options: str | Path, cafile: Path | None = None) -> tuple[bool, str]:
    """Verify the first certificate of ``cert``; the rest of the file is untrusted input."""
    result = openssl("verify", "-CAfile", cafile or certs.CA, "-untrusted", cert, *options, cert)
    return result.returncode == 0, result.stdout + result.stderr


def cert_pubkey(cert: Path) -> str:
    return ok("x509", "-in", cert, "-noout", "-pubkey")


def key_pubkey(key: Path) -> str:
    return ok("pkey", "-in", key, "-pubout")


def text(cert: Path) -> str:
    return ok("x509", "-in", cert, "-noout", "-text")


def pem_blocks(cert: Path) -> int:
    return cert.read_text().count("-----BEGIN CERTIFICATE-----")


def test_every_bundled_identity_exists_and_key_matches_cert() -> None:
    ids = certs.identities()
    assert set(ids) == {
        *SERVERS,
        "server-rsa-chain",
        "sni-alt",
        "client",
        "client-rsa",
        "expired",
        "wrong-host",
        "untrusted-server",
        "untrusted-client",
    }
    roots = {
        "ca": certs.Identity(certs.CA, certs.DIR / "ca.key"),
        "intermediate": certs.Identity(certs.INTERMEDIATE, certs.DIR / "intermediate.key"),
        "untrusted-ca": certs.Identity(certs.UNTRUSTED_CA, certs.DIR / "untrusted-ca.key"),
        "rsa-ca": certs.Identity(certs.RSA_CA, certs.DIR / "rsa-ca.key"),
        "rsa-intermediate": certs.Identity(
            certs.RSA_INTERMEDIATE, certs.DIR / "rsa-intermediate.key"
        ),
    }
    for name, identity in {**ids, **roots}.items():
        assert isinstance(identity, certs.Identity)
        assert identity.cert.is_file(), name
        assert identity.key.is_file(), name
        assert cert_pubkey(identity.cert) == key_pubkey(identity.key), name


def test_module_constants_point_into_the_pki_directory() -> None:
    assert certs.CA == certs.DIR / "ca.pem"
    expected = certs.Identity(certs.DIR / "server-ecdsa.pem", certs.DIR / "server-ecdsa.key")
    assert expected == certs.SERVER_ECDSA
    assert certs.identities()["client-rsa"] is certs.CLIENT_RSA
    assert certs.identities() is not certs.identities()  # a fresh dict every time


def test_the_pki_directory_holds_exactly_the_generated_files() -> None:
    present = {p.name for p in certs.DIR.iterdir()}
    extras = {"gen.sh", "README.md", "openssl.cnf"}
    # certs/gen-ocsp-crl.sh and what it makes (test_ocsp.py, test_verification_control.py).
    extras |= {"gen-ocsp-crl.sh", "ocsp", "crl"}
    assert present - extras == GENERATED


def test_path_returns_existing_files_and_names_missing_ones() -> None:
    assert certs.path("ca.pem") == certs.CA
    assert certs.path("mismatched.key") == certs.MISMATCHED_KEY
    with pytest.raises(FileNotFoundError, match=r"no-such-file\.pem"):
        certs.path("no-such-file.pem")
    for bad in ["", "..", "../certs/ca.pem", "sub/ca.pem"]:
        with pytest.raises(ValueError):
            certs.path(bad)


def test_keys_are_unencrypted_pkcs8_pem() -> None:
    for key in sorted(certs.DIR.glob("*.key")):
        assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----\n"), key.name


def test_key_types_match_the_file_names() -> None:
    assert "ED25519" in text(certs.SERVER_ED25519.cert)
    for identity in [certs.SERVER_RSA, certs.CLIENT_RSA]:
        assert "Public-Key: (2048 bit)" in text(identity.cert)
        assert "rsaEncryption" in text(identity.cert)
    for identity in [certs.SERVER_ECDSA, certs.CLIENT, certs.SNI_ALT, certs.EXPIRED]:
        assert "NIST CURVE: P-256" in text(identity.cert)


def test_root_and_intermediate_are_cas() -> None:
    root = text(certs.CA)
    assert f"Subject: CN{CLI_DN_EQ}ossl-handshake Test Root CA" in root
    assert "CA:TRUE" in root
    assert "Certificate Sign, CRL Sign" in root
    assert "Subject Key Identifier" in root
    assert "CA:TRUE, pathlen:0" in text(certs.INTERMEDIATE)
    good, out = verify(certs.INTERMEDIATE)
    assert good, out


def test_server_chains_verify_against_the_root() -> None:
    for stem in SERVERS:
        identity = certs.identities()[stem]
        assert pem_blocks(identity.cert) == 2, "leaf followed by the intermediate"
        for check in [
            ("-verify_hostname", "localhost"),
            ("-verify_ip", "127.0.0.1"),
            ("-verify_ip", "::1"),
        ]:
            good, out = verify(identity.cert, "-x509_strict", "-purpose", "sslserver", *check)
            assert good, f"{stem} {check}: {out}"


def test_the_all_rsa_chain_is_rsa_signed_from_root_to_leaf() -> None:
    chain = certs.SERVER_RSA_CHAIN.cert
    assert pem_blocks(chain) == 2, "leaf followed by the RSA intermediate"
    for cert in [chain, certs.RSA_INTERMEDIATE, certs.RSA_CA]:
        assert "Public-Key: (2048 bit)" in text(cert), cert.name
        assert "Signature Algorithm: sha256WithRSAEncryption" in text(cert), cert.name
        assert "ecdsa" not in text(cert).lower(), cert.name
    assert "CA:TRUE, pathlen:0" in text(certs.RSA_INTERMEDIATE)
    good, out = verify(
        chain, "-x509_strict", "-purpose", "sslserver", "-verify_hostname", "localhost",
        cafile=certs.RSA_CA,
    )  # fmt: skip
    assert good, out
    # A separate hierarchy: the ECDSA root does not anchor it.
    good, out = verify(chain)
    assert not good, out


def test_client_chains_verify_for_client_auth_only() -> None:
    for identity in [certs.CLIENT, certs.CLIENT_RSA]:
        assert pem_blocks(identity.cert) == 2
        assert f"Subject: CN{CLI_DN_EQ}ossl-handshake test client" in text(identity.cert)
        good, out = verify(identity.cert, "-x509_strict", "-purpose", "sslclient")
        assert good, out
        good, out = verify(identity.cert, "-purpose", "sslserver")
        assert not good, out


def test_sni_alt_cert_is_for_alt_localhost_only() -> None:
    assert pem_blocks(certs.SNI_ALT.cert) == 2
    good, out = verify(certs.SNI_ALT.cert, "-verify_hostname", "alt.localhost")
    assert good, out
    good, out = verify(certs.SNI_ALT.cert, "-verify_hostname", "localhost")
    assert not good, out


def test_expired_cert_is_expired() -> None:
    assert pem_blocks(certs.EXPIRED.cert) == 2
    good, out = verify(certs.EXPIRED.cert)
    assert not good
    assert "certificate has expired" in out
    dates = ok("x509", "-in", certs.EXPIRED.cert, "-noout", "-enddate")
    assert "2020 GMT" in dates
    # Apart from the dates it is a valid localhost server certificate.
    good, out = verify(
        certs.EXPIRED.cert, "-attime", "1593561600", "-verify_hostname", "localhost"
    )  # 2020-07-01
    assert good, out


def test_wrong_host_cert_names_wrong_example() -> None:
    assert "DNS:wrong.example" in text(certs.WRONG_HOST.cert)
    assert "localhost" not in text(certs.WRONG_HOST.cert)
    good, out = verify(certs.WRONG_HOST.cert, "-verify_hostname", "wrong.example")
    assert good, out
    good, out = verify(certs.WRONG_HOST.cert, "-verify_hostname", "localhost")
    assert not good
    assert VERIFY_TEXT[62] in out


def test_untrusted_chain_does_not_verify_against_the_root() -> None:
    for identity in [certs.UNTRUSTED_SERVER, certs.UNTRUSTED_CLIENT]:
        good, out = verify(identity.cert)
        assert not good
        assert "unable to get local issuer certificate" in out
        good, out = verify(identity.cert, cafile=certs.UNTRUSTED_CA)
        assert good, out
    good, out = verify(certs.UNTRUSTED_CA)
    assert not good, out


def test_mismatched_key_matches_no_certificate() -> None:
    mismatched = key_pubkey(certs.MISMATCHED_KEY)
    for cert in sorted(certs.DIR.glob("*.pem")):
        if cert != certs.NOT_A_CERT:
            assert cert_pubkey(cert) != mismatched, cert.name


def test_not_a_cert_is_not_pem() -> None:
    assert "-----BEGIN" not in certs.NOT_A_CERT.read_text()
    assert openssl("x509", "-in", certs.NOT_A_CERT, "-noout").returncode != 0
