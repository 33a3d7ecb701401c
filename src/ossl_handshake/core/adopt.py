"""Taking over an ``SSL *`` that other code in this process created (``Connection.adopt``).

The pointer must come from the same libssl as this module: two copies of
libssl in one process have two error queues and two ex_data index spaces,
and an ``SSL`` made by one crashes the other. Only what can be told from the
value is checked (see ``inputs.as_pointer``); a freed pointer cannot be detected.
"""

from __future__ import annotations

from typing import Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.context import Context
from ossl_handshake.core.errors import SSLError, drain
from ossl_handshake.core.handles import connection_of, context_of
from ossl_handshake.core.inputs import as_pointer
from ossl_handshake.tls.roles import Role, as_role


def adoptee(pointer: Any, role: Role | str | None) -> tuple[Any, Role, Context]:
    """``(SSL *, role, Context)`` for a pointer to adopt, or a clear error.

    The role is ``SSL_is_server``'s; a ``role`` that disagrees is refused. The
    ``SSL_CTX`` is wrapped with :meth:`Context.adopt` unless a live
    :class:`Context` already owns it.
    """
    ptr = as_pointer(pointer, "SSL *")
    if connection_of(ptr) is not None:
        raise ValueError("this SSL * already belongs to a live Connection: use that object")
    ctx_ptr = lib.SSL_get_SSL_CTX(ptr)
    if ctx_ptr == ffi.NULL:
        raise ValueError("SSL * has no SSL_CTX: not a live SSL object")
    actual = Role.SERVER if lib.SSL_is_server(ptr) else Role.CLIENT
    r = as_role(role, actual)
    if r is not actual:
        raise ValueError(f"this SSL * is a {actual.value} (SSL_is_server says so), not a {r.value}")
    existing = context_of(ctx_ptr)
    context = existing if existing is not None else Context.adopt(ctx_ptr, r)
    return ptr, r, context


def take_reference(ptr: Any, state: Any, owned: bool) -> None:
    """Hold one reference to ``ptr`` (``SSL_up_ref`` unless ``owned``) and attach ``state``."""
    if not owned and lib.SSL_up_ref(ptr) != 1:
        raise SSLError("SSL_up_ref failed", errors=drain(), operation="SSL_up_ref")
    if not lib.ossl_attach_adopted(ptr, state):
        if not owned:
            lib.SSL_free(ptr)  # our up_ref only
        raise SSLError("SSL_set_ex_data failed", errors=drain(), operation="SSL_set_ex_data")
