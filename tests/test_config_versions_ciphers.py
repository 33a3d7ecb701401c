"""Protocol versions, TLS 1.2 cipher lists, TLS 1.3 suites, groups, sigalgs, security level."""

from __future__ import annotations

import pytest

from ossl_handshake import (
    ConfigurationError,
    ProtocolError,
    Role,
    TLSVersion,
    certs,
    handshake,
    memory_pair,
)
from tests._contexts import client, run, server
from tests._openssl import (
    BAD_GROUP_REASONS,
    DEFAULT_GROUP,
    LEGACY_REFUSED,
    group,
    own_signature,
)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_both_sides_report_the_pinned_version_and_the_same_cipher(version: str) -> None:
    result = run(client(min_version=version, max_version=version), server())
    assert result.ok
    for side in (result.client, result.server):
        assert side.version == f"TLSv{version}"
        assert side.cipher == result.client.cipher
        assert side.cipher_bits == 256
        # TLS 1.3's default group is the hybrid X25519MLKEM768 from 3.5.
        assert side.group == group("x25519" if version == "1.2" else DEFAULT_GROUP)


def test_version_bounds_read_back_from_the_context() -> None:
    ctx = client(min_version="1.2", max_version=TLSVersion.TLSv1_3)
    assert (ctx.min_version, ctx.max_version) == (TLSVersion.TLSv1_2, TLSVersion.TLSv1_3)
    ctx.max_version = None
    assert ctx.max_version is None


@pytest.mark.parametrize(("version", "label"), [("1.0", "TLSv1"), ("1.1", "TLSv1.1")])
def test_legacy_versions_negotiate_only_at_security_level_zero(version: str, label: str) -> None:
    legacy = {"min_version": version, "max_version": version, "ciphers": "DEFAULT@SECLEVEL=0"}
    result = run(client(**legacy), server(**legacy))
    assert result.ok
    assert result.client.version == result.server.version == label
    assert result.client.cipher == "ECDHE-ECDSA-AES256-SHA"
    # Above level 0 (pinned: the default differs by version) TLS 1.0/1.1 fail:
    # SHA-1 signatures are refused and they have nothing else (3.0), or the
    # client refuses the version itself (3.5+); see tests/_openssl.py.
    level, side, reasons = LEGACY_REFUSED
    pinned = {"min_version": version, "max_version": version, "security_level": level}
    failed = run(client(**pinned), server(**pinned))
    assert isinstance(failed.error, ProtocolError)
    assert failed.failed_side is Role(side)
    assert failed.error.reasons == reasons


def test_tls12_cipher_list_selects_the_configured_cipher() -> None:
    result = run(client(max_version="1.2", ciphers="ECDHE-ECDSA-CHACHA20-POLY1305"), server())
    assert result.ok
    assert result.server.cipher == "ECDHE-ECDSA-CHACHA20-POLY1305"
    assert result.client.cipher_bits == result.server.cipher_bits == 256


def test_tls13_ciphersuites_select_the_configured_suite() -> None:
    result = run(client(ciphersuites="TLS_AES_128_GCM_SHA256"), server())
    assert result.ok
    assert result.client.cipher == result.server.cipher == "TLS_AES_128_GCM_SHA256"
    assert result.server.cipher_bits == 128


def test_groups_list_selects_the_key_exchange_group() -> None:
    result = run(client(groups=["P-384", "X25519"]), server(groups="P-384:X25519"))
    assert result.ok
    assert result.client.group == result.server.group == group("secp384r1")
    assert not result.client.hello_retry_request


@pytest.mark.parametrize(
    ("max_version", "sigalgs", "kind", "digest"),
    [
        ("1.2", "RSA+SHA256", "rsaEncryption", "SHA256"),
        ("1.3", "rsa_pss_rsae_sha384", "RSASSA-PSS", "SHA384"),
    ],
)
def test_client_sigalgs_decide_the_server_signature(
    max_version: str, sigalgs: str, kind: str, digest: str
) -> None:
    c, s = memory_pair(
        client(max_version=max_version, sigalgs=sigalgs),
        server(certs.SERVER_RSA),
        server_name="localhost",
    )
    result = handshake(c, s)
    assert result.client.peer_signature_algorithm == kind
    assert result.server.signature_algorithm == own_signature(kind)
    assert c.peer_signature_digest == digest


@pytest.mark.parametrize(
    ("identity", "kind"),
    [(certs.SERVER_ECDSA, "id-ecPublicKey"), (certs.SERVER_ED25519, "ED25519")],
)
def test_client_sees_the_signature_type_of_the_server_key(
    identity: certs.Identity, kind: str
) -> None:
    result = run(client(), server(identity))
    assert result.client.peer_signature_algorithm == kind


def test_no_shared_tls12_cipher_fails_on_the_server_with_handshake_failure() -> None:
    result = run(
        client(max_version="1.2", ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"),
        server(max_version="1.2", ciphers="ECDHE-ECDSA-AES256-GCM-SHA384"),
    )
    err = result.error
    assert type(err) is ProtocolError
    assert result.failed_side is Role.SERVER and err.role is Role.SERVER
    assert err.reasons == ["no shared cipher"]
    assert err.alert_sent == "handshake_failure"
    assert result.client.alert_received == "handshake_failure"


@pytest.mark.parametrize(
    ("client_kw", "server_kw"),
    [
        ({"max_version": "1.2"}, {"min_version": "1.3"}),
        ({"min_version": "1.3"}, {"max_version": "1.2"}),
    ],
    ids=["client-too-old", "server-too-old"],
)
def test_no_shared_version_fails_with_protocol_version_alert(
    client_kw: dict[str, str], server_kw: dict[str, str]
) -> None:
    result = run(client(**client_kw), server(**server_kw))
    err = result.error
    assert type(err) is ProtocolError
    assert result.failed_side is Role.SERVER
    assert err.reasons == ["unsupported protocol"]
    assert err.alert_sent == "protocol_version"
    assert result.client.alert_received == "protocol_version"


def test_no_shared_group_fails_with_no_suitable_key_share() -> None:
    result = run(client(groups="P-384"), server(groups="X25519"))
    assert isinstance(result.error, ProtocolError)
    assert result.error.reasons == ["no suitable key share"]
    assert result.client.alert_received == "handshake_failure"


def test_security_level_4_refuses_a_p256_server_key() -> None:
    ctx = server(security_level=4)
    assert ctx.security_level == 4
    result = run(client(), ctx)
    assert isinstance(result.error, ProtocolError)
    assert result.failed_side is Role.SERVER
    assert result.error.reasons == ["no suitable signature algorithm"]
    assert result.client.alert_received == "handshake_failure"


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"ciphers": "NO-SUCH-CIPHER"}, ["no cipher match"]),
        ({"groups": "no-such-group"}, BAD_GROUP_REASONS),
    ],
)
def test_unknown_cipher_or_group_is_refused_at_configuration(
    kw: dict[str, str], reason: list[str]
) -> None:
    with pytest.raises(ConfigurationError) as info:
        client(**kw)
    assert info.value.reasons == reason


def test_security_level_outside_0_to_5_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"0\.\.5"):
        client(security_level=9)
