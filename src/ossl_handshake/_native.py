"""Load the compiled ``_ossl`` module and check the libssl it runs against.

The C code that embeds this binding and the binding itself must share one
libssl: two copies in one process mean two error queues, two ex_data index
spaces and objects that crash when passed across. We compare the OpenSSL the
module was compiled against with the one loaded at run time and refuse a
different major.minor (``OpenSSLMismatchError``); a different patch release
only warns. For a module built with ``OPENSSL_DIR`` we also compare *files*:
the libssl and libcrypto that the module's calls actually reach (``dladdr``,
glue/compat.c) must be the ones in the build's lib directory, because 3.5,
3.6 and the system's 3.0 all name theirs ``libssl.so.3`` and the dynamic
linker reuses whichever was mapped first (by ``import ssl`` or ``hashlib``).
"""

from __future__ import annotations

import os
import struct
import warnings
from typing import Any

__all__ = [
    "BUILD_VERSION",
    "RUNTIME_VERSION",
    "OpenSSLMismatchError",
    "check_loaded_files",
    "check_versions",
    "ffi",
    "lib",
]


class OpenSSLMismatchError(ImportError):
    """The libssl loaded at run time is not the major.minor we were compiled against."""


def _mapped_openssl() -> list[str]:
    """Paths of the libssl/libcrypto files mapped into this process (/proc/self/maps)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            paths = {ln.split(None, 5)[-1].strip() for ln in f if "/lib" in ln}
    except OSError:
        return []
    names = ("libssl.so", "libcrypto.so")
    return sorted(p for p in paths if os.path.basename(p).startswith(names))


def _elf_runpath(path: str) -> list[str]:
    """DT_RUNPATH/DT_RPATH of an ELF64 little-endian shared object ([] if none/unreadable)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            return []
        shoff, shentsize, shnum = (
            struct.unpack_from("<Q", data, 0x28)[0],
            *struct.unpack_from("<HH", data, 0x3A),
        )
        sections = [
            struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
        ]
        out: list[str] = []
        for sh in sections:
            if sh[1] != 6:  # SHT_DYNAMIC
                continue
            strtab = sections[sh[6]]
            for off in range(sh[4], sh[4] + sh[5], 16):
                tag, val = struct.unpack_from("<qQ", data, off)
                if tag in (15, 29):  # DT_RPATH, DT_RUNPATH
                    start = strtab[4] + val
                    out += data[start : data.index(b"\0", start)].decode().split(":")
        return out
    except (OSError, ValueError, IndexError, struct.error):
        return []


def _import_failure(exc: ImportError) -> ImportError:
    """One sentence on why ``_ossl`` did not load, saying what to do."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("ossl_handshake._ossl")
    except (ImportError, ValueError):
        spec = None
    origin = spec.origin if spec is not None else None
    if origin is None:
        return ImportError(
            "ossl_handshake._ossl is not built: install the package with pip "
            "(pip install -e . in a checkout) so that setup.py compiles the cffi module "
            f"against libssl ({exc})"
        )
    wanted = [
        d
        for d in _elf_runpath(origin)
        if d and os.path.isdir(d) and any(n.startswith("libssl.so") for n in os.listdir(d))
    ]
    mapped = _mapped_openssl()
    foreign = [
        p
        for p in mapped
        if os.path.dirname(os.path.realpath(p)) not in {os.path.realpath(d) for d in wanted}
    ]
    if wanted and foreign:
        return OpenSSLMismatchError(
            f"ossl_handshake._ossl was built against the OpenSSL in {wanted[0]}, but this "
            f"process had already loaded {', '.join(foreign)} (mapped before ossl_handshake, "
            "e.g. by import ssl or hashlib, and reused by its file name): run with "
            f"LD_LIBRARY_PATH={wanted[0]} or import ossl_handshake before ssl/hashlib "
            f"({exc})"
        )
    return ImportError(
        f"ossl_handshake._ossl ({origin}) could not be loaded against the libssl of this "
        f"process ({', '.join(mapped) or 'none mapped'}): rebuild it against that libssl "
        f"(OPENSSL_DIR) or run with the one it was built for on LD_LIBRARY_PATH ({exc})"
    )


try:
    from ossl_handshake._ossl import ffi, lib
except ImportError as exc:  # pragma: no cover - exercised only on broken installs
    raise _import_failure(exc) from exc


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


#: The lib directory of the OPENSSL_DIR build the module was compiled against ("" otherwise).
BUILD_LIBDIR: str = _text(lib.ossl_build_libdir())
#: The files of the libssl and libcrypto the module's calls reach (``dladdr``).
LOADED_FILES: tuple[str, str] = (_text(lib.ossl_loaded_path(0)), _text(lib.ossl_loaded_path(1)))


def check_loaded_files(build_libdir: str, loaded: tuple[str, ...], runtime_text: str) -> None:
    """Raise unless every loaded OpenSSL file is in ``build_libdir`` (when that is known)."""
    if not build_libdir:
        return
    want = os.path.realpath(build_libdir)
    wrong = [p for p in loaded if p and os.path.dirname(os.path.realpath(p)) != want]
    if wrong:
        raise OpenSSLMismatchError(
            f"ossl_handshake was built against the OpenSSL in {build_libdir}, but its calls "
            f"reach {', '.join(wrong)} ({runtime_text}), mapped earlier under the same file "
            f"name (e.g. by import ssl or hashlib): run with LD_LIBRARY_PATH={build_libdir} "
            "or import ossl_handshake before ssl/hashlib"
        )


check_loaded_files(BUILD_LIBDIR, LOADED_FILES, RUNTIME_VERSION_TEXT)
check_versions(BUILD_VERSION, RUNTIME_VERSION, RUNTIME_VERSION_TEXT)

if not lib.ossl_init():  # pragma: no cover - allocation failure at import
    raise ImportError("ossl_handshake: could not allocate SSL ex_data indexes")


def text(ptr: Any) -> str:
    """``ffi.string`` of a C string as ``str`` (``""`` for NULL)."""
    if ptr == ffi.NULL:
        return ""
    return _text(ptr)


#: What the OpenSSL we were compiled against can do, for symbols newer than
#: 1.1.1 (``_build/glue/compat.c`` stubs them out on older headers instead of failing the
#: build): ``negotiated_group`` (``SSL_get_negotiated_group``), ``want_retry_verify``
#: (``SSL_ERROR_WANT_RETRY_VERIFY``), ``ignore_unexpected_eof``
#: (``SSL_OP_IGNORE_UNEXPECTED_EOF``), ``error_function_names`` (``ERR_get_error_all``),
#: ``signature_type`` (``SSL_get_signature_type_nid``, 3.0), ``providers`` (``OSSL_LIB_CTX``,
#: ``OSSL_PROVIDER_load``, ``SSL_CTX_new_ex``, 3.0), ``async_status``
#: (``SSL_get_async_status``, 3.0).
FEATURES: dict[str, bool] = {
    "negotiated_group": bool(lib.OSSL_HAVE_NEGOTIATED_GROUP),
    "want_retry_verify": bool(lib.OSSL_HAVE_WANT_RETRY_VERIFY),
    "ignore_unexpected_eof": bool(lib.OSSL_HAVE_IGNORE_UNEXPECTED_EOF),
    "error_function_names": BUILD_VERSION >= 0x3000000,
    "signature_type": BUILD_VERSION >= 0x3000000,
    "retry_verify": bool(lib.OSSL_HAVE_RETRY_VERIFY),
    # SSL_OP_ALLOW_CLIENT_RENEGOTIATION (3.0): refuse client-initiated renegotiation alone.
    "client_renegotiation_option": BUILD_VERSION >= 0x3000000,
    "providers": bool(lib.OSSL_HAVE_PROVIDERS),
    "async_status": bool(lib.OSSL_HAVE_PROVIDERS),
}

#: ``SSL_OP_*`` bits that stand for options the linked OpenSSL lacks (glue/compat.c
#: gives each an unused bit, not 0): setting one raises instead of doing nothing.
UNAVAILABLE_OPTIONS: int = int(lib.ossl_options_unavailable())
