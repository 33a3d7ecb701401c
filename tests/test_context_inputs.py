"""Strings and numbers a Context hands to C: a NUL would cut a C string short and
cffi's bare OverflowError says nothing, so both are refused before libssl sees them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ossl_handshake import Context, Role, certs
from ossl_handshake.core.constants import TLSVersion
from ossl_handshake.tls.alpn import decode_alpn, encode_alpn
from tests._contexts import client, server

pytestmark = pytest.mark.timeout(60)

NUL_STRINGS: dict[str, Callable[[Context], object]] = {
    "groups": lambda c: c.set_groups("X25519\0:nope"),
    "groups list": lambda c: c.set_groups(["X25519", "P-256\0"]),
    "sigalgs": lambda c: c.set_sigalgs("ECDSA+SHA256\0junk"),
    "ciphers": lambda c: c.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256\0:x"),
    "ciphersuites": lambda c: c.set_ciphersuites("TLS_AES_128_GCM_SHA256\0x"),
    "cafile": lambda c: c.load_verify_locations(str(certs.CA) + "\0.pem"),
    "cert": lambda c: c.load_cert_chain(str(certs.SERVER_ECDSA.cert) + "\0x"),
    "alpn": lambda c: c.set_alpn_protocols(["h2\0"]),
    "keylog path": lambda c: c.set_keylog("/tmp/keys\0.log"),
}


@pytest.mark.parametrize("what", sorted(NUL_STRINGS))
def test_a_nul_inside_a_string_for_c_is_a_value_error(what: str) -> None:
    with pytest.raises(ValueError, match="NUL"):
        NUL_STRINGS[what](client())


WRONG_TYPES: dict[str, Callable[[Context], object]] = {
    "groups int": lambda c: c.set_groups(5),  # type: ignore[arg-type]
    "groups bytes": lambda c: c.set_groups(b"X25519"),  # type: ignore[arg-type]
    "ciphers bytes": lambda c: c.set_ciphers(b"ALL"),  # type: ignore[arg-type]
    "sigalgs list of int": lambda c: c.set_sigalgs([1, 2]),  # type: ignore[list-item]
    "alpn of ints": lambda c: c.set_alpn_protocols([5]),  # type: ignore[list-item]
    "alpn one string": lambda c: c.set_alpn_protocols("h2"),
    "security_level bool": lambda c: setattr(c, "security_level", True),
    "security_level str": lambda c: setattr(c, "security_level", "2"),
    "num_tickets float": lambda c: setattr(c, "num_tickets", 1.0),
    "options str": lambda c: c.set_options("ALL"),  # type: ignore[arg-type]
    "session_cache bool": lambda c: setattr(c, "session_cache", True),
}


@pytest.mark.parametrize("what", sorted(WRONG_TYPES))
def test_a_value_of_the_wrong_type_is_a_type_error(what: str) -> None:
    with pytest.raises(TypeError):
        WRONG_TYPES[what](client())


OUT_OF_RANGE: dict[str, Callable[[Context], object]] = {
    "security_level 6": lambda c: setattr(c, "security_level", 6),
    "security_level -1": lambda c: setattr(c, "security_level", -1),
    "num_tickets negative": lambda c: setattr(c, "num_tickets", -1),
    "num_tickets 2**64": lambda c: setattr(c, "num_tickets", 2**64),
    "options 2**64": lambda c: c.set_options(2**64),
    "options negative": lambda c: c.clear_options(-1),
    "session_cache 2**63": lambda c: setattr(c, "session_cache", 2**63),
}


@pytest.mark.parametrize("what", sorted(OUT_OF_RANGE))
def test_an_out_of_range_number_is_a_value_error_not_an_overflow_error(what: str) -> None:
    with pytest.raises(ValueError) as info:
        OUT_OF_RANGE[what](client())
    assert not isinstance(info.value, OverflowError)


@pytest.mark.parametrize("value", [1.3, 1.2, None.__class__, b"1.3", [1, 3]])
def test_min_version_of_a_float_or_other_type_is_a_type_error_naming_the_forms(
    value: Any,
) -> None:
    with pytest.raises(TypeError, match=r"'1\.2'"):
        Context(Role.CLIENT, min_version=value)


def test_tls_version_parse_still_takes_its_forms() -> None:
    assert TLSVersion.parse("1.3") is TLSVersion.TLSv1_3
    assert TLSVersion.parse(0x0303) is TLSVersion.TLSv1_2
    assert TLSVersion.parse(TLSVersion.TLSv1_2) is TLSVersion.TLSv1_2
    with pytest.raises(ValueError):
        TLSVersion.parse(0x0305)
    with pytest.raises(TypeError):
        TLSVersion.parse(True)


def test_alpn_of_five_offers_no_nul_bytes_it_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        encode_alpn([5])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        server(alpn=[5])


def test_alpn_wire_list_round_trips() -> None:
    wire = encode_alpn(["h2", b"http/1.1"])
    assert wire == b"\x02h2\x08http/1.1"
    assert decode_alpn(wire) == [b"h2", b"http/1.1"]
    with pytest.raises(ValueError):
        decode_alpn(b"\x05h2")
    with pytest.raises(ValueError):
        encode_alpn([])
    with pytest.raises(ValueError):
        encode_alpn(["é"])


def test_valid_strings_and_numbers_are_still_accepted() -> None:
    ctx = server(
        groups=["X25519", "P-256"],
        sigalgs="ECDSA+SHA256:ed25519",
        ciphers="ECDHE-ECDSA-AES128-GCM-SHA256",
        ciphersuites="TLS_AES_128_GCM_SHA256",
        security_level=2,
        num_tickets=3,
    )
    assert ctx.security_level == 2
    assert ctx.num_tickets == 3
