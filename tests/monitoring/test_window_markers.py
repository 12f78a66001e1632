"""A window's retraining marker as docs/MONITORING.md ("Retraining") states it, read by
`modelops.monitoring.markers` without any store: a `pending` claim blocks its window for 20
minutes (literally: longer than the monitor's 15-minute timeout) and not a millisecond more,
a `failed` one is claimed again at once, a `submitted` one never; markers from before the
states existed are `submitted` when they name a job, an expired `pending` when not; a
conditional write lost to another run (412, or 409 while one is in flight, by code or by
HTTP status alone) is a conflict, any other error is not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from modelops.monitoring.markers import WindowMarker, WindowMarkers, is_conflict

CLAIMED = datetime(2026, 11, 26, 13, 5, tzinfo=UTC)
TWENTY_MINUTES = timedelta(minutes=20)
MS = timedelta(milliseconds=1)


def test_a_pending_claim_from_before_expiry_times_blocks_for_exactly_twenty_minutes() -> None:
    legacy = WindowMarker({"triggered_at": "2026-11-26T13:05:00.000Z", "job_id": None}, '"e"')
    assert legacy.state == "pending"
    assert legacy.expires_at() == CLAIMED + TWENTY_MINUTES
    assert legacy.retriable(CLAIMED + TWENTY_MINUTES - MS) is False
    assert legacy.retriable(CLAIMED + TWENTY_MINUTES) is True
    assert legacy.retriable(CLAIMED + TWENTY_MINUTES + MS) is True


def test_a_pending_claim_expires_when_its_expires_at_says() -> None:
    claim = {
        "state": "pending",
        "triggered_at": "2026-11-26T13:05:00.000Z",
        "expires_at": "2026-11-26T13:07:00.000Z",  # wins over triggered_at + 20 min
    }
    marker = WindowMarker(claim, '"e"')
    expires = CLAIMED + timedelta(minutes=2)
    assert marker.expires_at() == expires
    assert (marker.retriable(expires - MS), marker.retriable(expires)) == (False, True)


@pytest.mark.parametrize(
    ("record", "state", "retriable"),
    [
        ({"state": "failed", "error": "Batch is unavailable"}, "failed", True),
        ({"state": "submitted", "job_id": "j-1"}, "submitted", False),
        # before states existed: a job id means submitted
        ({"triggered_at": "2026-11-26T13:05:00.000Z", "job_id": "j-1"}, "submitted", False),
    ],
)
def test_failed_is_claimed_again_at_once_and_submitted_never(
    record: dict[str, Any], state: str, retriable: bool
) -> None:
    marker = WindowMarker({"triggered_at": "2026-11-26T13:05:00.000Z", **record}, '"e"')
    assert marker.state == state
    for now in (CLAIMED, CLAIMED + MS, CLAIMED + timedelta(days=365)):
        assert marker.retriable(now) is retriable


def error(code: str | None, status: int | None) -> ClientError:
    response: dict[str, Any] = {}
    if code is not None:
        response["Error"] = {"Code": code, "Message": "..."}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(response, "PutObject")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "conflict"),
    [
        ("PreconditionFailed", 412, True),
        ("ConditionalRequestConflict", 409, True),
        ("412", None, True),
        ("409", None, True),
        (None, 412, True),
        (None, 409, True),
        (None, 408, False),
        (None, 410, False),
        (None, 411, False),
        (None, 413, False),
        (None, 500, False),
        ("NoSuchKey", 404, False),
        ("AccessDenied", 403, False),
        (None, None, False),
    ],
)
def test_only_a_lost_conditional_write_is_a_conflict(
    code: str | None, status: int | None, conflict: bool
) -> None:
    assert is_conflict(error(code, status)) is conflict


def test_a_claim_lost_to_another_run_is_none_and_any_other_error_raises() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    markers = WindowMarkers(s3, "bucket", "churn")
    record = {"state": "pending", "triggered_at": "2026-11-26T13:05:00.000Z"}
    put = {
        "Bucket": "bucket",
        "Key": "reports/churn/retraining/windows/w.json",
        "Body": json.dumps(record).encode(),
        "ContentType": "application/json",
    }
    read = WindowMarker({"state": "failed"}, '"read"')
    with Stubber(s3) as stub:
        # a first claim creates, a later one replaces exactly the marker read
        stub.add_client_error(
            "put_object", "PreconditionFailed", http_status_code=412,
            expected_params=put | {"IfNoneMatch": "*"},
        )  # fmt: skip
        stub.add_client_error(
            "put_object", "ConditionalRequestConflict", http_status_code=409,
            expected_params=put | {"IfMatch": '"read"'},
        )  # fmt: skip
        stub.add_client_error("put_object", "InternalError", http_status_code=500)
        stub.add_response("put_object", {"ETag": '"claimed"'}, put | {"IfMatch": '"read"'})
        assert markers.claim("w", record, None) is None
        assert markers.claim("w", record, read) is None
        with pytest.raises(ClientError, match="InternalError"):
            markers.claim("w", record, read)
        assert markers.claim("w", record, read) == '"claimed"'
        stub.assert_no_pending_responses()
