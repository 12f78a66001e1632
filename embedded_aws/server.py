"""moto's server on 127.0.0.1 on a free port: embedded AWS for the demo and integration tests."""

from __future__ import annotations

import json
import logging
import os
import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer

from modelops.aws import LOCAL_CREDENTIALS, LOCAL_REGION

# The one definition of fake credentials is modelops.aws's; embedded AWS always uses them.
FAKE_CREDENTIALS = {
    **LOCAL_CREDENTIALS,
    "AWS_DEFAULT_REGION": LOCAL_REGION,
    "AWS_REGION": LOCAL_REGION,
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def configure_moto(endpoint: str) -> None:
    """Settings moto needs for this project: Batch must not try to start Docker containers."""
    req = urllib.request.Request(
        f"{endpoint}/moto-api/config",
        data=json.dumps({"batch": {"use_docker": False}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


@contextmanager
def embedded_aws(*, set_environment: bool = True) -> Iterator[str]:
    """Start moto's server; yield its endpoint URL. With set_environment, every boto3 client
    created meanwhile reaches it through AWS_ENDPOINT_URL and fake credentials."""
    port = free_port()
    # moto's server (werkzeug) logs every request at INFO; keep the caller's output readable
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in [*FAKE_CREDENTIALS, "AWS_ENDPOINT_URL", "AWS_PROFILE"]}
    try:
        configure_moto(endpoint)
        if set_environment:
            os.environ.update(FAKE_CREDENTIALS)
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            os.environ.pop("AWS_PROFILE", None)
        yield endpoint
    finally:
        if set_environment:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        server.stop()
