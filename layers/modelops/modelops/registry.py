"""The S3 model registry: immutable versions, aliases changed by compare-and-swap, history.

Layout under the bucket (the public contract, docs/REGISTRY.md explains the why):

    models/<name>/v<N>/_reservation.json   claims version N (conditional create)
    models/<name>/v<N>/model.onnx          immutable
    models/<name>/v<N>/metadata.json       immutable; written last: a version exists once it does
    models/<name>/aliases/<alias>.json     {"version": N, "sequence": k, ...}
    models/<name>/history/<alias>/<k>.json one record per alias change, append-only

Every write that must not overwrite uses S3 conditional writes: `IfNoneMatch="*"` to create
(version reservation, immutable objects, history records) and `IfMatch=<etag>` to change an
alias only if nobody changed it since it was read.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from modelops import aws
from modelops.config import validate_model_name
from modelops.errors import (
    IntegrityError,
    ModelNotFoundError,
    NoChampionError,
    RolloutError,
    StaleAliasError,
)

CHAMPION = "champion"
CHALLENGER = "challenger"
ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_VERSION_DIR = re.compile(r"/v(\d+)/$")
# How many higher numbers to try when concurrent publishers race for the same version.
_MAX_RESERVATION_ATTEMPTS = 100
# 412: the condition failed. 409: a concurrent conditional write to the same key is in flight.
_CONFLICT_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_actor() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_conflict(exc: ClientError) -> bool:
    err = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return err.get("Code") in _CONFLICT_CODES or status in (409, 412)


def _is_missing(exc: ClientError) -> bool:
    err = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return err.get("Code") in {"NoSuchKey", "404", "NotFound"} or status == 404


@dataclass(frozen=True)
class AliasState:
    """An alias as read: the record and the ETag a compare-and-swap must match."""

    alias: str
    version: int
    sequence: int
    etag: str
    record: dict[str, Any]


def _alias_state(alias: str, response: dict[str, Any]) -> AliasState:
    try:
        record = json.loads(response["Body"].read())
        return AliasState(
            alias, int(record["version"]), int(record.get("sequence", 0)), response["ETag"], record
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        # Not JSON, not an object, or no integer version: a clear error callers can count,
        # never a bare JSONDecodeError or KeyError.
        raise ValueError(
            f"alias {alias!r} is unreadable: expected a JSON object with an integer version"
        ) from None


@dataclass(frozen=True)
class PublishedVersion:
    name: str
    version: int
    model_key: str
    metadata_key: str
    sha256: str


class RegistryLayout:
    """Where a registry's objects live under the bucket (the layout in the module's doc)."""

    @staticmethod
    def model_prefix(name: str) -> str:
        return f"models/{validate_model_name(name)}/"

    @classmethod
    def version_prefix(cls, name: str, version: int) -> str:
        return f"{cls.model_prefix(name)}v{int(version)}/"

    @classmethod
    def model_key(cls, name: str, version: int) -> str:
        return cls.version_prefix(name, version) + "model.onnx"

    @classmethod
    def metadata_key(cls, name: str, version: int) -> str:
        return cls.version_prefix(name, version) + "metadata.json"

    @classmethod
    def alias_key(cls, name: str, alias: str) -> str:
        if not ALIAS_PATTERN.match(alias):
            raise ValueError(f"alias {alias!r} is invalid: use lowercase letters, digits and '-'")
        return f"{cls.model_prefix(name)}aliases/{alias}.json"

    @classmethod
    def history_key(cls, name: str, alias: str, sequence: int) -> str:
        return f"{cls.model_prefix(name)}history/{alias}/{sequence:08d}.json"


class RegistryStore(RegistryLayout):
    """One bucket's registry objects: the client, and the create and read every record
    goes through."""

    def __init__(self, bucket: str, *, s3_client: Any | None = None) -> None:
        if not bucket:
            raise ValueError("the registry needs a bucket name")
        self.bucket = bucket
        self._s3 = s3_client if s3_client is not None else aws.client("s3")

    @property
    def s3(self) -> Any:
        """The S3 client this registry uses (for documents kept beside it, e.g. tags)."""
        return self._s3

    def _create(self, key: str, body: bytes, content_type: str) -> None:
        """Create `key`, never replace it: IfNoneMatch="*" (the bucket policy denies any
        PutObject to version and history keys without it)."""
        self._s3.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*"
        )

    def _get(self, key: str, **conditions: str) -> dict[str, Any] | None:
        """GetObject, or None when the key does not exist (other errors propagate)."""
        try:
            response: dict[str, Any] = self._s3.get_object(
                Bucket=self.bucket, Key=key, **conditions
            )
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise
        return response


class VersionRegistry(RegistryStore):
    """Models and their immutable versions: reserved, published, read."""

    def list_models(self) -> list[str]:
        """Names of the models that have anything under models/."""
        names: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix="models/", Delimiter="/"):
            names.extend(cp["Prefix"].split("/")[1] for cp in page.get("CommonPrefixes", []))
        return sorted(names)

    # ---- versions ----------------------------------------------------------------------
    def _version_dirs(self, name: str) -> list[int]:
        """Every claimed version number (published or not), from the v<N>/ prefixes."""
        numbers: list[int] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=self.bucket, Prefix=f"{self.model_prefix(name)}v", Delimiter="/"
        ):
            for cp in page.get("CommonPrefixes", []):
                m = _VERSION_DIR.search(cp["Prefix"])
                if m:
                    numbers.append(int(m.group(1)))
        return sorted(numbers)

    def list_versions(self, name: str) -> list[int]:
        """Published versions only: those whose metadata.json (the commit point) exists."""
        published: list[int] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.model_prefix(name)}v"):
            for obj in page.get("Contents", []):
                m = re.search(r"/v(\d+)/metadata\.json$", obj["Key"])
                if m:
                    published.append(int(m.group(1)))
        return sorted(published)

    def reserve_version(self, name: str, *, actor: str | None = None) -> int:
        """Claim the next unused version number; concurrent callers always get distinct ones.

        The claim is a conditional create of v<N>/_reservation.json: of two publishers that
        pick the same N, S3 lets exactly one create it and the other moves on to N+1.
        A claimed number is never reused, even if its publish is abandoned.
        """
        existing = self._version_dirs(name)
        candidate = (existing[-1] if existing else 0) + 1
        body = json.dumps(
            {"reserved_at": utc_now(), "reserved_by": actor or default_actor()}
        ).encode()
        for _ in range(_MAX_RESERVATION_ATTEMPTS):
            try:
                self._s3.put_object(
                    Bucket=self.bucket,
                    Key=self.version_prefix(name, candidate) + "_reservation.json",
                    Body=body,
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
                return candidate
            except ClientError as exc:
                if not _is_conflict(exc):
                    raise
                candidate += 1
        raise RuntimeError(
            f"could not reserve a version for {name!r} after {_MAX_RESERVATION_ATTEMPTS} attempts"
        )

    def publish(
        self,
        name: str,
        model_bytes: bytes,
        metadata: Mapping[str, Any],
        *,
        actor: str | None = None,
    ) -> PublishedVersion:
        """Publish a new immutable version: reserve N, write model.onnx, then metadata.json.

        metadata.json is written last and is what makes the version visible, so a reader
        never sees a half-published version. If writing it fails, model.onnx stays behind,
        invisible (no metadata) under a number that is never reused: the bucket policy lets
        nobody delete a version's objects (docs/REGISTRY.md). The metadata is checked to be
        strict JSON before a number is reserved, so bad metadata costs no version number.
        `name`, `version`, sha256 and size are filled in here so they cannot disagree.
        """
        json.dumps(dict(metadata), allow_nan=False)  # ValueError now, not after reserving
        digest = sha256_hex(model_bytes)
        for _ in range(_MAX_RESERVATION_ATTEMPTS):
            version = self.reserve_version(name, actor=actor)
            model_key = self.model_key(name, version)
            try:
                self._create(model_key, model_bytes, "application/octet-stream")
                break
            except ClientError as exc:
                # The number's model.onnx exists: another publisher holds N too (a store whose
                # conditional writes are not atomic, like moto under threads). Take the next.
                if not _is_conflict(exc):
                    raise
        else:
            raise RuntimeError(f"could not publish {name!r}: every reserved version was taken")
        document = dict(metadata)
        document["name"] = name
        document["version"] = version
        document["model_file"] = {
            "key": model_key,
            "sha256": digest,
            "size_bytes": len(model_bytes),
        }
        document.setdefault("published_at", utc_now())
        document.setdefault("published_by", actor or default_actor())
        self._create(
            self.metadata_key(name, version),
            json.dumps(document, indent=2, sort_keys=True, allow_nan=False).encode(),
            "application/json",
        )
        return PublishedVersion(name, version, model_key, self.metadata_key(name, version), digest)

    def get_metadata(self, name: str, version: int) -> dict[str, Any]:
        obj = self._get(self.metadata_key(name, version))
        if obj is None:
            raise ModelNotFoundError(f"model {name!r} has no published version {version}")
        result: dict[str, Any] = json.loads(obj["Body"].read())
        return result

    def get_model_bytes(self, name: str, version: int, *, expected_sha256: str) -> bytes:
        """model.onnx of a version, verified against the sha256 its metadata recorded."""
        obj = self._get(self.model_key(name, version))
        if obj is None:
            raise ModelNotFoundError(f"model {name!r} version {version} has no model.onnx")
        data: bytes = obj["Body"].read()
        actual = sha256_hex(data)
        if actual != expected_sha256:
            raise IntegrityError(
                f"model {name!r} version {version}: model.onnx sha256 is {actual}, metadata says {expected_sha256}"
            )
        return data


class ModelRegistry(VersionRegistry):
    """Reads and writes one bucket's registry: its versions (VersionRegistry) and, here, its
    aliases, changed by compare-and-swap, with the history of every change. Safe to share
    across invocations."""

    def get_alias(self, name: str, alias: str = CHAMPION) -> AliasState | None:
        obj = self._get(self.alias_key(name, alias))
        return None if obj is None else _alias_state(alias, obj)

    def list_aliases(self, name: str) -> list[str]:
        """Names of the aliases the model has (champion, challenger, ...)."""
        prefix = f"{self.model_prefix(name)}aliases/"
        names: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"].removeprefix(prefix)
                if key.endswith(".json") and "/" not in key:
                    names.append(key.removesuffix(".json"))
        return sorted(names)

    def get_alias_if_changed(self, name: str, alias: str, etag: str | None) -> AliasState | None:
        """A conditional GET: None when the alias still has `etag` (cheap refresh checks).

        Raises NoChampionError-like ModelNotFoundError when the alias does not exist.
        """
        try:
            obj = self._get(self.alias_key(name, alias), **({"IfNoneMatch": etag} if etag else {}))
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 304 or exc.response.get("Error", {}).get("Code") in {"304", "NotModified"}:
                return None
            raise
        if obj is None:
            raise self._missing_alias(name, alias)
        return _alias_state(alias, obj)

    @staticmethod
    def _missing_alias(name: str, alias: str) -> ModelNotFoundError:
        if alias == CHAMPION:
            return NoChampionError(
                f"model {name!r} has no champion yet: train and promote a version first"
            )
        return ModelNotFoundError(f"model {name!r} has no alias {alias!r}")

    def resolve(self, name: str, alias: str = CHAMPION) -> int:
        state = self.get_alias(name, alias)
        if state is None:
            raise self._missing_alias(name, alias)
        return state.version

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        expected: AliasState | None,
        reason: str,
        actor: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AliasState:
        """Point `alias` at `version` if it is still as `expected` (None: it must not exist).

        Raises StaleAliasError if someone changed the alias in between; nothing is written
        then. On success, appends the change to the history.
        """
        if version not in self.list_versions(name):
            raise ModelNotFoundError(f"model {name!r} has no published version {version}")
        sequence = (expected.sequence if expected else 0) + 1
        record: dict[str, Any] = {
            "model": name,
            "alias": alias,
            "version": int(version),
            "previous_version": expected.version if expected else None,
            "sequence": sequence,
            "updated_at": utc_now(),
            "updated_by": actor or default_actor(),
            "reason": reason,
        }
        if details:
            record["details"] = dict(details)
        body = json.dumps(record, indent=2, sort_keys=True).encode()
        condition = {"IfMatch": expected.etag} if expected else {"IfNoneMatch": "*"}
        try:
            resp = self._s3.put_object(
                Bucket=self.bucket,
                Key=self.alias_key(name, alias),
                Body=body,
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            if _is_conflict(exc) or _is_missing(exc):
                was = (
                    f"v{expected.version} (sequence {expected.sequence})" if expected else "absent"
                )
                raise StaleAliasError(
                    f"alias {alias!r} of model {name!r} changed since it was read (expected {was}); "
                    "read it again and retry"
                ) from None
            raise
        # The alias changed; record it. A history record is created, never overwritten.
        self._create(self.history_key(name, alias, sequence), body, "application/json")
        return AliasState(alias, int(version), sequence, resp["ETag"], record)

    def history(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        """Every recorded alias change, oldest first."""
        prefix = f"{self.model_prefix(name)}history/" + (f"{alias}/" if alias else "")
        records: list[dict[str, Any]] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                body = self._s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                records.append(json.loads(body))
        records.sort(key=lambda r: (r["updated_at"], r["alias"], r["sequence"]))
        return records


# ---- the challenger stage ----------------------------------------------------------------
# A challenger is the `challenger` alias with a rollout record in its details. It is never
# deleted: when its rollout ends (promoted, rejected, aborted, superseded) the alias is
# rewritten by the same compare-and-swap with that status, so ending it is as safe against
# races as starting it, and the next challenger swaps against that record.
ROLLOUT_MODES = ("shadow", "canary")
ACTIVE = "active"
END_STATUSES = ("promoted", "rejected", "aborted", "superseded")


@dataclass(frozen=True)
class RolloutRule:
    """What decides a challenger: promoted when its primary metric is not worse than the
    champion's by more than `margin` with `confidence`, once `min_labeled_rows` labeled rows
    were seen; rejected when confidently worse by more than the margin, when more than
    `max_error_rate` of its scorings failed, or when still undecided after `max_age_hours`."""

    margin: float = 0.01
    confidence: float = 0.95
    min_labeled_rows: int = 200
    max_age_hours: float = 72.0
    max_error_rate: float = 0.01

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.margin < 1:
            problems.append(f"margin must be in [0, 1), got {self.margin}")
        if not 0.5 <= self.confidence < 1:
            problems.append(f"confidence must be in [0.5, 1), got {self.confidence}")
        if self.min_labeled_rows < 1:
            problems.append(f"min_labeled_rows must be >= 1, got {self.min_labeled_rows}")
        if not self.max_age_hours > 0:
            problems.append(f"max_age_hours must be > 0, got {self.max_age_hours}")
        if not 0 <= self.max_error_rate < 1:
            problems.append(f"max_error_rate must be in [0, 1), got {self.max_error_rate}")
        if problems:
            raise RolloutError("invalid rollout rule: " + "; ".join(problems))

    def as_dict(self) -> dict[str, Any]:
        return {
            "margin": self.margin,
            "confidence": self.confidence,
            "min_labeled_rows": self.min_labeled_rows,
            "max_age_hours": self.max_age_hours,
            "max_error_rate": self.max_error_rate,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RolloutRule:
        default = cls()
        return cls(
            margin=float(data.get("margin", default.margin)),
            confidence=float(data.get("confidence", default.confidence)),
            min_labeled_rows=int(data.get("min_labeled_rows", default.min_labeled_rows)),
            max_age_hours=float(data.get("max_age_hours", default.max_age_hours)),
            max_error_rate=float(data.get("max_error_rate", default.max_error_rate)),
        )


@dataclass(frozen=True)
class Challenger:
    """The challenger alias as read: its version, rollout and status, and the alias state
    (ETag) every change of it must swap against."""

    version: int
    status: str
    mode: str
    weight: float
    started_at: str
    rule: RolloutRule
    champion_version: int | None
    state: AliasState

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    def age(self, now: datetime) -> timedelta:
        return now - datetime.fromisoformat(self.started_at.replace("Z", "+00:00"))

    def expired(self, now: datetime) -> bool:
        return self.age(now) >= timedelta(hours=self.rule.max_age_hours)

    def rollout(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "weight": self.weight,
            "started_at": self.started_at,
            "rule": self.rule.as_dict(),
            "champion_version": self.champion_version,
        }

    @classmethod
    def from_state(cls, state: AliasState) -> Challenger:
        details = state.record.get("details") or {}
        rollout = details.get("rollout") or {}
        return cls(
            version=state.version,
            # A challenger alias written without a rollout (by hand) is treated as ended.
            status=str(details.get("status", "aborted" if not rollout else ACTIVE)),
            mode=str(rollout.get("mode", "shadow")),
            weight=float(rollout.get("weight", 1.0)),
            started_at=str(rollout.get("started_at", state.record.get("updated_at", ""))),
            rule=RolloutRule.from_dict(rollout.get("rule") or {}),
            champion_version=rollout.get("champion_version"),
            state=state,
        )


class ChallengerStage:
    """Start, read and end the challenger of a model, by compare-and-swap on its alias."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    def read(self, name: str) -> Challenger | None:
        """The challenger alias whatever its status (None if there never was one)."""
        state = self.registry.get_alias(name, CHALLENGER)
        return None if state is None else Challenger.from_state(state)

    def get(self, name: str) -> Challenger | None:
        """The active challenger, or None."""
        current = self.read(name)
        return current if current is not None and current.active else None

    def start(
        self,
        name: str,
        version: int,
        *,
        mode: str = "shadow",
        weight: float | None = None,
        rule: RolloutRule | None = None,
        reason: str,
        replace: bool = False,
        actor: str | None = None,
        now: datetime | None = None,
    ) -> Challenger:
        """Make `version` the challenger. An active challenger is only superseded when
        `replace` is set (recorded in the reason). Raises RolloutError for a bad request and
        StaleAliasError when the challenger or champion changed meanwhile."""
        if mode not in ROLLOUT_MODES:
            raise RolloutError(f"mode must be one of {', '.join(ROLLOUT_MODES)}, got {mode!r}")
        # Shadow scores every request by default; a canary starts small.
        weight = (1.0 if mode == "shadow" else 0.1) if weight is None else float(weight)
        if not 0 < weight <= 1:
            raise RolloutError(f"weight must be in (0, 1], got {weight}")
        rule = rule or RolloutRule()
        champion = self.registry.get_alias(name, CHAMPION)
        if champion is None:
            raise NoChampionError(
                f"model {name!r} has no champion yet: a challenger needs one to be compared with"
            )
        if champion.version == version:
            raise RolloutError(f"version {version} is already the champion of {name!r}")
        current = self.registry.get_alias(name, CHALLENGER)
        if current is not None and Challenger.from_state(current).active:
            if not replace:
                raise RolloutError(
                    f"model {name!r} already has challenger v{current.version} in "
                    f"{Challenger.from_state(current).mode}: abort it first (or replace it)"
                )
            reason = f"{reason} (supersedes challenger v{current.version})"
        rollout = {
            "mode": mode,
            "weight": weight,
            "started_at": utc_from(now),
            "rule": rule.as_dict(),
            "champion_version": champion.version,
        }
        state = self.registry.set_alias(
            name,
            CHALLENGER,
            version,
            expected=current,
            reason=reason,
            actor=actor,
            details={"status": ACTIVE, "rollout": rollout},
        )
        return Challenger.from_state(state)

    def end(
        self,
        name: str,
        challenger: Challenger,
        *,
        status: str,
        reason: str,
        decision: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> Challenger:
        """End the rollout of `challenger` (as read) with `status`; StaleAliasError if the
        challenger changed since it was read (someone else decided or replaced it)."""
        if status not in END_STATUSES:
            raise RolloutError(f"status must be one of {', '.join(END_STATUSES)}, got {status!r}")
        if not challenger.active:
            raise RolloutError(
                f"challenger v{challenger.version} of {name!r} is already {challenger.status}"
            )
        details: dict[str, Any] = {"status": status, "rollout": challenger.rollout()}
        if decision:
            details["decision"] = dict(decision)
        state = self.registry.set_alias(
            name,
            CHALLENGER,
            challenger.version,
            expected=challenger.state,
            reason=reason,
            actor=actor,
            details=details,
        )
        return Challenger.from_state(state)


def utc_from(moment: datetime | None) -> str:
    """ISO 8601 UTC with milliseconds and Z, of `moment` (default now)."""
    if moment is None:
        return utc_now()
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
