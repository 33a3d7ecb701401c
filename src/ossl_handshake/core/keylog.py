"""Where key log lines go: a path (one append per line), a text stream, or a callable.

A writer does not depend on the :class:`~ossl_handshake.Context` it was set
on staying open: connections keep the writer of the context they were made
from (docs/architecture.md, "Context setters").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TextIO

PathLike = str | os.PathLike[str]
KeylogTarget = PathLike | Callable[[str], None] | TextIO


class AppendLines:
    """Key log writer for a path: each line appended with its own open/close."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, line: str) -> None:
        with open(self.path, "a", encoding="ascii") as f:
            f.write(line + "\n")


class StreamLines:
    """Key log writer for a text stream the caller owns."""

    __slots__ = ("stream",)

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


def keylog_from_env(opt_in: bool) -> str | None:
    """The ``SSLKEYLOGFILE`` path, honoured only when the caller opts in."""
    return os.environ.get("SSLKEYLOGFILE") if opt_in else None
