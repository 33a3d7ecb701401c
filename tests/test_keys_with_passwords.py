"""Encrypted private keys: ``password=`` as str, bytes or a callable, and OpenSSL
never prompting on a terminal (without a password an encrypted key fails at once).

The encrypted key is made at test time from the bundled one
(``openssl pkey -aes256``), or skipped without the ``openssl`` command.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ossl_handshake import ConfigurationError, Context, Role, certs
from tests._contexts import client, run

pytestmark = pytest.mark.timeout(60)

PASSWORD = "s3cret-ü"


@pytest.fixture(scope="module")
def encrypted_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = shutil.which("openssl")
    if exe is None:
        pytest.skip("no openssl command to encrypt a key")
    out = tmp_path_factory.mktemp("keys") / "server-ecdsa.enc.key"
    args = ["pkey", "-aes256", "-passout", "env:KEY_PASSWORD", "-out", str(out)]
    subprocess.run(
        [exe, *args, "-in", str(certs.SERVER_ECDSA.key)],
        check=True,
        timeout=30,
        env={**os.environ, "KEY_PASSWORD": PASSWORD},
    )
    assert "ENCRYPTED" in out.read_text()
    return out


def _server(key: Path, password: object) -> Context:
    return Context(
        Role.SERVER,
        cert=certs.SERVER_ECDSA.cert,
        key=key,
        password=password,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "password",
    [PASSWORD, PASSWORD.encode(), lambda: PASSWORD, lambda: PASSWORD.encode()],
    ids=["str", "bytes", "callable-str", "callable-bytes"],
)
def test_encrypted_key_loads_with_its_password_and_serves(
    encrypted_key: Path, password: object
) -> None:
    result = run(client(), _server(encrypted_key, password))
    assert result.error is None
    assert result.client.verify_result == 0


def test_load_cert_chain_takes_a_password_too(encrypted_key: Path) -> None:
    ctx = Context(Role.SERVER)
    ctx.load_cert_chain(certs.SERVER_ECDSA.cert, encrypted_key, password=PASSWORD)
    assert run(client(), ctx).error is None


def test_wrong_password_is_a_configuration_error(encrypted_key: Path) -> None:
    with pytest.raises(ConfigurationError, match="wrong password") as info:
        _server(encrypted_key, "not it")
    assert info.value.operation == "SSL_CTX_use_PrivateKey_file"


def test_encrypted_key_without_password_says_to_pass_one(encrypted_key: Path) -> None:
    with pytest.raises(ConfigurationError, match="encrypted: pass password="):
        _server(encrypted_key, None)


def test_a_password_callable_is_not_called_for_a_plain_key() -> None:
    calls: list[int] = []

    def ask() -> str:
        calls.append(1)
        return "unused"

    _server(certs.SERVER_ECDSA.key, ask)
    assert calls == []


def test_a_password_of_the_wrong_type_is_a_type_error(encrypted_key: Path) -> None:
    with pytest.raises(TypeError):
        _server(encrypted_key, 1234)
    with pytest.raises(TypeError):
        _server(encrypted_key, lambda: 1234)


def test_password_without_a_key_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="password"):
        Context(Role.SERVER, password="x")


_CHILD = textwrap.dedent(
    """
    import os, sys
    os.close(os.open(os.ttyname(0), os.O_RDWR))  # the pty is now our controlling terminal
    assert os.isatty(0) and os.getsid(0) == os.getpid()
    from ossl_handshake import ConfigurationError, Context, Role, certs
    try:
        Context(Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=sys.argv[1])
    except ConfigurationError as exc:
        print("ConfigurationError:", exc)
    else:
        print("loaded")
    """
)


def test_encrypted_key_without_password_never_prompts_on_the_terminal(
    encrypted_key: Path,
) -> None:
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(encrypted_key)],
            stdin=slave,
            capture_output=True,
            text=True,
            start_new_session=True,  # setsid: no terminal but the pty
            timeout=30,  # a prompt would wait here for ever
        )
        typed = b""
        while select.select([master], [], [], 0)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            typed += chunk
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ConfigurationError:"), proc.stdout
    assert "encrypted" in proc.stdout
    assert b"pass phrase" not in typed.lower() and typed == b"", typed
