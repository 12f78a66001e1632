"""Run a function of template.yaml in this process the way Lambda runs it.

The handler module is imported from the function's CodeUri (as Lambda does from /var/task)
with the function's environment set (Globals merged, values resolved against the local
stack), at first use: that is its cold start. Each invocation gets a Lambda context, and
invocations of one function run one at a time, like requests to one execution environment.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from embedded_aws.provision import LocalStack
from embedded_aws.template import FunctionSource, function_source, load_template, resolve, resource

# os.environ is process-wide: an invocation holds this while its function's variables are set.
_ENVIRONMENT_LOCK = threading.RLock()


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    timeout_seconds: float = 30.0
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Set `variables` in os.environ for the duration, then restore what was there."""
    with _ENVIRONMENT_LOCK:
        saved = {k: os.environ.get(k) for k in variables}
        os.environ.update(variables)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def load_handler(source: FunctionSource) -> Callable[[Any, Any], Any]:
    """Import the handler module from its CodeUri directory under a name unique to the
    function (every function may call its module app.py) and return the handler."""
    path = source.code_dir.joinpath(*source.module.split(".")).with_suffix(".py")
    if not path.is_file():
        raise FileNotFoundError(
            f"{source.logical_id}: handler module {path} does not exist (template.yaml CodeUri/Handler)"
        )
    unique_name = f"_lambda_{source.logical_id}_{source.module.replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(unique_name, path)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    # Lambda puts the code directory first on the import path, so siblings import by name.
    # Each function has its own process on Lambda; here they share one, so the siblings a
    # function imported are taken out of sys.modules again (its module keeps them), and the
    # next function's `import helper` finds its own helper.py.
    before = set(sys.modules)
    sys.path.insert(0, str(source.code_dir))
    try:
        sys.modules[unique_name] = module
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(unique_name, None)
        raise
    finally:
        sys.path.remove(str(source.code_dir))
        for name in set(sys.modules) - before - {unique_name}:
            if _defined_in(sys.modules[name], source.code_dir):
                del sys.modules[name]
    handler: Callable[[Any, Any], Any] = getattr(module, source.attribute)
    return handler


def _defined_in(module: ModuleType, directory: Path) -> bool:
    file = getattr(module, "__file__", None)
    return file is not None and Path(file).resolve().is_relative_to(directory.resolve())


class LocalFunction:
    """One function of the stack, loaded lazily, invoked with real-shaped events."""

    def __init__(
        self,
        logical_id: str,
        env: Mapping[str, str],
        *,
        template: dict[str, Any] | None = None,
        refs: Mapping[str, Any] | None = None,
        name: str | None = None,
        arn: str | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        doc = template or load_template()
        self.logical_id = logical_id
        self.source = function_source(logical_id, doc)
        props = resource(logical_id, doc).get("Properties", {})
        settings = {**doc.get("Globals", {}).get("Function", {}), **props}
        scope = dict(refs or {})
        self.memory_mb = int(resolve(settings.get("MemorySize", 128), scope, doc))
        self.timeout_seconds = float(resolve(settings.get("Timeout", 3), scope, doc))
        self.env = dict(env)
        self.name = name or f"local-{logical_id}"
        self.arn = arn or f"arn:aws:lambda:us-east-1:123456789012:function:{self.name}"
        # Where the function's prints go (Lambda sends them to CloudWatch Logs); None: here.
        self.stdout = stdout
        self._handler: Callable[[Any, Any], Any] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_stack(
        cls, stack: LocalStack, logical_id: str, *, stdout: TextIO | None = None
    ) -> LocalFunction:
        """The function with its environment resolved against the locally provisioned stack,
        and its AWS clients pointed at the endpoint the stack lives on."""
        env = stack.function_environment(logical_id)
        if stack.endpoint_url:
            env["AWS_ENDPOINT_URL"] = stack.endpoint_url
        return cls(
            logical_id,
            env,
            refs=stack.refs,
            name=stack.refs.get(logical_id),
            arn=stack.refs.get(f"{logical_id}.Arn"),
            stdout=stdout,
        )

    def context(self) -> LambdaContext:
        return LambdaContext(
            function_name=self.name,
            memory_limit_in_mb=self.memory_mb,
            invoked_function_arn=self.arn,
            log_group_name=f"/aws/lambda/{self.name}",
            log_stream_name=time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
            timeout_seconds=self.timeout_seconds,
        )

    def initialise(self) -> None:
        """Lambda's init phase alone: load the handler module (its module-level code runs)
        with the function's environment; invoke does it on first use otherwise."""
        with self._lock, environment(self.env), _redirected(self.stdout):
            if self._handler is None:
                self._handler = load_handler(self.source)

    def invoke(self, event: Any, context: LambdaContext | None = None) -> Any:
        """Call the handler with `event`, as a synchronous Lambda invocation does; an error
        the handler raises propagates, as Lambda reports it to a direct caller."""
        with self._lock, environment(self.env), _redirected(self.stdout):
            if self._handler is None:
                self._handler = load_handler(self.source)
            return self._handler(event, context or self.context())


@contextmanager
def _redirected(stream: TextIO | None) -> Iterator[None]:
    if stream is None:
        yield
        return
    with redirect_stdout(stream):
        yield
