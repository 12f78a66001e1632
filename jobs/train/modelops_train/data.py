"""Where training data comes from: the seam between "which rows" and "how to train".

A `TrainingDataSource` loads one table (a pandas DataFrame) plus where it came from, and may
suggest the dataset spec (target, features, categorical) when it knows it, as the feedback
source does from the champion's metadata. Sources:

- `FileDataSource`: CSV or Parquet from a local path or an `s3://bucket/key` URI.
- `FrameDataSource`: a DataFrame already in memory (tests, notebooks).
- `FeedbackDataSource` (modelops_train.feedback): captured inputs joined with ground-truth
  feedback, what `modelops train --from-feedback` and retraining runs use.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlparse

import pandas as pd
from botocore.exceptions import ClientError

from modelops import aws
from modelops.errors import Problem
from modelops_train.errors import DataNotFoundError, InvalidTrainingData

SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


@dataclass(frozen=True)
class TrainingData:
    """A loaded table, where it came from, and the spec the source suggests (if any)."""

    frame: pd.DataFrame
    uri: str
    target: str | None = None
    features: tuple[str, ...] | None = None
    categorical: tuple[str, ...] | None = None
    optional: tuple[str, ...] | None = None
    details: dict[str, Any] | None = None  # source-specific lineage (e.g. joined row counts)


@runtime_checkable
class TrainingDataSource(Protocol):
    """Anything that can load a training table."""

    @property
    def uri(self) -> str:
        """Where the data comes from, recorded in the model's lineage."""
        ...

    def load(self) -> TrainingData: ...


@dataclass(frozen=True)
class FrameDataSource:
    frame: pd.DataFrame
    uri: str = "memory://dataframe"

    def load(self) -> TrainingData:
        return TrainingData(frame=self.frame, uri=self.uri)


@dataclass(frozen=True)
class FileDataSource:
    """CSV or Parquet (by suffix) from a local path or an s3:// URI (via modelops.aws)."""

    uri: str
    s3_client: Any = None

    def load(self) -> TrainingData:
        return TrainingData(frame=read_table(self.uri, s3_client=self.s3_client), uri=self.uri)


def read_table(uri: str, *, s3_client: Any = None) -> pd.DataFrame:
    lowered = uri.lower()
    if not lowered.endswith(SUPPORTED_SUFFIXES):
        raise InvalidTrainingData(
            f"cannot read {uri!r}: the file name must end in one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    is_parquet = lowered.endswith((".parquet", ".pq"))
    source: Any
    if lowered.startswith("s3://"):
        source = io.BytesIO(_read_s3(uri, s3_client))
    else:
        path = Path(uri)
        if not path.is_file():
            raise DataNotFoundError(f"training data {uri!r} does not exist or is not a file")
        source = path
    gzipped = lowered.endswith(".gz")
    try:
        if is_parquet:
            return pd.read_parquet(source)
        # pandas renames a repeated header ("age", "age.1"): read the header first and refuse.
        _refuse_duplicate_header(uri, _csv_header(source, gzipped))
        if isinstance(source, io.BytesIO):
            source.seek(0)
        return pd.read_csv(source, compression="gzip" if gzipped else None)
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        if isinstance(exc, InvalidTrainingData):
            raise
        kind = "Parquet" if is_parquet else "CSV"
        raise InvalidTrainingData(f"cannot read {uri!r} as {kind}: {exc}") from None


def _csv_header(source: Path | io.BytesIO, gzipped: bool) -> list[str]:
    """The first CSV record (quoted names with commas or newlines read correctly)."""
    raw: Any = source.open("rb") if isinstance(source, Path) else source
    try:
        stream = gzip.GzipFile(fileobj=raw) if gzipped else raw
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
        header = next(csv.reader(text), [])
        text.detach()
        return header
    finally:
        if isinstance(source, Path):
            raw.close()


def _refuse_duplicate_header(uri: str, header: list[str]) -> None:
    repeated = {name: n for name, n in Counter(header).items() if n > 1}
    if not repeated:
        return
    problems = [
        Problem(
            f"the column name appears {n} times (columns "
            + ", ".join(str(i + 1) for i, h in enumerate(header) if h == name)
            + "); every column needs its own name",
            field=name,
        )
        for name, n in repeated.items()
    ]
    raise InvalidTrainingData(f"invalid training data: duplicate column names in {uri!r}", problems)


def _read_s3(uri: str, s3_client: Any) -> bytes:
    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket or not key:
        raise InvalidTrainingData(f"{uri!r} is not an s3://bucket/key URI")
    client = s3_client if s3_client is not None else aws.client("s3")
    try:
        body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise DataNotFoundError(f"cannot read {uri!r}: {code or 'S3 error'}") from None
    return body


def as_source(data: str | Path | pd.DataFrame | TrainingDataSource) -> TrainingDataSource:
    """What TrainOptions.data accepts, as a source."""
    if isinstance(data, pd.DataFrame):
        return FrameDataSource(data)
    if isinstance(data, (str, Path)):
        return FileDataSource(str(data))
    if isinstance(data, TrainingDataSource):
        return data
    raise TypeError(
        f"training data must be a path, an s3:// URI, a DataFrame or a TrainingDataSource, got {type(data).__name__}"
    )
