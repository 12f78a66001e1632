"""Read the captured JSON Lines as Athena would read the Glue tables of template.yaml.

The tables (`CapturesTable`, `FeedbackTable`) declare Hive column types and a partition
projection; here the same objects are read with exactly those declarations: each key must
fit the table's `storage.location.template` with an `hour` in its projected format, each
record's fields are cast to the declared types (a value that does not fit is an error, as
a wrong declaration would give NULLs or failed queries in Athena), and fields the table does
not declare are reported (the JSON SerDe would silently drop them).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from embedded_aws.template import load_template, resolve

_PRIMITIVES = {"string", "int", "bigint", "double", "float", "boolean"}
_INT_RANGE = {"int": 2**31, "bigint": 2**63}
# Java date pattern letters of projection.<key>.format -> strptime
_DATE_PATTERN = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


@dataclass(frozen=True)
class HiveType:
    kind: str  # a primitive, "struct", "map" or "array"
    fields: tuple[
        tuple[str, HiveType], ...
    ] = ()  # struct fields; map: (key, value); array: (item,)


def parse_type(text: str) -> HiveType:
    parsed, rest = _parse(text.replace(" ", ""))
    if rest:
        raise ValueError(f"unexpected {rest!r} after a type in {text!r}")
    return parsed


def _parse(text: str) -> tuple[HiveType, str]:
    match = re.match(r"(struct|map|array)<", text)
    if match is None:
        name = re.match(r"[a-z]+", text)
        if name is None or name.group(0) not in _PRIMITIVES:
            raise ValueError(f"unsupported Hive type at {text!r}")
        return HiveType(name.group(0)), text[name.end() :]
    kind, rest = match.group(1), text[match.end() :]
    parts: list[tuple[str, HiveType]] = []
    while True:
        label = ""
        if kind == "struct":
            label, _, rest = rest.partition(":")
        inner, rest = _parse(rest)
        parts.append((label, inner))
        if rest.startswith(","):
            rest = rest[1:]
            continue
        if not rest.startswith(">"):
            raise ValueError(f"expected '>' at {rest!r}")
        return HiveType(kind, tuple(parts)), rest[1:]


def cast(value: Any, hive: HiveType, where: str, extra: set[str]) -> Any:
    """`value` as the JSON SerDe gives it for `hive`; TypeError if it cannot be."""
    if value is None:
        return None
    kind = hive.kind
    if kind == "string":
        if isinstance(value, (dict, list)):
            raise TypeError(f"{where}: a string column holds {type(value).__name__}")
        return str(value).lower() if isinstance(value, bool) else str(value)
    if kind in _INT_RANGE:
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= _INT_RANGE[kind]:
            raise TypeError(f"{where}: an {kind} column holds {value!r}")
        return value
    if kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{where}: a {kind} column holds {value!r}")
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise TypeError(f"{where}: a boolean column holds {value!r}")
        return value
    if kind == "array":
        if not isinstance(value, list):
            raise TypeError(f"{where}: an array column holds {type(value).__name__}")
        return [cast(v, hive.fields[0][1], f"{where}[{i}]", extra) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        raise TypeError(f"{where}: a {kind} column holds {type(value).__name__}")
    if kind == "map":
        (_, key_type), (_, value_type) = hive.fields
        return {
            cast(k, key_type, f"{where} key", extra): cast(v, value_type, f"{where}[{k!r}]", extra)
            for k, v in value.items()
        }
    return struct(value, dict(hive.fields), where, extra)


def struct(
    record: Mapping[str, Any], fields: Mapping[str, HiveType], where: str, extra: set[str]
) -> dict[str, Any]:
    """The declared fields of a JSON object (matched case-insensitively, as the OpenX JSON
    SerDe does); its undeclared ones are added to `extra`."""
    by_lower = {k.lower(): k for k in record}
    extra.update(f"{where}.{k}".lstrip(".") for k in record if k.lower() not in fields)
    return {
        name: cast(record.get(by_lower.get(name, name)), hive, f"{where}.{name}".lstrip("."), extra)
        for name, hive in fields.items()
    }


@dataclass
class TableRead:
    rows: list[dict[str, Any]] = field(default_factory=list)
    undeclared: set[str] = field(default_factory=set)
    keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GlueTable:
    name: str
    columns: dict[str, HiveType]
    partition: str
    partition_format: str  # strptime format of the projected partition
    location: str  # s3://bucket/prefix/ with ${partition}

    @classmethod
    def from_template(
        cls, logical_id: str, refs: Mapping[str, Any], template: dict[str, Any] | None = None
    ) -> GlueTable:
        doc = template or load_template()
        table = resolve(doc["Resources"][logical_id]["Properties"]["TableInput"], dict(refs), doc)
        (partition,) = [p["Name"] for p in table["PartitionKeys"]]
        params = table["Parameters"]
        if params.get(f"projection.{partition}.type") != "date":
            raise ValueError(f"{logical_id}: expected a date projection of {partition}")
        java = params[f"projection.{partition}.format"]
        for pattern, code in _DATE_PATTERN.items():
            java = java.replace(pattern, code)
        return cls(
            name=table["Name"],
            columns={
                c["Name"]: parse_type(c["Type"]) for c in table["StorageDescriptor"]["Columns"]
            },
            partition=partition,
            partition_format=java,
            location=params["storage.location.template"],
        )

    def read(self, s3: Any) -> TableRead:
        """Every record under the table's location, cast to the declared columns."""
        prefix_url, _, _ = self.location.partition("${" + self.partition + "}")
        bucket, _, prefix = prefix_url.removeprefix("s3://").partition("/")
        pattern = re.compile(re.escape(prefix) + r"(?P<p>.+)/[^/]+$")
        result = TableRead()
        for key in _keys(s3, bucket, prefix):
            match = pattern.fullmatch(key)
            if match is None:
                raise ValueError(f"{key} is not under {self.location}")
            # strict: the projection only finds partitions written in exactly this format
            value = match.group("p")
            datetime.strptime(value, self.partition_format)
            result.keys.append(key)
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            if key.endswith(".gz") or body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            for line in body.decode().splitlines():
                if line.strip():
                    row = struct(json.loads(line), self.columns, "", result.undeclared)
                    row[self.partition] = value
                    result.rows.append(row)
        return result


def _keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"]
