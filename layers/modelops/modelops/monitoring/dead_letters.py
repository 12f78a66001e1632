"""Captured records waiting in the dead-letter prefix (capture-dlq/<name>/YYYY/MM/DD/HH/):
what PredictFunction could not deliver to its sink. Every report counts them; a direct
invocation of MonitorFunction with {"action": "replay-capture-dead-letters"} replays them.

Replay moves each dead-letter object's lines into capture/<name>/ under the hour partition
of each record's inferenceTime (so the monitor's windows find them, and a re-run of a past
window includes them), as `replayed-<dead-letter object name>`, then deletes the dead-letter
object. The write is a conditional create of a name derived from the dead-letter object, so
a replay interrupted between write and delete, then run again, never duplicates a record.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from modelops.capture import dead_letter_prefix
from modelops.monitoring.objects import hour_partition, iter_line_batches, parse_time

REPLAY_ACTION = "replay-capture-dead-letters"


@dataclass(frozen=True)
class DeadLetterCount:
    objects: int
    records: int


def is_replay_event(event: Any) -> bool:
    return isinstance(event, dict) and event.get("action") == REPLAY_ACTION


def dead_letter_keys(s3: Any, bucket: str, model_name: str) -> Iterator[str]:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=dead_letter_prefix(model_name)):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def count_dead_letters(s3: Any, bucket: str, model_name: str) -> DeadLetterCount:
    """How many records wait to be replayed (each object's lines are read, streamed)."""
    objects = records = 0
    for key in dead_letter_keys(s3, bucket, model_name):
        objects += 1
        records += sum(len(batch) for batch in iter_line_batches(s3, bucket, key))
    return DeadLetterCount(objects, records)


def replay_dead_letters(s3: Any, bucket: str, model_name: str) -> dict[str, int]:
    """Move every dead-letter record into the capture prefix; returns what was moved."""
    objects = records = 0
    capture = f"capture/{model_name}/"
    for key in list(dead_letter_keys(s3, bucket, model_name)):
        by_partition: dict[str, list[bytes]] = defaultdict(list)
        fallback = _key_hour(key, model_name)
        for batch in iter_line_batches(s3, bucket, key):
            for line in batch:
                when = _record_time(line) or fallback
                by_partition[hour_partition(capture, when)].append(line)
        name = key.rsplit("/", 1)[-1]
        for partition, lines in by_partition.items():
            _create(s3, bucket, f"{partition}replayed-{name}", b"".join(x + b"\n" for x in lines))
            records += len(lines)
        s3.delete_object(Bucket=bucket, Key=key)
        objects += 1
    return {"objects": objects, "records": records}


def _create(s3: Any, bucket: str, key: str, body: bytes) -> None:
    try:
        s3.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson", IfNoneMatch="*"
        )
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status not in (409, 412):  # 412: an interrupted replay already wrote it
            raise


def _record_time(line: bytes) -> datetime | None:
    try:
        return parse_time(json.loads(line)["eventMetadata"]["inferenceTime"])
    except (ValueError, KeyError, TypeError):
        return None  # unreadable: replayed under the hour it was spilled in


def _key_hour(key: str, model_name: str) -> datetime:
    parts = key[len(dead_letter_prefix(model_name)) :].split("/")
    try:
        year, month, day, hour = (int(p) for p in parts[:4])
        return datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError:  # not a YYYY/MM/DD/HH key (unpacking too few also raises ValueError)
        return datetime.now(UTC)
