"""Tags and a description per model version (as MLflow has both), changeable after publishing.

A version's files are immutable, so what training set (`--tag`, `--description`) lives in
its metadata.json, and later changes live beside it in one small document per version,
changed by compare-and-swap like an alias (a concurrent edit is retried on fresh state,
never lost):

    models/<name>/tags/v<N>.json   {"version": N, "tags": {...}, "description": "...",
                                    "updated_at": ..., "updated_by": ...}

Once that document exists it holds the version's whole current state; until then the
metadata's is current.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from modelops.errors import StaleAliasError
from modelops.registry import ModelRegistry, default_actor, utc_now

TAG_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")
MAX_TAG_VALUE = 1000
MAX_DESCRIPTION = 5000
_CAS_ATTEMPTS = 5


def validate_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags, or ValueError naming the first bad key or value."""
    for key, value in tags.items():
        if not TAG_KEY_PATTERN.match(key):
            raise ValueError(
                f"tag key {key!r} is invalid: 1 to 128 of letters, digits and _ . : / -"
            )
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            raise ValueError(
                f"tag {key!r}: the value must be a string of at most {MAX_TAG_VALUE} characters"
            )
    return dict(tags)


def validate_description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise ValueError(
            f"a description has at most {MAX_DESCRIPTION} characters, got {len(description)}"
        )
    return description


@dataclass(frozen=True)
class VersionNotes:
    tags: dict[str, str]
    description: str | None
    etag: str | None  # of the tags document; None while the metadata's state is current


class VersionTags:
    """Reads and changes the tags and description of a registry's versions."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    @staticmethod
    def key(name: str, version: int) -> str:
        return f"{ModelRegistry.model_prefix(name)}tags/v{int(version)}.json"

    def get(
        self, name: str, version: int, metadata: Mapping[str, Any] | None = None
    ) -> VersionNotes:
        s3, bucket = self.registry.s3, self.registry.bucket
        try:
            obj = s3.get_object(Bucket=bucket, Key=self.key(name, version))
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
                raise
            meta = metadata if metadata is not None else self.registry.get_metadata(name, version)
            return VersionNotes(dict(meta.get("tags") or {}), meta.get("description"), None)
        doc = json.loads(obj["Body"].read())
        return VersionNotes(dict(doc.get("tags") or {}), doc.get("description"), obj["ETag"])

    def update(
        self,
        name: str,
        version: int,
        *,
        set_tags: Mapping[str, str] | None = None,
        unset: Iterable[str] = (),
        description: str | None = None,
        actor: str | None = None,
    ) -> VersionNotes:
        """Apply the change to the current state; retried on a concurrent change."""
        metadata = self.registry.get_metadata(name, version)  # ModelNotFoundError if none
        set_tags = validate_tags(set_tags or {})
        validate_description(description)
        for _ in range(_CAS_ATTEMPTS):
            current = self.get(name, version, metadata)
            tags = {k: v for k, v in current.tags.items() if k not in set(unset)} | set_tags
            new_description = description if description is not None else current.description
            doc = {
                "version": int(version),
                "tags": tags,
                "description": new_description,
                "updated_at": utc_now(),
                "updated_by": actor or default_actor(),
            }
            condition = {"IfMatch": current.etag} if current.etag else {"IfNoneMatch": "*"}
            try:
                response = self.registry.s3.put_object(
                    Bucket=self.registry.bucket,
                    Key=self.key(name, version),
                    Body=json.dumps(doc, indent=2, sort_keys=True).encode(),
                    ContentType="application/json",
                    **condition,
                )
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status in (409, 412):
                    continue
                raise
            return VersionNotes(tags, new_description, response["ETag"])
        raise StaleAliasError(
            f"the tags of {name!r} v{version} kept changing concurrently; try again"
        )
