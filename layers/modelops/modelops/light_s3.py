"""S3 GetObject without botocore's client machinery, for the path to a function's first answer.

The predict function reads three objects before it can answer (the alias, the version's
metadata, model.onnx) and, warm, re-reads the alias with If-None-Match. botocore's client
(botocore.session and .client, urllib3, the parsed S3 service and endpoint models) was over
two fifths of that function's cold start (docs/PERFORMANCE.md), for a signed GET.
`LightS3` is that GET: AWS Signature Version 4 over http.client, one kept-alive connection,
answering in botocore's shapes so its callers take the same paths: a response dict with
`Body`, `ETag`, `ContentLength`, `ContentType`, `LastModified` and `ResponseMetadata`;
`ClientError` with S3's error code (or the status, "304" or "404", when S3 sends no body) and
HTTP status; botocore's connect, read-timeout, connection and checksum exceptions. Like
botocore's standard retry mode it retries 5xx, throttling and connection failures within the
attempts of modelops.aws, waiting as botocore waits, and it asks for and checks the object's
checksum (CRC32, SHA-1, SHA-256 or SHA-512, whichever S3 sends first).

Where it differs, on purpose or harmlessly for its callers: the body is read within the
attempt, so a body cut short is retried (botocore hands a stream that fails when read); an
error is a plain ClientError (botocore's modeled subclasses such as NoSuchKey carry the same
code); a wait never exceeds what modelops.aws budgets for it (the deadline checks count on
that); region redirects are not followed (the bucket is the function's own, in its region).

It serves only what it can serve as botocore does (`LightS3.from_environ` answers None
otherwise, and modelops.aws.s3_reader hands out botocore's client): static credentials and
AWS_DEFAULT_REGION in the environment (as Lambda sets them), an endpoint from
AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (path-style, as botocore addresses a custom endpoint)
or S3's own in the aws, aws-us-gov and aws-cn partitions (virtual-hosted, for bucket names
without dots; us-east-1's global endpoint, botocore's default there); no profile, config
file, FIPS or dual-stack endpoint, or ignored endpoint settings.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import os
import random
import re
import select
import threading
import time
import zlib
from base64 import b64decode, b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    FlexibleChecksumError,
    ReadTimeoutError,
)

from modelops.aws import longest_wait_seconds

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# botocore's standard retry mode (botocore/retries/standard.py): what it retries, and how long
# it waits first: rand() * min(scale * 2 ** (attempt - 1), 20 s), the scale 1 s after a
# throttling answer and 50 ms after anything else, raised to x-amz-retry-after (ms) if sent.
_TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
_TRANSIENT_CODES = frozenset(
    {"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"}
)
_THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
     "TooManyRequestsException", "ProvisionedThroughputExceededException",
     "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
     "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
     "EC2ThrottledException"}
)  # fmt: skip
# The response checksums botocore checks without its optional CRT extension, in its order of
# preference; S3 sends them when asked (x-amz-checksum-mode), a multipart one ends in "-N".
_CHECKSUMS: tuple[tuple[str, Callable[[bytes], bytes]], ...] = (
    ("crc32", lambda data: zlib.crc32(data).to_bytes(4, "big")),
    ("sha1", lambda data: hashlib.sha1(data).digest()),
    ("sha256", lambda data: hashlib.sha256(data).digest()),
    ("sha512", lambda data: hashlib.sha512(data).digest()),
)
_REGION = re.compile(r"^(?:[a-z]{2}|us-gov)-[a-z]+-\d+$")
# A bucket name a virtual-hosted endpoint can carry (lowercase, no dots: TLS names one level).
_VIRTUAL_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_ERROR_FIELD = re.compile(rb"<(Code|Message)>([^<]*)</\1>")
# Settings of the environment only botocore honours: any of them set, botocore serves.
_BOTOCORE_ONLY = (
    "AWS_PROFILE",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_S3_USE_ARN_REGION",
    "AWS_S3_DISABLE_MULTIREGION_ACCESS_POINTS",
    "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT",
    "AWS_CONFIG_FILE",
    "AWS_SECURITY_TOKEN",
)


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


def signed_headers(
    method: str,
    host: str,
    path: str,
    headers: Mapping[str, str],
    *,
    credentials: Credentials,
    region: str,
    payload_sha256: str,
    now: datetime,
) -> dict[str, str]:
    """`headers` plus the Signature Version 4 headers of a request without a query string
    (host, x-amz-date, x-amz-content-sha256, x-amz-security-token, authorization), every
    header given being signed, as botocore's S3 signer does. `path` is already encoded. A
    GET's payload is empty: botocore signs its hash, over HTTPS too."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    out = {**headers, "host": host, "x-amz-date": stamp, "x-amz-content-sha256": payload_sha256}
    if credentials.token:
        out["x-amz-security-token"] = credentials.token
    canonical = {k.lower(): " ".join(v.split()) for k, v in out.items()}
    names = ";".join(sorted(canonical))
    request = "\n".join(
        [method, path, "", *(f"{k}:{canonical[k]}" for k in sorted(canonical)), "", names,
         payload_sha256]
    )  # fmt: skip
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(request.encode()).hexdigest()]
    )
    key = f"AWS4{credentials.secret_key}".encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={names}, Signature={signature}"
    )
    return out


class _Body:
    """The answer's bytes, read whole (as the callers do), behind botocore's `read()`."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, amt: int | None = None) -> bytes:
        data, self._data = (self._data, b"") if amt is None else (
            self._data[:amt], self._data[amt:]
        )  # fmt: skip
        return data

    def close(self) -> None:
        self._data = b""


class LightS3:
    """`get_object` of a botocore S3 client, and nothing else (see the module's doc)."""

    def __init__(
        self,
        *,
        credentials: Credentials,
        region: str,
        endpoint: str | None,
        connect_timeout: float,
        read_timeout: float,
        max_attempts: int,
        ca_bundle: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.credentials = credentials
        self.region = region
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max(1, max_attempts)
        self._ca_bundle = ca_bundle
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._connection: http.client.HTTPConnection | None = None
        self._connection_origin: tuple[str, str, int | None] | None = None
        self._tls_context: Any = None

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], *, connect_timeout: float, read_timeout: float,
        max_attempts: int,
    ) -> LightS3 | None:  # fmt: skip
        """A reader for this environment, or None where only botocore serves it exactly."""
        access_key = environ.get("AWS_ACCESS_KEY_ID")
        secret_key = environ.get("AWS_SECRET_ACCESS_KEY")
        region = environ.get("AWS_DEFAULT_REGION")  # botocore's (Lambda sets it, as AWS_REGION)
        if not (access_key and secret_key and region):
            return None
        if any(_is_set(environ.get(name)) for name in _BOTOCORE_ONLY):
            return None
        home = environ.get("HOME")
        if home and (Path(home) / ".aws" / "config").exists():
            return None  # its settings (addressing, endpoints, CA bundle) are botocore's to read
        endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
                return None
        elif not _REGION.match(region):
            return None  # a partition botocore knows and this reader does not
        return cls(
            credentials=Credentials(access_key, secret_key, environ.get("AWS_SESSION_TOKEN")),
            region=region,
            endpoint=endpoint or None,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_attempts=max_attempts,
            ca_bundle=environ.get("AWS_CA_BUNDLE") or None,
        )

    def url(self, bucket: str, key: str) -> tuple[str, str, int | None, str]:
        """(scheme, host, port, encoded path) of an object, as botocore addresses it."""
        quoted = quote(key, safe="/~")
        if self.endpoint:
            parts = urlsplit(self.endpoint)
            base = parts.path.rstrip("/")
            assert parts.hostname is not None  # checked by from_environ
            return parts.scheme, parts.hostname, parts.port, f"{base}/{bucket}/{quoted}"
        if self.region == "us-east-1":
            service = "s3.amazonaws.com"  # botocore's default there: the global endpoint
        elif self.region.startswith("cn-"):
            service = f"s3.{self.region}.amazonaws.com.cn"
        else:
            service = f"s3.{self.region}.amazonaws.com"
        if _VIRTUAL_BUCKET.match(bucket):
            return "https", f"{bucket}.{service}", None, f"/{quoted}"
        return "https", service, None, f"/{bucket}/{quoted}"

    def get_object(
        self,
        *,
        Bucket: str,  # noqa: N803 (botocore's parameter names)
        Key: str,  # noqa: N803
        IfNoneMatch: str | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        scheme, host, port, path = self.url(Bucket, Key)
        if port == {"http": 80, "https": 443}[scheme]:
            port = None  # the Host header and the signature name no default port
        # botocore asks S3 for the object's checksum, and checks it (_verified).
        extra = {"x-amz-checksum-mode": "ENABLED"}
        if IfNoneMatch is not None:
            extra["if-none-match"] = IfNoneMatch
        with self._lock:
            for attempt in range(1, self.max_attempts + 1):
                headers: dict[str, str] = {}
                throttled = False
                try:
                    status, reason, headers, body = self._exchange(scheme, host, port, path, extra)
                except (ConnectTimeoutError, ReadTimeoutError, EndpointConnectionError,
                        ConnectionClosedError):  # fmt: skip
                    if attempt == self.max_attempts:
                        raise
                else:
                    if 200 <= status < 300:
                        return _response(status, headers, _verified(headers, body), attempt - 1)
                    error = _client_error(
                        status, reason, headers, body, attempt - 1, attempt == self.max_attempts
                    )
                    code = error.response["Error"]["Code"]
                    throttled = code in _THROTTLING_CODES or status == 429
                    transient = status in _TRANSIENT_STATUSES or code in _TRANSIENT_CODES
                    if attempt == self.max_attempts or not (throttled or transient):
                        raise error
                self._sleep(_backoff(attempt, throttled, headers.get("x-amz-retry-after")))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _exchange(
        self, scheme: str, host: str, port: int | None, path: str, extra: Mapping[str, str]
    ) -> tuple[int, str, dict[str, str], bytes]:
        """One attempt: (status, reason, lower-cased headers, body), or botocore's exception
        for a connection that failed, timed out or closed early."""
        named = f"[{host}]" if ":" in host else host  # an IPv6 address, as in a URL
        endpoint_url = f"{scheme}://{named}{'' if port is None else f':{port}'}{path}"
        host_header = named if port is None else f"{named}:{port}"
        headers = signed_headers(
            "GET", host_header, path, extra, credentials=self.credentials, region=self.region,
            payload_sha256=EMPTY_SHA256, now=self._clock(),
        )  # fmt: skip
        del headers["host"]  # http.client sends the same
        headers["user-agent"] = "modelops-light-s3"  # never signed (botocore neither)
        trace = os.environ.get("_X_AMZN_TRACE_ID")  # Lambda's, per invocation; never signed
        if trace:
            headers["x-amzn-trace-id"] = trace
        connection = self._connected(scheme, host, port, endpoint_url)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
        except TimeoutError as exc:
            self._close()
            raise ReadTimeoutError(endpoint_url=endpoint_url, error=exc) from exc
        except (http.client.HTTPException, OSError) as exc:
            self._close()
            raise ConnectionClosedError(endpoint_url=endpoint_url) from exc
        if response.will_close:
            self._close()
        return (
            response.status,
            response.reason,
            {k.lower(): v for k, v in response.getheaders()},
            body,
        )

    def _connected(
        self, scheme: str, host: str, port: int | None, endpoint_url: str
    ) -> http.client.HTTPConnection:
        """The kept-alive connection to this origin, or a new one: a connection the server
        closed while it sat idle (readable with nothing asked) is replaced before use."""
        origin = (scheme, host, port)
        connection = self._connection
        if connection is not None and (origin != self._connection_origin or _dropped(connection)):
            self._close()
            connection = None
        if connection is None:
            connection = (
                http.client.HTTPSConnection(
                    host, port, timeout=self.connect_timeout, context=self._tls()
                )
                if scheme == "https"
                else http.client.HTTPConnection(host, port, timeout=self.connect_timeout)
            )
            try:
                connection.connect()
            except TimeoutError as exc:
                connection.close()
                raise ConnectTimeoutError(endpoint_url=endpoint_url, error=exc) from exc
            except OSError as exc:
                connection.close()
                raise EndpointConnectionError(endpoint_url=endpoint_url, error=exc) from exc
            assert connection.sock is not None
            connection.sock.settimeout(self.read_timeout)  # connect_timeout was the connect's
            self._connection, self._connection_origin = connection, origin
        return connection

    def _tls(self) -> Any:
        if self._tls_context is None:  # one per reader: loading the trust store takes ms
            import ssl  # only for https: a local endpoint never pays for it

            self._tls_context = ssl.create_default_context(cafile=self._ca_bundle)
        return self._tls_context

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = self._connection_origin = None


def _is_set(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "false", "0")


def _dropped(connection: http.client.HTTPConnection) -> bool:
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _backoff(attempt: int, throttled: bool, retry_after_ms: str | None) -> float:
    """botocore's wait before the next attempt, never longer than the call budget counts
    (modelops.aws.longest_wait_seconds: the deadline checks count on it)."""
    delay = random.random() * min((1.0 if throttled else 0.05) * 2.0 ** (attempt - 1), 20.0)
    if retry_after_ms is not None:
        with contextlib.suppress(ValueError, OverflowError):
            asked = int(retry_after_ms) / 1000.0
            if asked >= 0:
                delay = max(delay, min(asked, delay + 5.0))
    return min(delay, longest_wait_seconds(attempt))


def _verified(headers: dict[str, str], body: bytes) -> bytes:
    """The body, checked against the first checksum S3 sent that botocore would check."""
    for algorithm, digest in _CHECKSUMS:
        expected = headers.get(f"x-amz-checksum-{algorithm}")
        if expected is None or "-" in expected:
            continue
        actual = digest(body)
        if actual != b64decode(expected):
            raise FlexibleChecksumError(
                error_msg=f"Expected checksum {expected} did not match calculated checksum: "
                f"{b64encode(actual).decode()}"
            )
        break
    return body


def _metadata(status: int, headers: dict[str, str], retries: int) -> dict[str, Any]:
    return {
        "HTTPStatusCode": status,
        "HTTPHeaders": headers,
        "RequestId": headers.get("x-amz-request-id", ""),
        "HostId": headers.get("x-amz-id-2", ""),
        "RetryAttempts": retries,
    }


def _response(status: int, headers: dict[str, str], body: bytes, retries: int) -> dict[str, Any]:
    meta = _metadata(status, headers, retries)
    out: dict[str, Any] = {"ResponseMetadata": meta, "Body": _Body(body)}
    out["ContentLength"] = len(body)
    for field, header in (("ETag", "etag"), ("ContentType", "content-type"),
                          ("VersionId", "x-amz-version-id")):  # fmt: skip
        if header in headers:
            out[field] = headers[header]
    if "last-modified" in headers:
        with contextlib.suppress(TypeError, ValueError):  # botocore leaves it out too
            out["LastModified"] = parsedate_to_datetime(headers["last-modified"])
    return out


def _client_error(
    status: int, reason: str, headers: dict[str, str], body: bytes, retries: int, last: bool
) -> ClientError:
    """botocore's ClientError for an S3 error answer: the code and message of its XML body,
    or, without one (a 304, a HEAD-like 404), the status as the code and its reason. On the
    `last` attempt allowed, botocore's retry handler marks it (its text then says so)."""
    from html import unescape  # XML's entities are HTML's; only an error pays the import

    fields = {name.decode(): unescape(value.decode("utf-8", "replace"))
              for name, value in _ERROR_FIELD.findall(body)}  # fmt: skip
    error = {
        "Code": fields.get("Code") or str(status),
        "Message": fields.get("Message") or http.client.responses.get(status, reason),
    }
    metadata = _metadata(status, headers, retries)
    if last:
        metadata["MaxAttemptsReached"] = True
    response: Any = {"Error": error, "ResponseMetadata": metadata}
    return ClientError(response, "GetObject")
