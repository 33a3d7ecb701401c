"""Key log lines as the wire's TLS 1.3 keys: :class:`KeyLog`.

A :class:`KeyLog` collects NSS key log lines (``SSLKEYLOGFILE`` format:
``LABEL <client random hex> <secret hex>``) from any mix of sources:

- our own connections: ``Context.set_keylog(keylog.add_line)``
  (``SSL_CTX_set_keylog_callback``), or ``KeyLog(trace=...)`` to read the
  lines a :class:`~ossl_handshake.observe.trace.Trace` collects;
- a file another program writes (a C program's ``SSLKEYLOGFILE``):
  ``KeyLog(path=...)`` reads it incrementally, only whole lines, each time a
  secret is asked for and not known yet.

It is a :class:`~ossl_handshake.wire.decrypt.TrafficKeys`: give it to
``Wire(keys=...)`` and the wire decrypts TLS 1.3 records with
:class:`~ossl_handshake.core.record_crypto.RecordCipher` (libcrypto through
our own cffi module). Only the TLS 1.3 labels are used
(``CLIENT_EARLY_TRAFFIC_SECRET``, ``CLIENT/SERVER_HANDSHAKE_TRAFFIC_SECRET``,
``CLIENT/SERVER_TRAFFIC_SECRET_0``); a TLS 1.2 ``CLIENT_RANDOM`` line is kept
(for pcap files) but the wire does not decrypt TLS 1.2.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ossl_handshake.core.record_crypto import RecordCipher, next_secret, suite

if TYPE_CHECKING:
    from ossl_handshake.observe.trace import Trace

_HEX = frozenset("0123456789abcdefABCDEF")


def parse_line(line: str) -> tuple[str, bytes, bytes] | None:
    """``(label, client_random, secret)`` of one key log line; None for comments and junk."""
    parts = line.strip().split()
    if len(parts) != 3 or parts[0].startswith("#"):
        return None
    label, random_hex, secret_hex = parts
    if not (set(random_hex) <= _HEX and set(secret_hex) <= _HEX) or len(random_hex) != 64:
        return None
    if len(secret_hex) % 2:
        return None
    return label, bytes.fromhex(random_hex), bytes.fromhex(secret_hex)


class KeyLog:
    """NSS key log lines, looked up by client random and label (see the module docstring).

    ``KeyLog(lines=(), *, path=None, trace=None)``. ``lines`` holds every
    line taken so far (in order, without duplicates).
    """

    def __init__(
        self,
        lines: Iterable[str] = (),
        *,
        path: str | os.PathLike[str] | None = None,
        trace: Trace | None = None,
    ) -> None:
        self.lines: list[str] = []
        self._secrets: dict[tuple[bytes, str], bytes] = {}
        self._ciphers: dict[tuple[bytes, int, str, int], RecordCipher] = {}
        self._path = os.fspath(path) if path is not None else None
        self._offset = 0
        self._partial = b""
        self._trace = trace
        self._trace_seen = 0
        for line in lines:
            self.add_line(line)

    def add_line(self, line: str) -> None:
        """Take one key log line (give this to ``Context.set_keylog``)."""
        if not isinstance(line, str):
            raise TypeError(f"a key log line is a str, not {type(line).__name__}")
        parsed = parse_line(line)
        if parsed is None:
            return
        label, random, secret = parsed
        if (random, label) not in self._secrets:
            self._secrets[random, label] = secret
            self.lines.append(line.strip())

    __call__ = add_line

    def refresh(self) -> None:
        """Read lines the followed file and trace gained since the last look."""
        if self._trace is not None:
            new = self._trace.keylog_lines[self._trace_seen :]
            self._trace_seen += len(new)
            for line in new:
                self.add_line(line)
        if self._path is not None:
            try:
                with open(self._path, "rb") as f:
                    f.seek(self._offset)
                    data = f.read()
            except FileNotFoundError:
                return  # not written yet
            self._offset += len(data)
            data = self._partial + data
            *whole, self._partial = data.split(b"\n")
            for raw in whole:
                self.add_line(raw.decode("ascii", "replace"))

    def secret(self, client_random: bytes, label: str) -> bytes | None:
        """The secret logged for ``label`` and ``client_random`` (None when not logged)."""
        key = (bytes(client_random), label)
        if key not in self._secrets:
            self.refresh()
        return self._secrets.get(key)

    def cipher(
        self, client_random: bytes, suite_code: int, label: str, generation: int
    ) -> RecordCipher | None:
        """The record cipher of ``label`` after ``generation`` KeyUpdates (TrafficKeys)."""
        ck = (bytes(client_random), suite_code, label, generation)
        found = self._ciphers.get(ck)
        if found is not None:
            return found
        s = suite(suite_code)
        secret = self.secret(client_random, label)
        if s is None or secret is None:
            return None
        for _ in range(generation):
            secret = next_secret(s, secret)
        cipher = self._ciphers[ck] = RecordCipher(s, secret)
        return cipher

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the lines taken so far (``SSLKEYLOGFILE`` format)."""
        with open(path, "w", encoding="ascii") as f:
            f.writelines(line + "\n" for line in self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def __repr__(self) -> str:
        src = f" following {self._path}" if self._path else ""
        return f"<KeyLog {len(self.lines)} lines{src}>"


__all__ = ["KeyLog", "parse_line"]
