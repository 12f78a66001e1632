"""The light S3 reader (modelops.light_s3) asks what botocore asks and answers what botocore
answers.

- Its request: botocore's own GetObject request is captured just before it is sent; the
  reader must address the same URL and, signing the same headers at the same moment, give
  the same Authorization.
- Its answers, on moto's server: the same body, ETag and metadata for objects, and the same
  ClientError code and status for a missing key, a missing bucket and a not-modified alias.
- Its failures: a refused port, a hanging endpoint, 503s, a connection the server closed
  while idle, each as botocore's exceptions after the configured attempts.
- When it serves: only where it reads exactly as botocore would (modelops.aws.s3_reader).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    FlexibleChecksumError,
    ReadTimeoutError,
)

from embedded_aws.faults import BLACK_HOLE, FaultyEndpoint, refused_endpoint
from embedded_aws.provision import create_bucket
from modelops import aws
from modelops.light_s3 import Credentials, LightS3, signed_headers

ENV = {
    "AWS_ACCESS_KEY_ID": "AKID",
    "AWS_SECRET_ACCESS_KEY": "SECRET",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


class _SentError(Exception):
    """Raised from botocore's before-send hook: the request was captured, nothing sent."""


def botocore_request(
    bucket: str, key: str, *, region: str, endpoint: str | None = None, token: str | None = None,
    **params: str,
) -> tuple[str, dict[str, str]]:  # fmt: skip
    """(url, headers) of the GetObject request botocore would send."""
    client = botocore.session.Session().create_client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="AKID",
        aws_secret_access_key="SECRET",
        aws_session_token=token,
        config=Config(retries={"total_max_attempts": 1}),
    )
    sent: dict[str, Any] = {}

    def before_send(request: Any, **_: Any) -> None:
        sent["url"] = request.url
        sent["headers"] = {
            k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()
        }
        raise _SentError

    client.meta.events.register("before-send.s3", before_send)
    with pytest.raises(_SentError):
        client.get_object(Bucket=bucket, Key=key, **params)
    return sent["url"], sent["headers"]


def reader(env: dict[str, str], **settings: Any) -> LightS3:
    made = LightS3.from_environ(
        env,
        connect_timeout=settings.pop("connect_timeout", 1.0),
        read_timeout=settings.pop("read_timeout", 1.0),
        max_attempts=settings.pop("max_attempts", 1),
    )
    assert made is not None
    return made


@pytest.mark.parametrize(
    ("bucket", "key", "region", "endpoint"),
    [
        ("modelops-dev-bucket-1a2b", "models/churn/aliases/champion.json", "us-east-1", None),
        ("modelops-dev-bucket-1a2b", "models/churn/versions/3/model.onnx", "eu-west-1", None),
        ("my.dotted.bucket", "k", "eu-west-1", None),  # path-style: TLS names one level
        ("bucket-cn", "k", "cn-north-1", None),
        ("bucket-gov", "k", "us-gov-west-1", None),
        ("bucket", "a b/c+d=e~f%g&h'é漢.json", "eu-west-1", None),
        ("bucket", "k", "us-east-1", "http://127.0.0.1:4566"),
        ("bucket", "dir/k.json", "us-east-1", "http://localhost:4566/prefix/"),
        ("bucket", "k", "us-east-1", "https://s3.example.internal:8443"),
    ],
)
@pytest.mark.parametrize("token", [None, "SESSION-TOKEN"])
@pytest.mark.parametrize("etag", [None, '"0123456789abcdef"'])
def test_the_request_is_botocores(
    bucket: str, key: str, region: str, endpoint: str | None, token: str | None, etag: str | None
) -> None:
    params = {} if etag is None else {"IfNoneMatch": etag}
    url, sent = botocore_request(
        bucket, key, region=region, endpoint=endpoint, token=token, **params
    )
    env = {**ENV, "AWS_DEFAULT_REGION": region, **({"AWS_SESSION_TOKEN": token} if token else {})}
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    scheme, host, port, path = reader(env).url(bucket, key)
    assert f"{scheme}://{host}{'' if port is None else f':{port}'}{path}" == url

    # The same headers, signed at the same moment, give botocore's signature; the reader
    # sends the same payload hash and token.
    now = datetime.strptime(sent["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    ours_only = {"authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"}
    signed = sent["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    theirs = {k: sent[k] for k in signed if k not in ours_only | {"host"}}
    host_header = host if port is None else f"{host}:{port}"
    credentials = Credentials("AKID", "SECRET", token)
    ours = signed_headers(
        "GET", host_header, path, theirs, credentials=credentials, region=region,
        payload_sha256=sent["x-amz-content-sha256"], now=now,
    )  # fmt: skip
    assert ours["authorization"] == sent["authorization"]
    assert ours.get("x-amz-security-token") == sent.get("x-amz-security-token")
    # What the reader itself sends: no checksum mode (it checks model.onnx's sha256 itself).
    assert sent["x-amz-content-sha256"] == signed_headers(
        "GET", host_header, path, {}, credentials=credentials, region=region,
        payload_sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        now=now,
    )["x-amz-content-sha256"]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "serves"),
    [
        ({}, True),
        ({"AWS_SESSION_TOKEN": "t"}, True),
        ({"AWS_REGION": "eu-west-1"}, True),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, True),
        ({"AWS_ENDPOINT_URL_S3": "https://s3.example.internal"}, True),
        ({"AWS_USE_FIPS_ENDPOINT": "false"}, True),
        ({"AWS_ACCESS_KEY_ID": ""}, False),  # credentials from elsewhere: botocore finds them
        ({"AWS_SECRET_ACCESS_KEY": ""}, False),
        ({"AWS_DEFAULT_REGION": ""}, False),
        # botocore reads AWS_DEFAULT_REGION, not AWS_REGION (Lambda sets both)
        ({"AWS_DEFAULT_REGION": "", "AWS_REGION": "eu-west-1"}, False),
        ({"AWS_CONFIG_FILE": "/etc/aws-config"}, False),  # settings only botocore reads
        ({"AWS_SECURITY_TOKEN": "legacy"}, False),
        ({"AWS_PROFILE": "dev"}, False),
        ({"AWS_USE_FIPS_ENDPOINT": "true"}, False),
        ({"AWS_USE_DUALSTACK_ENDPOINT": "true"}, False),
        ({"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}, False),
        ({"AWS_S3_US_EAST_1_REGIONAL_ENDPOINT": "regional"}, False),
        ({"AWS_DEFAULT_REGION": "us-isob-east-1"}, False),  # a partition it does not know
        ({"AWS_ENDPOINT_URL": "ftp://example.com"}, False),
        ({"AWS_ENDPOINT_URL": "http://example.com/?x=1"}, False),
    ],
)
def test_it_serves_only_where_it_reads_as_botocore_does(
    change: dict[str, str], serves: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {k: v for k, v in {**ENV, **change}.items() if v}
    made = LightS3.from_environ(env, connect_timeout=1, read_timeout=1, max_attempts=1)
    assert (made is not None) is serves

    # modelops.aws.s3_reader hands out the reader, or botocore's client where it does not serve.
    for key in [*ENV, *change, "AWS_REGION", "MODELOPS_LIGHT_S3"]:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    aws.reset_clients()
    try:
        handed: Any = aws.s3_reader()
    except BotoCoreError:  # botocore's own complaint (partial keys, no such profile)
        handed = None
    assert isinstance(handed, LightS3) is serves
    if serves:
        monkeypatch.setenv("MODELOPS_LIGHT_S3", "0")  # the switch: botocore's client always
        assert not isinstance(aws.s3_reader(), LightS3)


def test_the_readers_attempts_timeouts_and_settings_are_the_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MODELOPS_LIGHT_S3", raising=False)
    monkeypatch.setenv("MODELOPS_AWS_CONNECT_TIMEOUT", "0.7")
    monkeypatch.setenv("MODELOPS_AWS_READ_TIMEOUT", "3")
    monkeypatch.setenv("MODELOPS_AWS_MAX_ATTEMPTS", "4")
    aws.reset_clients()
    made, probe = aws.s3_reader(), aws.s3_reader(attempts=1)
    assert isinstance(made, LightS3) and isinstance(probe, LightS3)
    assert (made.connect_timeout, made.read_timeout, made.max_attempts) == (0.7, 3.0, 4)
    assert probe.max_attempts == 1
    assert aws.s3_reader() is made  # one per process, like the clients


# ---- on moto's server: the same answers -------------------------------------------------


@pytest.fixture
def stored(on_moto_server: str) -> dict[str, Any]:
    s3 = boto3.client("s3")
    bucket = create_bucket(s3, f"light-{time.monotonic_ns()}")
    keys = {
        "plain.json": b'{"version": 3}',
        "dir/with space+plus=eq~tilde%pct&amp'é漢.bin": bytes(range(256)) * 41,
        "empty": b"",
    }
    for key, body in keys.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return {"s3": s3, "bucket": bucket, "keys": keys, "endpoint": on_moto_server}


def test_objects_read_as_botocore_reads_them(stored: dict[str, Any]) -> None:
    s3, bucket = stored["s3"], stored["bucket"]
    light = aws.s3_reader()
    assert isinstance(light, LightS3)
    for key, body in stored["keys"].items():
        ours, theirs = (
            light.get_object(Bucket=bucket, Key=key),
            s3.get_object(Bucket=bucket, Key=key),
        )
        assert ours["Body"].read() == theirs["Body"].read() == body
        for field in ("ETag", "ContentLength", "ContentType", "LastModified"):
            assert ours[field] == theirs[field], field
        assert ours["ResponseMetadata"]["HTTPStatusCode"] == 200
        # S3 (moto too) sent the checksum botocore checks, and the reader checked it.
        checksum = theirs["ResponseMetadata"]["HTTPHeaders"].get("x-amz-checksum-crc32")
        assert (
            checksum and ours["ResponseMetadata"]["HTTPHeaders"]["x-amz-checksum-crc32"] == checksum
        )


def error_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"][
        "HTTPStatusCode"
    ]


def test_errors_are_botocores(stored: dict[str, Any]) -> None:
    s3, bucket = stored["s3"], stored["bucket"]
    light = aws.s3_reader()
    etag = s3.head_object(Bucket=bucket, Key="plain.json")["ETag"]
    cases: list[dict[str, str]] = [
        {"Bucket": bucket, "Key": "missing.json"},
        {"Bucket": f"{bucket}-missing", "Key": "plain.json"},
        {"Bucket": bucket, "Key": "plain.json", "IfNoneMatch": etag},
    ]
    for params in cases:
        ours = error_of(lambda p=params: light.get_object(**p))
        assert ours == error_of(lambda p=params: s3.get_object(**p)), params
    assert error_of(lambda: light.get_object(**cases[0])) == ("NoSuchKey", 404)
    assert error_of(lambda: light.get_object(**cases[2])) == ("304", 304)
    # A changed ETag is a read, not an error.
    assert light.get_object(Bucket=bucket, Key="plain.json", IfNoneMatch='"other"')["ETag"] == etag


# ---- failures: botocore's exceptions, after the configured attempts ----------------------


CODES = {503: "SlowDown", 500: "InternalError", 502: "BadGateway", 403: "AccessDenied"}


class Scripted(http.server.BaseHTTPRequestHandler):
    """Answers each GET with the next entry of `script` (the last one repeats): a status (S3's
    error body for it), or (status, extra headers, body[, close]): `close`, the server closes
    the connection after answering, without saying so (as S3 drops an idle one)."""

    protocol_version = "HTTP/1.1"
    script: ClassVar[list[Any]] = []
    seen: ClassVar[list[str]] = []
    requests: ClassVar[list[dict[str, str]]] = []
    ports: ClassVar[list[int]] = []  # the client's port of each request: its connection
    url: ClassVar[str] = ""

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        type(self).requests.append({k.lower(): v for k, v in self.headers.items()})
        type(self).ports.append(self.client_address[1])
        entry = self.script[min(len(self.seen), len(self.script)) - 1]
        status, extra, body, close = (
            (*entry, False)[:4] if isinstance(entry, tuple) else (entry, {}, None, False)
        )
        if body is None:
            body = b"ok" if status == 200 else (
                f"<Error><Code>{CODES.get(status, status)}</Code><Message>m</Message></Error>"
            ).encode()  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"e"')
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = close

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[type[Scripted]]:
    handler = type("Handler", (Scripted,), {"script": [], "seen": [], "requests": [], "ports": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield handler
    server.shutdown()
    server.server_close()


def local_reader(
    endpoint: str, *, read_timeout: float = 1.0, max_attempts: int = 1
) -> tuple[LightS3, list[float]]:
    """A reader of `endpoint`, and the waits it would have slept (recorded, not waited)."""
    sleeps: list[float] = []
    made = LightS3(
        credentials=Credentials("AKID", "SECRET"),
        region="eu-west-1",
        endpoint=endpoint,
        connect_timeout=1.0,
        read_timeout=read_timeout,
        max_attempts=max_attempts,
        sleep=sleeps.append,
    )
    return made, sleeps


def test_transient_answers_are_retried_with_botocores_backoff(
    scripted: type[Scripted], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("modelops.light_s3.random.random", lambda: 1.0)  # the longest waits
    scripted.script = [503, 500, 502, 200]
    light, sleeps = local_reader(
        scripted.url,
        max_attempts=4,
    )
    answer = light.get_object(Bucket="b", Key="k")
    assert answer["Body"].read() == b"ok"
    assert answer["ResponseMetadata"]["RetryAttempts"] == 3
    assert len(scripted.seen) == 4
    # SlowDown is throttling (1 s scale), the others 50 ms: rand() * scale * 2 ** (n - 1).
    assert sleeps == [1.0, 0.1, 0.2]

    scripted.script, scripted.seen[:] = [503], []
    light, sleeps = local_reader(
        scripted.url,
        max_attempts=2,
    )
    assert error_of(lambda: light.get_object(Bucket="b", Key="k")) == ("SlowDown", 503)
    assert len(scripted.seen) == 2  # the attempts, no more
    assert len(sleeps) == 1  # a wait between them, none after the last


def test_retry_after_raises_the_wait_within_the_calls_budget(
    scripted: type[Scripted], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("modelops.light_s3.random.random", lambda: 0.5)
    scripted.script = [(500, {"x-amz-retry-after": "300"}, None),
                       (500, {"x-amz-retry-after": "9000"}, None), 200]  # fmt: skip
    light, sleeps = local_reader(
        scripted.url,
        max_attempts=3,
    )
    assert light.get_object(Bucket="b", Key="k")["Body"].read() == b"ok"
    # 0.3 s asked; then 9 s asked, capped at what modelops.aws budgets for retry 2 (2 s).
    assert sleeps == [0.3, 2.0]


@pytest.mark.parametrize(
    ("status", "code"), [(403, "AccessDenied"), (403, "RequestTimeTooSkewed"), (400, "Bad")]
)
def test_a_client_error_is_not_retried(scripted: type[Scripted], status: int, code: str) -> None:
    body = f"<Error><Code>{code}</Code><Message>no</Message></Error>".encode()
    scripted.script = [(status, {}, body)]
    light, sleeps = local_reader(
        scripted.url,
        max_attempts=5,
    )
    assert error_of(lambda: light.get_object(Bucket="b", Key="k")) == (code, status)
    assert len(scripted.seen) == 1
    assert sleeps == []


def test_the_objects_checksum_is_asked_for_and_checked(scripted: type[Scripted]) -> None:
    body = b'{"version": 3}'
    crc32 = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    sha256 = base64.b64encode(hashlib.sha256(body).digest()).decode()
    wrong = base64.b64encode(b"\0\0\0\0").decode()
    scripted.script = [
        (200, {"x-amz-checksum-crc32": crc32}, body),
        (200, {"x-amz-checksum-sha256": sha256}, body),
        (200, {"x-amz-checksum-crc32": f"{wrong}-3"}, body),  # multipart: not checked
        (200, {"x-amz-checksum-crc32c": wrong, "x-amz-checksum-sha256": sha256}, body),
        (200, {"x-amz-checksum-crc32": wrong}, body),
    ]
    light, sleeps = local_reader(
        scripted.url,
        max_attempts=3,
    )
    for _ in range(4):
        assert light.get_object(Bucket="b", Key="k")["Body"].read() == body
    with pytest.raises(FlexibleChecksumError, match="did not match"):
        light.get_object(Bucket="b", Key="k")
    assert len(scripted.seen) == 5  # a wrong checksum is not retried (botocore neither)
    assert sleeps == []
    assert {r["x-amz-checksum-mode"] for r in scripted.requests} == {"ENABLED"}
    assert all("x-amz-checksum-mode" in r["authorization"] for r in scripted.requests)


def test_lambdas_trace_header_is_passed_on(
    scripted: type[Scripted], monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted.script = [200]
    light, _ = local_reader(scripted.url)
    light.get_object(Bucket="b", Key="k")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793")
    light.get_object(Bucket="b", Key="k")
    first, second = scripted.requests
    assert "x-amzn-trace-id" not in first
    assert second["x-amzn-trace-id"] == "Root=1-5759e988-bd862e3fe1be46a994272793"
    assert "x-amzn-trace-id" not in second["authorization"]  # never signed


def test_the_kept_connection_is_reused_and_replaced_once_the_server_closed_it(
    scripted: type[Scripted],
) -> None:
    scripted.script = [200, (200, {}, b"ok", True), 200]
    light, _ = local_reader(scripted.url)
    light.get_object(Bucket="b", Key="k")
    light.get_object(Bucket="b", Key="k")  # then the server drops the connection
    time.sleep(0.2)  # idle, as between a warm function's alias checks
    # One attempt (a warm probe's): the dropped connection is seen before it is used.
    assert light.get_object(Bucket="b", Key="k")["Body"].read() == b"ok"
    first, second, third = scripted.ports
    assert first == second  # kept alive
    assert third != second  # a new connection, not a failed attempt


def test_a_refused_port_is_botocores_connection_error() -> None:
    light, sleeps = local_reader(refused_endpoint(), max_attempts=2)
    with pytest.raises(EndpointConnectionError):
        light.get_object(Bucket="b", Key="k")
    assert len(sleeps) == 1


def test_a_hanging_endpoint_times_out_after_each_attempt(moto_server_endpoint: str) -> None:
    with FaultyEndpoint(moto_server_endpoint, mode=BLACK_HOLE) as hole:
        light, sleeps = local_reader(hole.url, read_timeout=0.2, max_attempts=2)
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError):
            light.get_object(Bucket="b", Key="k")
        assert 0.4 <= time.monotonic() - started < 2.0  # two read timeouts, waits recorded
        assert len(sleeps) == 1
        assert hole.connections == 2  # a failed connection is never reused


def test_a_connection_closed_mid_answer_is_botocores_error() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def half_answer() -> None:
            for _ in range(2):
                conn, _ = listener.accept()
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
                conn.close()

        threading.Thread(target=half_answer, daemon=True).start()
        light, sleeps = local_reader(
            f"http://127.0.0.1:{listener.getsockname()[1]}", max_attempts=2
        )
        with pytest.raises(ConnectionClosedError):
            light.get_object(Bucket="b", Key="k")
        assert len(sleeps) == 1  # retried once, as a transient failure


def test_a_config_file_leaves_the_reading_to_botocore(tmp_path: Path) -> None:
    env = {**ENV, "HOME": str(tmp_path)}
    assert LightS3.from_environ(env, connect_timeout=1, read_timeout=1, max_attempts=1)
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text("[default]\ns3 =\n  addressing_style = path\n")
    assert LightS3.from_environ(env, connect_timeout=1, read_timeout=1, max_attempts=1) is None


def test_an_error_message_reads_as_botocore_reads_it(scripted: type[Scripted]) -> None:
    body = b"<Error><Code>AccessDenied</Code><Message>a &amp; b &lt;c&gt; &apos;d&apos; &#233;</Message></Error>"
    scripted.script = [(403, {}, body)]
    light, _ = local_reader(scripted.url)
    with pytest.raises(ClientError) as ours:
        light.get_object(Bucket="b", Key="k")
    theirs_client = botocore.session.Session().create_client(
        "s3",
        region_name="eu-west-1",
        endpoint_url=scripted.url,
        aws_access_key_id="AKID",
        aws_secret_access_key="SECRET",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as theirs:
        theirs_client.get_object(Bucket="b", Key="k")
    assert ours.value.response["Error"]["Message"] == "a & b <c> 'd' é"
    assert ours.value.response["Error"]["Message"] == theirs.value.response["Error"]["Message"]
    assert str(ours.value) == str(theirs.value)
