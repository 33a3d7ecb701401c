"""The loaded-library check: the libssl the module's calls reach is the one it was built for.

3.5, 3.6 and the system's 3.0 all name their libraries ``libssl.so.3``; a
copy mapped first (by ``import ssl``/``hashlib``) is reused by the dynamic
linker despite the module's rpath. The check compares files, not only
version numbers, and says in one sentence what to do.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ossl_handshake import _native
from ossl_handshake._native import OpenSSLMismatchError, check_loaded_files


def test_the_loaded_files_are_the_builds() -> None:
    ssl_file, crypto_file = _native.LOADED_FILES
    assert "libssl" in os.path.basename(ssl_file)
    assert "libcrypto" in os.path.basename(crypto_file)
    if _native.BUILD_LIBDIR:
        want = os.path.realpath(_native.BUILD_LIBDIR)
        assert os.path.dirname(os.path.realpath(ssl_file)) == want
        assert os.path.dirname(os.path.realpath(crypto_file)) == want


def test_a_library_from_elsewhere_is_refused_in_one_sentence() -> None:
    with pytest.raises(OpenSSLMismatchError) as info:
        check_loaded_files("/opt/ossl/lib", ("/usr/lib/libssl.so.3", ""), "OpenSSL 3.0.2")
    text = str(info.value)
    assert "/opt/ossl/lib" in text and "/usr/lib/libssl.so.3" in text
    assert "LD_LIBRARY_PATH=/opt/ossl/lib" in text and "\n" not in text
    check_loaded_files("", ("/usr/lib/libssl.so.3",), "x")  # no build dir known: nothing to say


def test_system_libssl_mapped_first_gives_the_clear_error() -> None:
    libdir = _native.BUILD_LIBDIR
    system = "/usr/lib/x86_64-linux-gnu/" + os.path.basename(_native.LOADED_FILES[0])
    if not libdir or not os.path.exists(system):
        pytest.skip("the build's libssl has no namesake in the system (nothing to confuse)")
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    code = "import ssl, hashlib\nimport ossl_handshake._native\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    if proc.returncode == 0:
        # Same soname, but the system copy happens to satisfy the module: then
        # the file check must have accepted only because the files agree.
        pytest.skip("the system libssl was not mapped before the module here")
    assert "OpenSSLMismatchError" in proc.stderr, proc.stderr
    assert f"LD_LIBRARY_PATH={libdir}" in proc.stderr
    assert "import ossl_handshake before ssl/hashlib" in proc.stderr
