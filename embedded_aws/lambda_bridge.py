"""Lambda's Invoke API for the stack's own functions, on embedded AWS.

moto's Lambda stores functions but runs their code only in Docker, which local runs do not
have. Step Functions' interpreter in moto (state machines run their real definition files)
and functions that invoke other functions (the batch-scoring worker calls PredictFunction's
direct door) both call Lambda's Invoke API over HTTP. LambdaBridge is a WSGI middleware in
front of moto's server that answers Invoke for the functions registered with
`serve_functions`, by running their handlers; every other request goes to moto unchanged.

Each function runs in a process of its own, as each function has its own execution
environment on Lambda: its environment variables are set once, its module-level code runs
once (the cold start), and a function invoking another one cannot deadlock on the
process-wide environment that in-process functions share (embedded_aws.lambda_runtime).
Invocations of one function run one at a time, like requests to one execution environment.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from embedded_aws.provision import LocalStack
from embedded_aws.template import REPO_ROOT, load_template

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
# Lambda refuses synchronous request payloads above 6 MB (RequestTooLargeException, 413).
MAX_REQUEST_BYTES = 6 * 1024 * 1024
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def host_main() -> None:
    """A function's process (`python -c ...host_main()`): its configuration comes on stdin,
    invocations over a local socket, so the handler's own prints (its logs) go to stdout."""
    config = json.loads(sys.stdin.read())
    os.environ.update(config["env"])
    from embedded_aws.lambda_runtime import LocalFunction

    function = LocalFunction(
        config["logical_id"],
        config["env"],
        refs=config["refs"],
        name=config["name"],
        arn=config["arn"],
    )
    conn = Client(config["address"], authkey=bytes.fromhex(config["authkey"]))
    while True:
        try:
            payload = conn.recv_bytes()
        except EOFError:
            return
        try:
            event = json.loads(payload) if payload else {}
            result = function.invoke(event)
            conn.send_bytes(b"0" + json.dumps(result, default=str).encode())
        except Exception as exc:  # reported as Lambda reports a handler error
            error = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc),
            }
            conn.send_bytes(b"1" + json.dumps(error).encode())


class FunctionProcess:
    """One function's execution environment, started at its first invocation."""

    def __init__(
        self, logical_id: str, env: Mapping[str, str], refs: Mapping[str, Any], name: str, arn: str
    ) -> None:
        self.logical_id, self.name, self.arn = logical_id, name, arn
        self._config = {
            "logical_id": logical_id,
            "env": dict(env),
            "refs": dict(refs),
            "name": name,
            "arn": arn,
        }
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def _start(self) -> Connection:
        # A fresh interpreter, as Lambda starts one (a fork would copy moto's server threads).
        authkey = secrets.token_bytes(16)
        with tempfile.TemporaryDirectory(prefix="lambda-") as folder:
            address = str(Path(folder) / "invoke.sock")
            with Listener(address, family="AF_UNIX", authkey=authkey) as listener:
                self._process = subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        "from embedded_aws.lambda_bridge import host_main; host_main()",
                    ],
                    stdin=subprocess.PIPE,
                    cwd=str(REPO_ROOT),
                )
                assert self._process.stdin is not None
                config = {**self._config, "address": address, "authkey": authkey.hex()}
                self._process.stdin.write(json.dumps(config, default=str).encode())
                self._process.stdin.close()
                return listener.accept()

    def invoke(self, payload: bytes) -> tuple[bytes, str | None]:
        """The handler's JSON result, and Lambda's function-error marker when it raised."""
        with self._lock:
            if self._conn is None:
                self._conn = self._start()
            try:
                self._conn.send_bytes(payload)
                answer = self._conn.recv_bytes()
            except (EOFError, OSError):
                self._conn = None  # the process died: the next invocation starts a new one
                error = {"errorType": "Runtime.ExitError", "errorMessage": f"{self.name} exited"}
                return json.dumps(error).encode(), "Unhandled"
            return answer[1:], ("Unhandled" if answer[:1] == b"1" else None)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._process is not None:
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
                self._process = None


# Every embedded server of this process serves moto's one in-process state, so the registry
# of functions is process-wide too.
_FUNCTIONS: dict[str, FunctionProcess] = {}
_REGISTRY_LOCK = threading.Lock()


def function_name(name_or_arn: str) -> str:
    """Lambda's FunctionName forms (name, name:qualifier, ARN, ARN:qualifier) to the name."""
    text = unquote(name_or_arn)
    if text.startswith("arn:"):
        parts = text.split(":")
        return parts[6] if len(parts) > 6 else text
    return text.split(":", 1)[0]


def lookup(name_or_arn: str) -> FunctionProcess | None:
    with _REGISTRY_LOCK:
        return _FUNCTIONS.get(function_name(name_or_arn))


@contextmanager
def serve_functions(
    stack: LocalStack, logical_ids: Iterable[str] | None = None
) -> Iterator[dict[str, FunctionProcess]]:
    """Answer Invoke for the stack's functions (all of template.yaml's, or `logical_ids`)
    while the context lasts; their processes end with it."""
    doc = load_template()
    ids = (
        list(logical_ids)
        if logical_ids is not None
        else [k for k, r in doc["Resources"].items() if r["Type"] in FUNCTION_TYPES]
    )
    served: dict[str, FunctionProcess] = {}
    for logical_id in ids:
        env = stack.function_environment(logical_id)
        if stack.endpoint_url:
            env["AWS_ENDPOINT_URL"] = stack.endpoint_url
        name = stack.ref(logical_id)
        arn = str(stack.refs.get(f"{logical_id}.Arn", name))
        served[logical_id] = FunctionProcess(logical_id, env, stack.refs, name, arn)
    with _REGISTRY_LOCK:
        taken = [p.name for p in served.values() if p.name in _FUNCTIONS]
        if taken:
            raise RuntimeError(f"functions already served in this process: {taken}")
        _FUNCTIONS.update({p.name: p for p in served.values()})
    try:
        yield served
    finally:
        with _REGISTRY_LOCK:
            for process in served.values():
                _FUNCTIONS.pop(process.name, None)
        for process in served.values():
            process.close()


class LambdaBridge:
    """WSGI middleware: Invoke of a served function runs it; anything else goes to `app`."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        match = INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if match and environ.get("REQUEST_METHOD") == "POST":
            function = lookup(match["name"])
            if function is not None:
                return self._invoke(function, environ, start_response)
        return self.app(environ, start_response)

    @staticmethod
    def _invoke(
        function: FunctionProcess, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload: bytes = environ["wsgi.input"].read(length) if length else b""
        invocation_type = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        if len(payload) > MAX_REQUEST_BYTES:
            return _respond(
                start_response,
                "413 Request Entity Too Large",
                {
                    "Type": "User",
                    "message": f"Request must be smaller than {MAX_REQUEST_BYTES} bytes "
                    f"for the InvokeFunction operation (got {len(payload)})",
                },
                [("x-amzn-ErrorType", "RequestTooLargeException")],
            )
        if invocation_type == "DryRun":
            return _respond(start_response, "204 No Content", None, [])
        if invocation_type == "Event":
            threading.Thread(target=function.invoke, args=(payload,), daemon=True).start()
            return _respond(start_response, "202 Accepted", None, [])
        body, function_error = function.invoke(payload)
        headers = [("X-Amz-Executed-Version", "$LATEST")]
        if function_error:
            headers.append(("X-Amz-Function-Error", function_error))
        return _respond(start_response, "200 OK", body, headers)


def _respond(
    start_response: Callable[..., Any],
    status: str,
    body: bytes | dict[str, Any] | None,
    headers: list[tuple[str, str]],
) -> list[bytes]:
    data = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
            *[h for h in headers if h[0] != "x-amzn-RequestId"],
        ],
    )
    return [data]
