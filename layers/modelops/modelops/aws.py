"""AWS clients, built once per process and shared, with explicit timeouts and retries.

Every client honours the standard AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>)
variables natively, which is how local runs point the whole system at moto's server.
Callers that need another client (tests, other regions) pass their own instead.

Timeouts and the number of attempts come from the environment, so each function gets a
retry budget that fits inside its own timeout (template.yaml sets them per function):

    MODELOPS_AWS_CONNECT_TIMEOUT   seconds to open a connection (default 5)
    MODELOPS_AWS_READ_TIMEOUT      seconds to wait for any byte of an answer (default 30)
    MODELOPS_AWS_MAX_ATTEMPTS      attempts per call, the first included (default 5)

`call_budget_seconds()` is the longest one call can take under that configuration; the
Lambda deadline (modelops.resilience) is checked against it before slow work starts.

Clients are plain botocore clients (what boto3's `client()` returns, without boto3): importing
boto3 pulls in s3transfer and its resource layer, about a tenth of a second of every cold
start that nothing here uses. They come from one botocore session per process, so a second
client of a service (the one-attempt probe beside the request client) reuses the service
model the first one loaded instead of parsing it again.

A local endpoint (AWS_ENDPOINT_URL on the loopback interface: embedded AWS) accepts any
credentials, so when none are configured the clients get fake ones here, the one place
that supplies them: nobody has to export keys by hand to talk to `make api` or `make demo`.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from modelops.config import env_float, env_int

if TYPE_CHECKING:
    import botocore.session
    from botocore.config import Config

# botocore's standard retry mode sleeps a random share of at most 2**(n-1) s before retry n
# (the whole of it after throttling; older botocore after anything), never more than 20 s
# (botocore/retries/standard.py): the budget counts the longest.
_MAX_BACKOFF_SECONDS = 20.0


def longest_wait_seconds(attempt: int) -> float:
    """The longest wait after failed attempt `attempt` (1-based) that the call budget counts;
    a client that waits longer would break the deadline checks built on it."""
    return min(_MAX_BACKOFF_SECONDS, 2.0 ** (attempt - 1))


# What a local endpoint gets when no credentials are configured (moto accepts anything).
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
LOCAL_REGION = "us-east-1"


def is_local_endpoint(url: str | None) -> bool:
    """True for an endpoint on this machine's loopback interface (localhost, 127.x, ::1)."""
    if not url:
        return False
    host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_defaults(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a process needs to reach a local endpoint and does not have: fake
    credentials unless some are configured (keys or a profile), and a region unless one is
    set. Empty when AWS_ENDPOINT_URL is not local: real AWS never gets fake keys."""
    env = os.environ if environ is None else environ
    if not is_local_endpoint(env.get("AWS_ENDPOINT_URL")):
        return {}
    defaults: dict[str, str] = {}
    if not env.get("AWS_ACCESS_KEY_ID") and not env.get("AWS_PROFILE"):
        defaults.update(LOCAL_CREDENTIALS)
    if not env.get("AWS_DEFAULT_REGION") and not env.get("AWS_REGION"):
        defaults["AWS_DEFAULT_REGION"] = LOCAL_REGION
        defaults["AWS_REGION"] = LOCAL_REGION
    return defaults


def apply_local_defaults() -> dict[str, str]:
    """Put local_defaults() into os.environ (so every client and child process has them);
    returns what was set."""
    defaults = local_defaults()
    os.environ.update(defaults)
    return defaults


@dataclass(frozen=True)
class ClientSettings:
    connect_timeout: float
    read_timeout: float
    max_attempts: int

    @classmethod
    def from_env(cls) -> ClientSettings:
        return cls(
            connect_timeout=env_float(
                "MODELOPS_AWS_CONNECT_TIMEOUT", default=5.0, minimum=0.01, maximum=300.0
            ),
            read_timeout=env_float(
                "MODELOPS_AWS_READ_TIMEOUT", default=30.0, minimum=0.01, maximum=900.0
            ),
            max_attempts=env_int("MODELOPS_AWS_MAX_ATTEMPTS", default=5, minimum=1),
        )

    def budget_seconds(self, attempts: int | None = None) -> float:
        """The longest one call can take: every attempt times out, with the longest sleeps
        between them (a black-hole endpoint: connection accepted, nothing ever answered)."""
        n = self.max_attempts if attempts is None else attempts
        sleeps = sum(longest_wait_seconds(i) for i in range(1, n))
        return n * (self.connect_timeout + self.read_timeout) + sleeps

    def config(self, attempts: int | None = None) -> Config:
        from botocore.config import Config  # with the first client, not at import

        return Config(
            retries={
                "mode": "standard",
                "total_max_attempts": self.max_attempts if attempts is None else attempts,
            },
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )


def settings() -> ClientSettings:
    """The environment's client settings. Read on each use (microseconds), not cached: where
    several functions share one process (local runs), each sees its own variables."""
    return ClientSettings.from_env()


def call_budget_seconds(attempts: int | None = None) -> float:
    return settings().budget_seconds(attempts)


def client(service: str, *, attempts: int | None = None) -> Any:
    """A shared client for `service`, created on first use (at cold start, not per request).

    `attempts` overrides the number of attempts: 1 for cheap probes (the alias check of a
    warm function) that a later check repeats anyway, so an outage costs one timeout only.
    """
    apply_local_defaults()
    return _client(service, attempts, settings())


def s3_reader(*, attempts: int | None = None) -> Any:
    """An S3 client for GetObject alone (the path to the predict function's first answer):
    modelops.light_s3's reader where the environment lets it read exactly as botocore would,
    else the shared botocore client. MODELOPS_LIGHT_S3=0 always gives botocore's."""
    apply_local_defaults()
    return _s3_reader(attempts, settings(), _reader_environment())


def _reader_environment() -> tuple[tuple[str, str], ...]:
    # What decides the reader (a changed endpoint or key makes a new one, as reset_clients).
    return tuple(
        (k, v) for k, v in sorted(os.environ.items()) if k.startswith(("AWS_", "MODELOPS_LIGHT"))
    )


@functools.cache
def _s3_reader(
    attempts: int | None, client_settings: ClientSettings, environ: tuple[tuple[str, str], ...]
) -> Any:
    env = dict(environ)
    if env.get("MODELOPS_LIGHT_S3", "1").strip() != "0":
        from modelops.light_s3 import LightS3

        reader = LightS3.from_environ(
            env,
            connect_timeout=client_settings.connect_timeout,
            read_timeout=client_settings.read_timeout,
            max_attempts=client_settings.max_attempts if attempts is None else attempts,
        )
        if reader is not None:
            return reader
    return _client("s3", attempts, client_settings)


@functools.cache
def _session() -> botocore.session.Session:
    import botocore.session  # botocore's client machinery: with the first client, not at import

    return botocore.session.get_session()


@functools.cache
def _client(service: str, attempts: int | None, client_settings: ClientSettings) -> Any:
    return _session().create_client(service, config=client_settings.config(attempts))


def reset_clients() -> None:
    """Forget cached clients and their session (after the environment's endpoint or
    credentials change: a session keeps the credentials it resolved first)."""
    _client.cache_clear()
    _s3_reader.cache_clear()
    _session.cache_clear()


def forget_clients() -> None:
    """Forget cached clients but keep their session: a forked worker needs connections of
    its own, not its own parse of the service models its parent's session already holds
    (about 12 MB and 0.2 s per S3 client)."""
    _client.cache_clear()
    _s3_reader.cache_clear()
