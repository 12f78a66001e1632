"""Failing dependencies on 127.0.0.1, for pointing AWS_ENDPOINT_URL (or a client) at.

- `refused_endpoint()`: a port nothing listens on (connections are refused at once).
- `FaultyEndpoint`: a local TCP endpoint in one of three modes, switchable while it runs:
  "forward" relays to a real endpoint (moto's server), "black-hole" accepts connections and
  never answers (a hung dependency), "refuse" accepts and resets at once.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

FORWARD = "forward"
BLACK_HOLE = "black-hole"
REFUSE = "refuse"


def refused_endpoint() -> str:
    """A URL whose port nothing listens on: bind a free port, then release it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FaultyEndpoint:
    def __init__(self, upstream: str | None = None, *, mode: str = BLACK_HOLE) -> None:
        self.mode = mode
        self._upstream = urlsplit(upstream) if upstream else None
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._relayed: list[socket.socket] = []
        self._stopping = threading.Event()
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def set_mode(self, mode: str) -> None:
        """Switch mode; connections held by a black hole are dropped when leaving it."""
        self.mode = mode
        if mode != BLACK_HOLE:
            self._drop_held()
        if mode != FORWARD:
            # Pooled keep-alive connections must see the fault too, not only new ones.
            relayed, self._relayed = self._relayed, []
            for conn in relayed:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=2)
        self._drop_held()
        self._server.close()

    def __enter__(self) -> FaultyEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drop_held(self) -> None:
        held, self._held = self._held, []
        for conn in held:
            with contextlib.suppress(OSError):
                conn.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            if self.mode == BLACK_HOLE:
                self._held.append(conn)  # accepted, read from by nobody, never answered
            elif self.mode == REFUSE:
                # SO_LINGER 0: close with a reset, as a crashed or refusing service does.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                self._relayed.append(conn)
                threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        assert self._upstream is not None, "forward mode needs an upstream"
        host, port = self._upstream.hostname or "127.0.0.1", self._upstream.port or 80
        with conn, socket.create_connection((host, port)) as upstream:
            pumps = [
                threading.Thread(target=_pump, args=(conn, upstream), daemon=True),
                threading.Thread(target=_pump, args=(upstream, conn), daemon=True),
            ]
            for pump in pumps:
                pump.start()
            for pump in pumps:
                pump.join()


def _pump(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def faulty_endpoint(
    upstream: str | None = None, *, mode: str = BLACK_HOLE
) -> Iterator[FaultyEndpoint]:
    with FaultyEndpoint(upstream, mode=mode) as endpoint:
        yield endpoint
