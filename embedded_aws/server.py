"""moto's server on 127.0.0.1 on a free port: embedded AWS for the demo and integration tests.

moto's own WSGI application, served by werkzeug as moto's ThreadedMotoServer serves it, with
LambdaBridge in front so that Lambda's Invoke runs the stack's functions (lambda_bridge), and
Step Functions executing state machine definitions (moto's interpreter, docs/LOCAL.md)."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from embedded_aws.lambda_bridge import LambdaBridge
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


# Batch must not try to start Docker containers; state machines run their definitions.
MOTO_CONFIG = {"batch": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}}


class EmbeddedServer:
    """moto's WSGI app behind LambdaBridge, on a werkzeug thread (as ThreadedMotoServer)."""

    def __init__(self, ip_address: str, port: int) -> None:
        app = LambdaBridge(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer = make_server(
            ip_address, port, app, True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()


def configure_moto(endpoint: str) -> None:
    """Settings moto needs for this project (MOTO_CONFIG)."""
    req = urllib.request.Request(
        f"{endpoint}/moto-api/config",
        data=json.dumps(MOTO_CONFIG).encode(),
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
    server = EmbeddedServer("127.0.0.1", port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {
        k: os.environ.get(k)
        for k in [*FAKE_CREDENTIALS, "AWS_ENDPOINT_URL", "AWS_PROFILE", "MOTO_PORT"]
    }
    try:
        # moto's Step Functions interpreter calls services (S3, Lambda) at localhost:MOTO_PORT.
        os.environ["MOTO_PORT"] = str(port)
        configure_moto(endpoint)
        if set_environment:
            os.environ.update(FAKE_CREDENTIALS)
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            os.environ.pop("AWS_PROFILE", None)
        yield endpoint
    finally:
        restored = saved if set_environment else {"MOTO_PORT": saved["MOTO_PORT"]}
        for key, value in restored.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()
