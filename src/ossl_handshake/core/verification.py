"""Verification control: depth, flags (CRL checks, partial chains), purpose, host flags.

Each setting lives in the ``SSL_CTX``'s ``X509_VERIFY_PARAM``
(``SSL_CTX_get0_param``), which ``SSL_new`` copies into every ``SSL``; CRLs
go into the ``SSL_CTX``'s ``X509_STORE``, which connections share. So every
setter is *refused while in use* (docs/architecture.md, "Context setters").
The functions here run with the context's guard held.
"""

from __future__ import annotations

import enum
from typing import Any

from ossl_handshake._native import lib
from ossl_handshake.core.errors import ensure
from ossl_handshake.core.inputs import c_int

__all__ = ["HostFlags", "Purpose", "VerifyFlags", "as_flags"]

_ULONG_MAX = (1 << 64) - 1


class VerifyFlags(enum.IntFlag):
    """``X509_V_FLAG_*`` for ``X509_VERIFY_PARAM_set_flags`` (X509_VERIFY_PARAM_set_flags(3)).

    - ``CRL_CHECK``: check the leaf against a CRL of its issuer; no CRL for
      it fails with ``X509_V_ERR_UNABLE_TO_GET_CRL``.
    - ``CRL_CHECK_ALL``: with ``CRL_CHECK``, every certificate of the chain.
    - ``PARTIAL_CHAIN``: a trust anchor may be any certificate of the store,
      not only a self-signed root (an intermediate as anchor).
    - ``X509_STRICT``, ``TRUSTED_FIRST``, ``NO_CHECK_TIME``,
      ``IGNORE_CRITICAL``, ``CHECK_SS_SIGNATURE``: as in the man page.
    """

    NONE = 0
    CRL_CHECK = lib.X509_V_FLAG_CRL_CHECK
    CRL_CHECK_ALL = lib.X509_V_FLAG_CRL_CHECK_ALL
    PARTIAL_CHAIN = lib.X509_V_FLAG_PARTIAL_CHAIN
    X509_STRICT = lib.X509_V_FLAG_X509_STRICT
    TRUSTED_FIRST = lib.X509_V_FLAG_TRUSTED_FIRST
    NO_CHECK_TIME = lib.X509_V_FLAG_NO_CHECK_TIME
    IGNORE_CRITICAL = lib.X509_V_FLAG_IGNORE_CRITICAL
    CHECK_SS_SIGNATURE = lib.X509_V_FLAG_CHECK_SS_SIGNATURE


class HostFlags(enum.IntFlag):
    """``X509_CHECK_FLAG_*`` for ``X509_VERIFY_PARAM_set_hostflags`` (X509_check_host(3)).

    ``NO_PARTIAL_WILDCARDS`` refuses ``www*.example.com``-style wildcards;
    ``NO_WILDCARDS`` every wildcard; ``NEVER_CHECK_SUBJECT`` never falls back
    to the subject CN; ``ALWAYS_CHECK_SUBJECT`` checks it even with DNS SANs.
    """

    NONE = 0
    ALWAYS_CHECK_SUBJECT = lib.X509_CHECK_FLAG_ALWAYS_CHECK_SUBJECT
    NO_WILDCARDS = lib.X509_CHECK_FLAG_NO_WILDCARDS
    NO_PARTIAL_WILDCARDS = lib.X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS
    MULTI_LABEL_WILDCARDS = lib.X509_CHECK_FLAG_MULTI_LABEL_WILDCARDS
    SINGLE_LABEL_SUBDOMAINS = lib.X509_CHECK_FLAG_SINGLE_LABEL_SUBDOMAINS
    NEVER_CHECK_SUBJECT = lib.X509_CHECK_FLAG_NEVER_CHECK_SUBJECT


class Purpose(enum.IntEnum):
    """``X509_PURPOSE_*`` for ``SSL_CTX_set_purpose``: what the peer's certificate must be for.

    A server certificate without ``serverAuth`` fails ``SSL_SERVER`` with
    ``X509_V_ERR_INVALID_PURPOSE``; libssl's default is the role's (a client
    checks ``SSL_SERVER``).
    """

    SSL_CLIENT = lib.X509_PURPOSE_SSL_CLIENT
    SSL_SERVER = lib.X509_PURPOSE_SSL_SERVER
    NS_SSL_SERVER = lib.X509_PURPOSE_NS_SSL_SERVER
    SMIME_SIGN = lib.X509_PURPOSE_SMIME_SIGN
    SMIME_ENCRYPT = lib.X509_PURPOSE_SMIME_ENCRYPT
    CRL_SIGN = lib.X509_PURPOSE_CRL_SIGN
    ANY = lib.X509_PURPOSE_ANY
    OCSP_HELPER = lib.X509_PURPOSE_OCSP_HELPER


def as_flags(value: object, kind: type[enum.IntFlag], what: str) -> int:
    """An ``IntFlag`` member or a plain non-negative int (checked) as the C value."""
    if isinstance(value, kind):
        return int(value)
    return c_int(value, what, 0, _ULONG_MAX)


def set_depth(ctx: Any, depth: int) -> None:
    """``SSL_CTX_set_verify_depth``: at most ``depth`` intermediates between leaf and anchor."""
    lib.SSL_CTX_set_verify_depth(ctx, depth)


def set_flags(ctx: Any, flags: int) -> None:
    ensure(lib.X509_VERIFY_PARAM_set_flags, lib.SSL_CTX_get0_param(ctx), flags)


def clear_flags(ctx: Any, flags: int) -> None:
    ensure(lib.X509_VERIFY_PARAM_clear_flags, lib.SSL_CTX_get0_param(ctx), flags)


def get_flags(ctx: Any) -> VerifyFlags:
    bits = int(lib.X509_VERIFY_PARAM_get_flags(lib.SSL_CTX_get0_param(ctx)))
    known = 0
    for member in VerifyFlags:
        known |= int(member)
    return VerifyFlags(bits & known)


def set_host_flags(ctx: Any, flags: int) -> None:
    lib.X509_VERIFY_PARAM_set_hostflags(lib.SSL_CTX_get0_param(ctx), flags)


def get_host_flags(ctx: Any) -> HostFlags:
    return HostFlags(int(lib.X509_VERIFY_PARAM_get_hostflags(lib.SSL_CTX_get0_param(ctx))))


def set_purpose(ctx: Any, purpose: Purpose) -> None:
    ensure(lib.SSL_CTX_set_purpose, ctx, int(purpose), what=f"refused {purpose!r}")
