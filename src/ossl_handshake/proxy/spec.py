"""The fault-spec grammar of ``ossl-handshake proxy --fault`` and ``--policy``.

A spec names one :mod:`~ossl_handshake.wire.faults` object; it parses into
the same classes the in-process :class:`~ossl_handshake.wire.Wire` uses, and
:func:`fault_spec` writes any such fault back in the canonical form (so
``fault_spec(parse_fault(s))`` is ``s`` for a canonical ``s``)::

    SPEC   := KIND ":" SENDER (":" PARAM)*
    KIND   := drop | truncate | corrupt | duplicate | reorder | delay | inject | close
    SENDER := client | server | any        (close: client | server)
    PARAM  := KEY "=" VALUE | "optional"

Selector keys (every one given must match; all but ``close`` take them):
``record=N`` (0-based record index of the sender), ``flight=N``,
``type=NAME|N`` (content type: ``handshake``, ``alert``, ``application_data``,
``change_cipher_spec``), ``handshake=NAME`` (a plaintext handshake message,
case-insensitive: ``certificate``, ``serverhello``), ``encrypted=yes|no``.
``times=N|all`` (default 1) and ``optional`` (a fault that may not fire).

Per kind: ``truncate:bytes=N`` (keep N bytes, header included; default 5),
``corrupt:offset=N`` (default -1, the last byte) ``:xor=N`` (default 1, hex
as ``0x..``), ``delay:flights=N`` (default 1) ``:after=client|server``,
``inject:data=HEX`` (required) ``:where=before|after|instead`` (default
before), ``close:bytes=N`` (required) ``:flight=N`` (count from that flight).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ossl_handshake.tls.names import CONTENT_TYPES, HANDSHAKE_TYPES
from ossl_handshake.tls.roles import Role
from ossl_handshake.wire.faults import (
    CloseAfter,
    Corrupt,
    Delay,
    Drop,
    Duplicate,
    Fault,
    Inject,
    Reorder,
    Select,
    Truncate,
)
from ossl_handshake.wire.wire import (
    BYTES,
    FLIGHTS,
    RECORDS,
    Bytes,
    Coalesce,
    Flights,
    Policy,
    Records,
    Split,
)

GRAMMAR = "KIND:SENDER[:KEY=VALUE]... (e.g. corrupt:server:record=3)"

KINDS: dict[str, type[Fault]] = {
    "drop": Drop,
    "truncate": Truncate,
    "corrupt": Corrupt,
    "duplicate": Duplicate,
    "reorder": Reorder,
    "delay": Delay,
    "inject": Inject,
    "close": CloseAfter,
}
_KIND_OF = {cls: name for name, cls in KINDS.items()}
_SELECT_KEYS = ("record", "flight", "type", "handshake", "encrypted")
_PARAMS: dict[str, tuple[str, ...]] = {
    "truncate": ("bytes",),
    "corrupt": ("offset", "xor"),
    "delay": ("flights", "after"),
    "inject": ("data", "where"),
    "close": ("bytes", "flight"),
}
_HANDSHAKE_NAMES = {name.lower(): name for name in [*HANDSHAKE_TYPES.values(), "HelloRetryRequest"]}
_CONTENT_NAMES = set(CONTENT_TYPES.values())


class SpecError(ValueError):
    """A ``--fault`` or ``--policy`` spec that does not parse; the message says why."""


def _int(spec: str, key: str, value: str, *, minimum: int | None = None) -> int:
    try:
        n = int(value, 0)
    except ValueError:
        raise SpecError(f"{spec!r}: {key}={value!r} is not an integer") from None
    if minimum is not None and n < minimum:
        raise SpecError(f"{spec!r}: {key} must be >= {minimum}, not {n}")
    return n


def _role(spec: str, key: str, value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise SpecError(f"{spec!r}: {key} must be 'client' or 'server', not {value!r}") from None


def _select(spec: str, sender: Role | None, params: dict[str, str]) -> Select:
    kw: dict[str, Any] = {"direction": sender}
    if "record" in params:
        kw["record"] = _int(spec, "record", params["record"], minimum=0)
    if "flight" in params:
        kw["flight"] = _int(spec, "flight", params["flight"], minimum=0)
    if "type" in params:
        value = params["type"]
        if value.isdigit():
            kw["content_type"] = int(value)
        elif value in _CONTENT_NAMES:
            kw["content_type"] = value
        else:
            raise SpecError(
                f"{spec!r}: unknown content type {value!r}; one of {sorted(_CONTENT_NAMES)}"
            )
    if "handshake" in params:
        value = params["handshake"]
        name = _HANDSHAKE_NAMES.get(value.lower())
        if name is None:
            raise SpecError(f"{spec!r}: unknown handshake message {value!r} (e.g. certificate)")
        kw["handshake_type"] = name
    if "encrypted" in params:
        value = params["encrypted"]
        if value not in ("yes", "no"):
            raise SpecError(f"{spec!r}: encrypted must be 'yes' or 'no', not {value!r}")
        kw["encrypted"] = value == "yes"
    return Select(**kw)


def parse_fault(spec: str) -> Fault:
    """The fault a spec names (``corrupt:server:record=3`` → ``Corrupt(Select(...))``).

    Raises :class:`SpecError` (a ``ValueError``) for an unknown kind, sender
    or key, a repeated key, a malformed value, or a key the kind does not take.
    """
    if not isinstance(spec, str):
        raise TypeError(f"a fault spec is a str, not {type(spec).__name__}")
    parts = spec.split(":")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise SpecError(f"{spec!r}: expected {GRAMMAR}")
    kind, who, rest = parts[0].lower(), parts[1].lower(), parts[2:]
    if kind not in KINDS:
        raise SpecError(f"{spec!r}: unknown fault {kind!r}; one of {', '.join(KINDS)}")
    if who not in ("client", "server", "any"):
        raise SpecError(f"{spec!r}: the sender must be client, server or any, not {who!r}")
    sender = None if who == "any" else Role(who)
    params: dict[str, str] = {}
    optional = False
    for item in rest:
        if item == "optional":
            optional = True
            continue
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise SpecError(f"{spec!r}: {item!r} is not KEY=VALUE")
        if key in params:
            raise SpecError(f"{spec!r}: {key} given twice")
        params[key] = value
    own = _PARAMS.get(kind, ())
    allowed = set(own) | {"times"} | (set() if kind == "close" else set(_SELECT_KEYS))
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise SpecError(
            f"{spec!r}: {kind} takes no {', '.join(unknown)} (keys: {', '.join(sorted(allowed))})"
        )
    if kind == "close":
        return _close(spec, sender, params, optional)
    times: int | None = 1
    if "times" in params:
        times = (
            None if params["times"] == "all" else _int(spec, "times", params["times"], minimum=1)
        )
    select = _select(spec, sender, params)
    kw: dict[str, Any] = {"times": times, "optional": optional}
    try:
        return _BUILDERS[kind](spec, select, params, kw)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, SpecError):
            raise
        raise SpecError(f"{spec!r}: {exc}") from None


def _close(spec: str, sender: Role | None, params: dict[str, str], optional: bool) -> Fault:
    if sender is None:
        raise SpecError(f"{spec!r}: close needs a sender (client or server), not any")
    if "bytes" not in params:
        raise SpecError(f"{spec!r}: close needs bytes=N (bytes let through before the EOF)")
    if "times" in params:
        raise SpecError(f"{spec!r}: close fires once; it takes no times")
    nbytes = _int(spec, "bytes", params["bytes"], minimum=0)
    flight = _int(spec, "flight", params["flight"], minimum=0) if "flight" in params else None
    return CloseAfter(sender, nbytes, flight=flight, optional=optional)


def _build_truncate(spec: str, sel: Select, p: dict[str, str], kw: dict[str, Any]) -> Fault:
    at = _int(spec, "bytes", p["bytes"], minimum=0) if "bytes" in p else 5
    return Truncate(sel, at, **kw)


def _build_corrupt(spec: str, sel: Select, p: dict[str, str], kw: dict[str, Any]) -> Fault:
    offset = _int(spec, "offset", p["offset"]) if "offset" in p else -1
    xor = _int(spec, "xor", p["xor"]) if "xor" in p else 1
    return Corrupt(sel, offset, xor, **kw)


def _build_delay(spec: str, sel: Select, p: dict[str, str], kw: dict[str, Any]) -> Fault:
    flights = _int(spec, "flights", p["flights"], minimum=0) if "flights" in p else 1
    after = _role(spec, "after", p["after"]) if "after" in p else None
    return Delay(sel, flights, after, **kw)


def _build_inject(spec: str, sel: Select, p: dict[str, str], kw: dict[str, Any]) -> Fault:
    if "data" not in p:
        raise SpecError(f"{spec!r}: inject needs data=HEX (e.g. data=15030300020228)")
    try:
        data = bytes.fromhex(p["data"])
    except ValueError:
        raise SpecError(f"{spec!r}: data={p['data']!r} is not hex") from None
    where = p.get("where", "before")
    if where not in ("before", "after", "instead"):
        raise SpecError(f"{spec!r}: where must be before, after or instead, not {where!r}")
    return Inject(sel, data, where, **kw)  # type: ignore[arg-type]


_Builder = Callable[[str, Select, dict[str, str], dict[str, Any]], Fault]
_BUILDERS: dict[str, _Builder] = {
    "drop": lambda s, sel, p, kw: Drop(sel, **kw),
    "duplicate": lambda s, sel, p, kw: Duplicate(sel, **kw),
    "reorder": lambda s, sel, p, kw: Reorder(sel, **kw),
    "truncate": _build_truncate,
    "corrupt": _build_corrupt,
    "delay": _build_delay,
    "inject": _build_inject,
}


def fault_spec(fault: Fault) -> str:
    """The canonical spec of ``fault`` (defaults left out, keys in grammar order).

    Raises ``ValueError`` for a fault class the grammar has no name for (a
    user's own subclass) or a selector it cannot spell.
    """
    kind = _KIND_OF.get(type(fault))
    if kind is None:
        raise ValueError(f"no spec form for {type(fault).__name__}")
    if isinstance(fault, CloseAfter):
        parts = [kind, fault.direction.value, f"bytes={fault.nbytes}"]
        if fault.flight is not None:
            parts.append(f"flight={fault.flight}")
        if fault.optional:
            parts.append("optional")
        return ":".join(parts)
    sel = fault.select
    parts = [kind, sel.direction.value if sel.direction is not None else "any"]
    if sel.record is not None:
        parts.append(f"record={sel.record}")
    if sel.flight is not None:
        parts.append(f"flight={sel.flight}")
    if sel.content_type is not None:
        parts.append(f"type={sel.content_type}")
    if sel.handshake_type is not None:
        if sel.handshake_type.lower() not in _HANDSHAKE_NAMES:
            raise ValueError(f"no spec form for handshake_type={sel.handshake_type!r}")
        parts.append(f"handshake={sel.handshake_type}")
    if sel.encrypted is not None:
        parts.append(f"encrypted={'yes' if sel.encrypted else 'no'}")
    if isinstance(fault, Truncate) and fault.at != 5:
        parts.append(f"bytes={fault.at}")
    if isinstance(fault, Corrupt):
        if fault.offset != -1:
            parts.append(f"offset={fault.offset}")
        if fault.xor != 1:
            parts.append(f"xor=0x{fault.xor:02x}")
    if isinstance(fault, Delay):
        if fault.flights != 1:
            parts.append(f"flights={fault.flights}")
        if fault.after is not None:
            parts.append(f"after={fault.after.value}")
    if isinstance(fault, Inject):
        parts.append(f"data={fault.data.hex()}")
        if fault.where != "before":
            parts.append(f"where={fault.where}")
    if fault.times != 1:
        parts.append(f"times={'all' if fault.times is None else fault.times}")
    if fault.optional:
        parts.append("optional")
    return ":".join(parts)


def describe_fault(fault: Fault) -> str:
    """:func:`fault_spec` when the fault has one, else its ``repr`` (a user's own fault)."""
    try:
        return fault_spec(fault)
    except ValueError:
        return repr(fault)


POLICY_GRAMMAR = "flights | records | bytes | split=N[,N...] | coalesce[=N]"


def parse_policy(spec: str) -> Policy:
    """The delivery policy a ``--policy`` spec names (``split=5,9`` → ``Split(5, 9)``)."""
    name, eq, value = spec.partition("=")
    name = name.lower()
    simple: dict[str, Policy] = {"flights": FLIGHTS, "records": RECORDS, "bytes": BYTES}
    if name in simple and not eq:
        return simple[name]
    try:
        if name == "split" and value:
            return Split(*(int(v, 0) for v in value.split(",")))
        if name == "coalesce":
            return Coalesce(int(value, 0)) if eq else Coalesce()
    except ValueError as exc:
        raise SpecError(f"policy {spec!r}: {exc}") from None
    raise SpecError(f"policy {spec!r}: expected {POLICY_GRAMMAR}")


def policy_spec(policy: Policy) -> str:
    """The ``--policy`` spelling of ``policy`` (inverse of :func:`parse_policy`)."""
    if isinstance(policy, Split):
        return "split=" + ",".join(map(str, policy.offsets))
    if isinstance(policy, Coalesce):
        return f"coalesce={policy.flights}"
    for cls, name in ((Bytes, "bytes"), (Records, "records"), (Flights, "flights")):
        if isinstance(policy, cls):
            return name
    return repr(policy)


__all__ = [
    "GRAMMAR",
    "KINDS",
    "POLICY_GRAMMAR",
    "SpecError",
    "describe_fault",
    "fault_spec",
    "parse_fault",
    "parse_policy",
    "policy_spec",
]
