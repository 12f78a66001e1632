"""A window's retraining marker: claimed, then submitted or failed, by conditional writes.

`reports/<name>/retraining/windows/<window>.json` moves through states (docs/MONITORING.md):
created "pending" with IfNoneMatch="*"; then, replacing exactly the claim that was read
(IfMatch=<its ETag>), "submitted" with the job id, or "failed" with the error. A failed or
expired claim is claimed again the same way, so of two concurrent runs exactly one wins
and a failed submission never blocks its window for good.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from modelops.monitoring.objects import parse_time

# How long a "pending" claim blocks other runs of its window: beyond MonitorFunction's
# 900 s timeout, so only a claim whose run has died can expire.
PENDING_TTL = timedelta(minutes=20)
PENDING, SUBMITTED, FAILED = "pending", "submitted", "failed"
_CONFLICT_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


@dataclass(frozen=True)
class WindowMarker:
    """A window's marker as read: the record and the ETag a replacement must match."""

    record: dict[str, Any]
    etag: str

    @property
    def state(self) -> str:
        # Markers written before states existed: a job id means submitted.
        default = SUBMITTED if self.record.get("job_id") else PENDING
        return str(self.record.get("state", default))

    def expires_at(self) -> datetime:
        if "expires_at" in self.record:
            return parse_time(self.record["expires_at"])
        return parse_time(self.record["triggered_at"]) + PENDING_TTL

    def retriable(self, now: datetime) -> bool:
        """A failed submission, or a claim whose run has died, may be claimed again."""
        return self.state == FAILED or (self.state == PENDING and now >= self.expires_at())


class WindowMarkers:
    """Reads and conditionally writes the window markers of one model."""

    def __init__(self, s3_client: Any, bucket: str, model_name: str) -> None:
        self._s3 = s3_client
        self.bucket = bucket
        self.prefix = f"reports/{model_name}/retraining/windows/"

    def key(self, window_key: str) -> str:
        return f"{self.prefix}{window_key}.json"

    def read(self, window_key: str) -> WindowMarker | None:
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=self.key(window_key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise
        return WindowMarker(json.loads(response["Body"].read()), response["ETag"])

    def claim(
        self, window_key: str, record: Mapping[str, Any], replacing: WindowMarker | None
    ) -> str | None:
        """Write a pending claim; its ETag, or None when another run got there first."""
        try:
            if replacing is None:
                return self.put(window_key, record, IfNoneMatch="*")
            return self.put(window_key, record, IfMatch=replacing.etag)
        except ClientError as exc:
            if is_conflict(exc):
                return None
            raise

    def put(self, window_key: str, record: Mapping[str, Any], **condition: str) -> str:
        """PutObject of the marker with IfNoneMatch or IfMatch; returns the new ETag."""
        response = self._s3.put_object(
            Bucket=self.bucket,
            Key=self.key(window_key),
            Body=json.dumps(record).encode(),
            ContentType="application/json",
            **condition,
        )
        return str(response["ETag"])


def is_conflict(exc: ClientError) -> bool:
    """412 (the condition failed) or 409 (a concurrent conditional write is in flight)."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return exc.response.get("Error", {}).get("Code") in _CONFLICT_CODES or status in (409, 412)
