"""``adopt`` refuses an ``SSL *``/``SSL_CTX *`` made by another libssl instead of crashing.

The C library under test is built here against an OpenSSL from the
``make test-openssl`` cache whose libssl has another file name than the one
the binding uses (two copies of libssl in one process: an object of one
crashes the other, e.g. in ``SSL_get_ex_data``).
"""

from __future__ import annotations

import ctypes
import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ossl_handshake import Connection, Context
from ossl_handshake._native import LOADED_FILES

CACHE = os.environ.get("OSSL_CACHE", "/var/cache/ossl-handshake")
SSLMAKER = Path(__file__).resolve().parent / "c" / "sslmaker.c"


def _foreign_openssl() -> str | None:
    ours = os.path.basename(LOADED_FILES[0])
    for prefix in sorted(glob.glob(f"{CACHE}/openssl-*")):
        if not os.path.exists(f"{prefix}/.complete"):
            continue
        libs = [os.path.basename(p) for p in glob.glob(f"{prefix}/lib/libssl.so.*")]
        if libs and ours not in libs:
            return prefix
    return None


@pytest.fixture(scope="module")
def foreign_maker(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    prefix = _foreign_openssl()
    if prefix is None or shutil.which("cc") is None:
        pytest.skip(f"no OpenSSL build with another libssl name than {LOADED_FILES[0]} in {CACHE}")
    out = tmp_path_factory.mktemp("foreign") / "libsslmaker-foreign.so"
    subprocess.run(
        [
            "cc",
            "-O2",
            "-shared",
            "-fPIC",
            f"-I{prefix}/include",
            "-o",
            str(out),
            str(SSLMAKER),
            f"-L{prefix}/lib",
            f"-Wl,-rpath,{prefix}/lib",
            "-lssl",
            "-lcrypto",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    lib = ctypes.CDLL(str(out))
    lib.sslmaker_ctx_new.restype = ctypes.c_void_p
    lib.sslmaker_ctx_new.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
    ]
    lib.sslmaker_ssl_new.restype = ctypes.c_void_p
    lib.sslmaker_ssl_new.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p]
    return lib


def test_an_ssl_from_another_libssl_is_refused_with_both_files_named(
    foreign_maker: ctypes.CDLL,
) -> None:
    ctx = foreign_maker.sslmaker_ctx_new(0, None, None, None)
    ssl = foreign_maker.sslmaker_ssl_new(ctx, 0, b"localhost")
    assert ctx and ssl
    with pytest.raises(ValueError, match=r"was made by .*libssl.* not by") as info:
        Connection.adopt(ssl)
    assert LOADED_FILES[0] in str(info.value) and "OPENSSL_DIR" in str(info.value)
    with pytest.raises(ValueError, match=r"SSL_CTX \* was made by"):
        Context.adopt(ctx, "client")


def test_our_own_objects_are_recognised_as_ours() -> None:
    from ossl_handshake._native import lib, text

    ctx = Context("client")
    conn = Connection(ctx, server_name="localhost")
    for ptr in (ctx.ptr, conn.ptr):
        assert os.path.realpath(text(lib.ossl_object_libssl(ptr))) == os.path.realpath(
            LOADED_FILES[0]
        )
