"""Argument types and flags the socket commands (``server``, ``client``, ``proxy``) share.

One place for each rule: a duration, a count, an address, the ready file a
script waits for, and the capture flags (``--trace``, ``--pcapng``,
``--keylog``). Each type raises ``argparse.ArgumentTypeError`` so a bad
value is a usage error (exit 2) naming the flag.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

from ossl_handshake.core.inputs import check_address


def seconds(text: str) -> float:
    """A duration in seconds: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
    return value


def at_least(minimum: int) -> Callable[[str], int]:
    """An argument type: a decimal integer >= ``minimum``."""

    def count(text: str) -> int:
        if not text.isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, not {text!r}")
        return int(text)

    return count


def address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) as ``(host, port)``: ``core.inputs.check_address``."""
    try:
        return check_address(text, "address")
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def write_ready_file(path: str, port: int) -> None:
    """Write ``<port>\\n`` to ``path`` atomically: a reader never sees a partial file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    Path(tmp).write_text(f"{port}\n", encoding="ascii")
    os.replace(tmp, path)


def add_capture_args(
    group: argparse._ActionsContainer, *, trace: str, pcapng: str, keylog: str
) -> None:
    """``--trace``, ``--pcapng FILE`` and ``--keylog FILE``, each with its command's help."""
    group.add_argument("--trace", action="store_true", help=trace)
    group.add_argument("--pcapng", metavar="FILE", help=pcapng)
    group.add_argument("--keylog", metavar="FILE", help=keylog)


__all__ = ["add_capture_args", "address", "at_least", "seconds", "write_ready_file"]
