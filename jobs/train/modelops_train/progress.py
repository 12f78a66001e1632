"""Progress of the job's phases with timings, on stderr (stdout carries only the result line)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    """Times each phase and reports `phase ... done in 0.42 s (detail)` as it ends."""

    def __init__(self, stream: TextIO | None = None, *, prefix: str = "modelops train") -> None:
        self._stream = stream
        self._prefix = prefix
        self.timings: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[list[str]]:
        """Yields a list the phase may append details to; they are printed with the timing."""
        details: list[str] = []
        start = time.perf_counter()
        try:
            yield details
        except BaseException:
            self._write(f"{name}: failed after {time.perf_counter() - start:.2f} s")
            raise
        finally:
            self.timings[name] = round(time.perf_counter() - start, 4)
        suffix = f" ({'; '.join(details)})" if details else ""
        self._write(f"{name}: done in {self.timings[name]:.2f} s{suffix}")

    def note(self, message: str) -> None:
        self._write(message)

    def _write(self, message: str) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        print(f"{self._prefix}: {message}", file=stream, flush=True)
