"""Retraining: submit the training job when a window needs it, with safeguards.

Decision order (each outcome and its reason goes into the report's `retraining` block):

1. the window's status is not DRIFT or DEGRADED           -> not triggered
2. retraining is disabled by configuration                 -> not triggered
3. the window's marker says a job was submitted            -> not triggered (re-run)
   ... or another run claimed it and its claim has not expired -> not triggered
4. a training job for the model is queued or running       -> not triggered
5. the last trigger for the model is within the cooldown   -> not triggered
6. otherwise: claim the window's marker (state "pending"), submit the Batch job, record the
   job in the marker (state "submitted") and in the model's `last trigger` object, and put a
   `RetrainingRequested` event.

Markers live under `reports/<name>/retraining/`: `windows/<window>.json` (one per window)
and `last.json` (the most recent trigger, for the cooldown). A window's marker is claimed
by a conditional write: created with IfNoneMatch="*", or, when it holds a failed or expired
claim, replaced with IfMatch=<the ETag read>. Of two concurrent runs exactly one wins
either way. A submission that fails (SubmitJob refused, Batch unreachable) turns the claim
into state "failed", which the next run of the window retries at once; a run that dies
between claim and submission leaves a "pending" claim that expires after PENDING_TTL
(longer than the monitor's 15-minute timeout, so a live run's claim is never taken over).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from modelops.monitoring.markers import (
    FAILED,
    PENDING,
    PENDING_TTL,
    SUBMITTED,
    WindowMarker,
    WindowMarkers,
)
from modelops.monitoring.objects import iso_millis, parse_time
from modelops.monitoring.window import Window

ACTIVE_JOB_STATES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
TRIGGER_STATUSES = ("DRIFT", "DEGRADED")
EVENT_SOURCE = "modelops.monitor"
EVENT_DETAIL_TYPE = "RetrainingRequested"
# Characters of a submission error kept in the marker and the report.
_MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class RetrainingSettings:
    enabled: bool
    job_queue: str
    job_definition: str
    cooldown: timedelta
    lookback: timedelta
    event_bus: str = "default"
    promote: str = "challenger"  # the new version earns its traffic (modelops.rollout)
    include_data: str | None = None  # earlier data to train on too (a URI), if any


def job_name_prefix(model_name: str) -> str:
    """Batch job names of retraining runs start with this (how running jobs are found)."""
    return f"modelops-retrain-{model_name}"


class RetrainingTrigger:
    def __init__(
        self,
        settings: RetrainingSettings,
        *,
        bucket: str,
        model_name: str,
        s3_client: Any,
        batch_client: Any,
        events_client: Any,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.bucket = bucket
        self.model_name = model_name
        self._s3 = s3_client
        self._batch = batch_client
        self._events = events_client
        self._clock = clock
        self._markers = WindowMarkers(s3_client, bucket, model_name)

    @property
    def _last_key(self) -> str:
        return f"reports/{self.model_name}/retraining/last.json"

    def decide_and_act(self, window: Window, summary: Mapping[str, Any]) -> dict[str, Any]:
        """The report's `retraining` block: whether a job was submitted, and why (not)."""
        status = summary["status"]
        if status not in TRIGGER_STATUSES:
            return _block(
                False, f"status is {status}: retraining is only for {' or '.join(TRIGGER_STATUSES)}"
            )
        if not self.settings.enabled:
            return _block(False, "retraining is disabled (RETRAINING_ENABLED=false)")
        now = self._clock()
        marker = self._markers.read(window.key)
        if marker is not None and not marker.retriable(now):
            return _blocked_by(marker)
        active = self._active_jobs()
        if active:
            job = active[0]
            return _block(
                False,
                f"a retraining job for {self.model_name} is still {job['status']} ({job['jobId']}): not submitting another",
                active_job_id=job["jobId"],
            )
        last = self._read_json(self._last_key)
        if last is not None:
            last_time = parse_time(last["triggered_at"])
            if now - last_time < self.settings.cooldown:
                until = last_time + self.settings.cooldown
                return _block(
                    False,
                    f"cooldown: last retraining was triggered at {iso_millis(last_time)}, next allowed after {iso_millis(until)}",
                    last_job_id=last.get("job_id"),
                )
        return self._trigger(window, summary, now, replacing=marker)

    def _trigger(
        self,
        window: Window,
        summary: Mapping[str, Any],
        now: datetime,
        *,
        replacing: WindowMarker | None,
    ) -> dict[str, Any]:
        marker: dict[str, Any] = {
            "window": window.as_dict(),
            "state": PENDING,
            "triggered_at": iso_millis(now),
            "expires_at": iso_millis(now + PENDING_TTL),
            "attempt": int(replacing.record.get("attempt", 1)) + 1 if replacing else 1,
            "status": summary["status"],
            "job_id": None,
        }
        etag = self._markers.claim(window.key, marker, replacing)
        if etag is None:
            return _block(False, "another run of this window claimed the retraining trigger first")
        # Train on every labeled capture of the lookback period up to this window's end.
        since = window.end - self.settings.lookback
        command = [
            "train", "--from-feedback", "--model-name", self.model_name,
            "--since", iso_millis(since), "--promote", self.settings.promote,
        ]  # fmt: skip
        if self.settings.include_data:
            command += ["--include-data", self.settings.include_data]
        job_name = f"{job_name_prefix(self.model_name)}-{window.key}"
        try:
            job = self._batch.submit_job(
                jobName=job_name[:128],
                jobQueue=self.settings.job_queue,
                jobDefinition=self.settings.job_definition,
                containerOverrides={"command": command},
                tags={"modelops:model": self.model_name, "modelops:window": window.key},
                propagateTags=True,
            )
        except (ClientError, BotoCoreError) as exc:
            return self._submission_failed(window, marker, etag, exc)
        job_id = job["jobId"]
        marker.update(state=SUBMITTED, job_id=job_id, command=command)
        marker.pop("expires_at", None)
        # The window's marker now names the job, replacing this run's own claim (a conflict
        # cannot happen while the claim is younger than PENDING_TTL); `last` drives the cooldown.
        self._markers.put(window.key, marker, IfMatch=etag)
        body = json.dumps(marker).encode()
        self._s3.put_object(
            Bucket=self.bucket, Key=self._last_key, Body=body, ContentType="application/json"
        )
        detail = {
            "model": summary.get("model"),
            "window": window.as_dict(),
            "status": summary["status"],
            "job": {
                "id": job_id,
                "name": job_name,
                "queue": self.settings.job_queue,
                "command": command,
            },
            "summary": {k: summary.get(k) for k in ("counts", "drift", "performance")},
        }
        response = self._events.put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": EVENT_DETAIL_TYPE,
                    "Detail": json.dumps(detail, allow_nan=False),
                    "EventBusName": self.settings.event_bus,
                    "Resources": [],
                }
            ]
        )
        event_ok = not response.get("FailedEntryCount")
        return _block(
            True,
            f"status {summary['status']}: submitted training job {job_name} on {self.settings.job_queue}",
            job_id=job_id,
            job_name=job_name,
            command=command,
            event_published=event_ok,
        )

    def _submission_failed(
        self, window: Window, marker: dict[str, Any], etag: str, exc: Exception
    ) -> dict[str, Any]:
        """Mark the claim failed so that the next run of the window retries at once."""
        error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
        failed = {**marker, "state": FAILED, "failed_at": iso_millis(self._clock()), "error": error}
        failed.pop("expires_at", None)
        # If even this write fails, the pending claim expires after PENDING_TTL instead.
        with suppress(ClientError, BotoCoreError):
            self._markers.put(window.key, failed, IfMatch=etag)
        return _block(
            False,
            f"submitting the training job failed ({error}); the next run of this window retries",
            submit_error=error,
            attempt=marker["attempt"],
        )

    def _active_jobs(self) -> list[dict[str, Any]]:
        prefix = job_name_prefix(self.model_name)
        active: list[dict[str, Any]] = []
        for state in ACTIVE_JOB_STATES:
            paginator = self._batch.get_paginator("list_jobs")
            for page in paginator.paginate(jobQueue=self.settings.job_queue, jobStatus=state):
                active += [
                    {"jobId": j["jobId"], "status": j.get("status", state)}
                    for j in page.get("jobSummaryList", [])
                    if j.get("jobName", "").startswith(prefix)
                    and j.get("status", state) in ACTIVE_JOB_STATES
                ]
        return active

    def _read_json(self, key: str) -> dict[str, Any] | None:
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise
        result: dict[str, Any] = json.loads(body)
        return result


def _blocked_by(marker: WindowMarker) -> dict[str, Any]:
    """The report block of a run stopped by its window's marker (submitted, or claimed)."""
    record = marker.record
    if marker.state == SUBMITTED:
        return _block(
            False,
            f"this window already triggered retraining at {record.get('triggered_at')} (job {record.get('job_id')})",
            job_id=record.get("job_id"),
        )
    return _block(
        False,
        f"another run claimed this window's retraining at {record.get('triggered_at')} "
        f"and is submitting it; the claim expires at {iso_millis(marker.expires_at())}",
    )


def _block(triggered: bool, reason: str, **extra: Any) -> dict[str, Any]:
    return {"triggered": triggered, "reason": reason, "job_id": extra.pop("job_id", None), **extra}
