"""What one probe's HTTP exchange gives back, and its body read with a cap.

``probes.wire`` does the exchange (a fresh connection per probe); this module holds the plain
record it returns and ``CappedBody``, which counts raw bytes and inflates compressed answers
with a bounded buffer, so a target that answers a gigabyte, or a gzip bomb, costs us kilobytes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

# gzip or zlib header, auto-detected.
ZLIB_AUTO_WBITS = 32 + zlib.MAX_WBITS


@dataclass(frozen=True)
class Exchange:
    """What one HTTP request gave back, before any verdict."""

    status_code: int | None  # None when no answer came
    body: bytes | None  # the body, at most the cap; None when not read
    latency_ms: float | None  # connect to last byte read, monotonic clock; None when no answer
    error: str | None = None  # a transport outcome (timeout, connect_error, ...) or None
    error_detail: str | None = None  # short and fixed wording, never exception text
    connect_ms: float | None = None  # the part of latency_ms spent connecting (DNS, TCP, TLS)
    # perf_counter at the start of the connect: the origin of latency_ms (and of a stream's
    # TTFT, whose chunk times are on the same clock); None when no connect was tried.
    started_s: float | None = None


class CappedBody:
    """A body read up to a cap, inflated (gzip, deflate) with a bounded buffer as it arrives.

    Raw bytes are counted as they arrive and inflating is bounded, so neither a huge body nor a
    compression bomb can make us hold more than about the cap. ``add`` says when to stop.
    """

    def __init__(self, cap_bytes: int) -> None:
        self.cap = cap_bytes
        self.parts: list[bytes] = []
        self.size = 0  # inflated bytes kept
        self.raw_size = 0  # bytes received
        self.cut = False
        self._inflater: zlib._Decompress | None = None

    def set_encoding(self, encoding: str) -> bool:
        """Prepare for a content-encoding; False for one we cannot decode."""
        encoding = encoding.strip().lower()
        if encoding in ("gzip", "deflate", "x-gzip"):
            self._inflater = zlib.decompressobj(ZLIB_AUTO_WBITS)
            return True
        return encoding in ("", "identity")

    def add(self, chunk: bytes) -> bool:
        """Take a chunk of raw body; True when the body went over the cap (stop reading).

        zlib.error for a corrupt compressed body.
        """
        self.raw_size += len(chunk)
        if self.raw_size > self.cap:
            self.cut = True
            return True
        if self._inflater is not None:
            chunk = self._inflater.decompress(chunk, self.cap + 1 - self.size)
            if self._inflater.unconsumed_tail:
                self.cut = True
                return True
        self.size += len(chunk)
        if self.size > self.cap:
            self.cut = True
            return True
        self.parts.append(chunk)
        return False

    def value(self) -> bytes:
        return b"".join(self.parts)
