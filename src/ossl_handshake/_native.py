"""Load the compiled ``_ossl`` module and check the libssl it runs against.

The C code that embeds this binding and the binding itself must share one
libssl: two copies in one process mean two error queues, two ex_data index
spaces and objects that crash when passed across. We compare the OpenSSL the
module was compiled against with the one loaded at run time and refuse a
different major.minor (``OpenSSLMismatchError``); a different patch release
only warns.
"""

from __future__ import annotations

import warnings
from typing import Any

try:
    from ossl_handshake._ossl import ffi, lib
except ImportError as exc:  # pragma: no cover - exercised only on broken installs
    raise ImportError(
        "ossl_handshake._ossl is not built: install the package with pip "
        "(pip install -e . in a checkout) so that setup.py compiles the cffi module "
        f"against libssl ({exc})"
    ) from exc

__all__ = [
    "BUILD_VERSION",
    "RUNTIME_VERSION",
    "OpenSSLMismatchError",
    "check_versions",
    "ffi",
    "lib",
]


class OpenSSLMismatchError(ImportError):
    """The libssl loaded at run time is not the major.minor we were compiled against."""


def _text(ptr: Any) -> str:
    return str(ffi.string(ptr).decode("utf-8", "replace"))


#: ``OPENSSL_VERSION_NUMBER >> 4`` of the headers the module was compiled with (0xMNN00PP).
BUILD_VERSION: int = int(lib.OSSL_BUILD_VERSION_NUMBER)
#: ``OpenSSL_version_num() >> 4`` of the libcrypto actually loaded.
RUNTIME_VERSION: int = int(lib.OpenSSL_version_num()) >> 4
#: ``OpenSSL_version(OPENSSL_VERSION)`` of the loaded library, e.g. ``OpenSSL 3.0.19 27 Jan 2026``.
RUNTIME_VERSION_TEXT: str = _text(lib.OpenSSL_version(lib.OPENSSL_VERSION))


def _major_minor(v: int) -> tuple[int, int]:
    return (v >> 24) & 0xF, (v >> 16) & 0xFF


def check_versions(build: int, runtime: int, runtime_text: str) -> None:
    """The import-time check: raise on a different major.minor, warn on a different patch.

    ``build`` and ``runtime`` are ``0xMNN00PP`` numbers (``OPENSSL_VERSION_NUMBER
    >> 4`` at compile time, ``OpenSSL_version_num() >> 4`` at run time).
    """
    if _major_minor(build) != _major_minor(runtime):
        raise OpenSSLMismatchError(
            f"ossl_handshake was compiled against OpenSSL {build:#x} but "
            f"{runtime_text} is loaded; rebuild with OPENSSL_DIR pointing at the "
            "libssl this process uses"
        )
    if build != runtime:
        warnings.warn(
            f"ossl_handshake built against OpenSSL {build:#x}, running with {runtime_text}",
            RuntimeWarning,
            stacklevel=3,
        )


check_versions(BUILD_VERSION, RUNTIME_VERSION, RUNTIME_VERSION_TEXT)

if not lib.ossl_init():  # pragma: no cover - allocation failure at import
    raise ImportError("ossl_handshake: could not allocate SSL ex_data indexes")


def text(ptr: Any) -> str:
    """``ffi.string`` of a C string as ``str`` (``""`` for NULL)."""
    if ptr == ffi.NULL:
        return ""
    return _text(ptr)


#: What the OpenSSL we were compiled against can do, for symbols newer than
#: 1.1.1 (``_build/glue/compat.c`` stubs them out on older headers instead of failing the build):
#: ``negotiated_group`` (``SSL_get_negotiated_group``), ``want_retry_verify``
#: (``SSL_ERROR_WANT_RETRY_VERIFY``), ``ignore_unexpected_eof``
#: (``SSL_OP_IGNORE_UNEXPECTED_EOF``), ``error_function_names`` (``ERR_get_error_all``).
FEATURES: dict[str, bool] = {
    "negotiated_group": bool(lib.OSSL_HAVE_NEGOTIATED_GROUP),
    "want_retry_verify": bool(lib.OSSL_HAVE_WANT_RETRY_VERIFY),
    "ignore_unexpected_eof": bool(lib.OSSL_HAVE_IGNORE_UNEXPECTED_EOF),
    "error_function_names": BUILD_VERSION >= 0x3000000,
}
