"""Paths to the bundled test PKI (certificates and private keys).

The files come from ``certs/gen.sh`` in the repository; an installed wheel carries a
copy in ``ossl_handshake/_pki/``. See ``certs/README.md`` for what each file is.

**These keys are for tests only, never use them for anything else.** They are
committed and shipped in clear text, so they are public.

The directory is looked up once, at import:

1. ``ossl_handshake/_pki/`` next to this module (an installed wheel), else
2. the repository's ``certs/`` directory (a source checkout or editable install),
   else
3. :class:`FileNotFoundError` is raised.

Nothing is read at import besides that existence check; the constants below are
plain paths and may point at files that are missing from a broken install (use
:func:`path` for a checked lookup).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CA",
    "CLIENT",
    "CLIENT_RSA",
    "CRL_CA",
    "CRL_INTERMEDIATE",
    "DIR",
    "EXPIRED",
    "INTERMEDIATE",
    "MISMATCHED_KEY",
    "NOT_A_CERT",
    "OCSP_EXPIRED",
    "OCSP_GOOD",
    "OCSP_REVOKED",
    "REVOKED_SERVER",
    "RSA_CA",
    "RSA_INTERMEDIATE",
    "SERVER_ECDSA",
    "SERVER_ED25519",
    "SERVER_RSA",
    "SERVER_RSA_CHAIN",
    "SNI_ALT",
    "UNTRUSTED_CA",
    "UNTRUSTED_CLIENT",
    "UNTRUSTED_SERVER",
    "WRONG_HOST",
    "Identity",
    "identities",
    "path",
]


@dataclass(frozen=True)
class Identity:
    """A certificate chain file and its private key.

    ``cert`` is a PEM file holding the leaf certificate followed by the
    intermediate (when there is one), suitable for
    ``SSL_CTX_use_certificate_chain_file``; ``key`` is the unencrypted PKCS#8 PEM
    private key. Test material only: never use these keys for anything else.
    """

    cert: Path
    key: Path


def _find_dir() -> Path:
    installed = Path(__file__).parent / "_pki"
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parents[2] / "certs"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        "ossl_handshake test PKI not found: looked for "
        f"{installed} (installed package) and {checkout} (source checkout); "
        "reinstall ossl-handshake or run `bash certs/gen.sh` in the repository"
    )


DIR: Path = _find_dir()
"""The directory holding the test PKI (test-only keys)."""


def _identity(stem: str) -> Identity:
    return Identity(cert=DIR / f"{stem}.pem", key=DIR / f"{stem}.key")


CA: Path = DIR / "ca.pem"
"""Root trust anchor, "ossl-handshake Test Root CA"."""
INTERMEDIATE: Path = DIR / "intermediate.pem"
"""Intermediate CA (signed by :data:`CA`) that issues every trusted leaf."""
RSA_CA: Path = DIR / "rsa-ca.pem"
"""Root of the all-RSA chain, "ossl-handshake Test RSA Root CA" (RSA-2048, self-signed)."""
RSA_INTERMEDIATE: Path = DIR / "rsa-intermediate.pem"
"""RSA-2048 intermediate CA signed by :data:`RSA_CA`; issues :data:`SERVER_RSA_CHAIN`."""
UNTRUSTED_CA: Path = DIR / "untrusted-ca.pem"
"""A separate self-signed root that nothing trusts by default."""

SERVER_ECDSA: Identity = _identity("server-ecdsa")
"""Server for localhost/127.0.0.1/::1, ECDSA P-256, chain with the intermediate."""
SERVER_RSA: Identity = _identity("server-rsa")
"""Server for localhost/127.0.0.1/::1, RSA-2048, chain with the intermediate."""
SERVER_RSA_CHAIN: Identity = _identity("server-rsa-chain")
"""Server for localhost/127.0.0.1/::1 whose whole chain is RSA (RSA-2048 leaf, chain with
:data:`RSA_INTERMEDIATE`, trust anchor :data:`RSA_CA`): for peers that accept only RSA
signatures on certificates. :data:`SERVER_RSA`'s issuers are ECDSA."""
SERVER_ED25519: Identity = _identity("server-ed25519")
"""Server for localhost/127.0.0.1/::1, Ed25519, chain with the intermediate."""
SNI_ALT: Identity = _identity("sni-alt")
"""Server for ``alt.localhost`` only (SNI certificate selection), ECDSA P-256."""
CLIENT: Identity = _identity("client")
"""Client certificate (clientAuth), ECDSA P-256, chain with the intermediate."""
CLIENT_RSA: Identity = _identity("client-rsa")
"""Client certificate (clientAuth), RSA-2048, chain with the intermediate."""
EXPIRED: Identity = _identity("expired")
"""Server for localhost whose validity ended on 2020-12-31."""
WRONG_HOST: Identity = _identity("wrong-host")
"""Trusted server certificate for ``wrong.example`` only."""
UNTRUSTED_SERVER: Identity = _identity("untrusted-server")
"""Server for localhost signed by :data:`UNTRUSTED_CA` (leaf only)."""
UNTRUSTED_CLIENT: Identity = _identity("untrusted-client")
"""Client certificate signed by :data:`UNTRUSTED_CA` (leaf only)."""

NOT_A_CERT: Path = DIR / "not-a-cert.pem"
"""A text file that is not PEM, for bad-input tests."""
MISMATCHED_KEY: Path = DIR / "mismatched.key"
"""A valid P-256 private key that matches none of the certificates."""

# From certs/gen-ocsp-crl.sh (run it after gen.sh): CRLs and OCSP responses
# signed by the CA keys above.
REVOKED_SERVER: Identity = Identity(
    cert=DIR / "crl" / "revoked-server.pem", key=DIR / "crl" / "revoked-server.key"
)
"""Server for localhost (chain with the intermediate) revoked by :data:`CRL_INTERMEDIATE`
and :data:`OCSP_REVOKED`."""
CRL_INTERMEDIATE: Path = DIR / "crl" / "intermediate.crl.pem"
"""The intermediate's CRL (PEM): revokes :data:`REVOKED_SERVER` (keyCompromise)."""
CRL_CA: Path = DIR / "crl" / "ca.crl.pem"
"""The root's CRL (PEM): revokes nothing (what ``CRL_CHECK_ALL`` also needs)."""
OCSP_GOOD: Path = DIR / "ocsp" / "good.der"
"""DER OCSPResponse by the intermediate: :data:`SERVER_ECDSA` is good (for 100 years)."""
OCSP_REVOKED: Path = DIR / "ocsp" / "revoked.der"
"""DER OCSPResponse by the intermediate: :data:`REVOKED_SERVER` is revoked."""
OCSP_EXPIRED: Path = DIR / "ocsp" / "expired.der"
"""DER OCSPResponse for :data:`SERVER_ECDSA` (good) whose nextUpdate has passed."""

_IDENTITIES: dict[str, Identity] = {
    "server-ecdsa": SERVER_ECDSA,
    "server-rsa": SERVER_RSA,
    "server-rsa-chain": SERVER_RSA_CHAIN,
    "server-ed25519": SERVER_ED25519,
    "sni-alt": SNI_ALT,
    "client": CLIENT,
    "client-rsa": CLIENT_RSA,
    "expired": EXPIRED,
    "wrong-host": WRONG_HOST,
    "untrusted-server": UNTRUSTED_SERVER,
    "untrusted-client": UNTRUSTED_CLIENT,
}


def path(name: str) -> Path:
    """Return ``DIR / name`` for a file of the test PKI, e.g. ``path("ca.pem")``.

    ``name`` must be a plain file name (no directory part), else :class:`ValueError`.
    Raises :class:`FileNotFoundError` naming the file if it does not exist.
    The keys are for tests only.
    """
    if not name or Path(name).name != name or name in {".", ".."}:
        raise ValueError(f"not a plain file name in the test PKI: {name!r}")
    candidate = DIR / name
    if not candidate.is_file():
        raise FileNotFoundError(f"test PKI file {name!r} not found in {DIR}")
    return candidate


def identities() -> dict[str, Identity]:
    """Return every bundled identity, keyed by its file stem (``"server-ecdsa"``, ...).

    A new dict on each call. The keys are for tests only.
    """
    return dict(_IDENTITIES)
