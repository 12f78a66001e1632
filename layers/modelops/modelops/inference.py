"""One onnxruntime session per model version, and what it predicts.

Used by the predict function (serving), the training job (parity gate, promotion gate) and
the demo, so all of them read the model's outputs the same way. ONNX contract (written by
the training job): classification models output `label` [n] then `probabilities` [n, k]
in the order of the metadata's classes; regression models output one float tensor [n, 1].
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Must be set before onnxruntime is imported: no telemetry files under HOME (read-only on Lambda).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import onnxruntime as ort

from modelops.schema import ModelSchema, Task


@dataclass(frozen=True)
class Predictions:
    """Model outputs for n rows: labels and probabilities (classification) or values."""

    labels: np.ndarray | None = None  # [n] class labels, as in the metadata's classes
    probabilities: np.ndarray | None = None  # [n, k] float32, columns ordered as classes
    values: np.ndarray | None = None  # [n] float32, regression

    def __len__(self) -> int:
        arr = self.values if self.values is not None else self.labels
        return 0 if arr is None else len(arr)


def session_options(*, intra_op_threads: int = 1) -> ort.SessionOptions:
    """Options tuned for Lambda: a small fixed thread pool, no spinning, full graph optimisation."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning threads burn billed CPU time between requests for no latency gain at 1 thread.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


def session_runner(session: Any) -> Callable[[list[str], dict[str, np.ndarray]], list[Any]]:
    """`session.run(names, feeds)`, through the session's own binding where it has one:
    InferenceSession.run re-checks on every call what holds for every request of a loaded
    model (input names, checked once by OnnxModel; no graph capture and no provider fallback
    on the CPU provider), work a one-row request otherwise pays every time."""
    binding: Any = getattr(session, "_sess", None)
    if callable(getattr(binding, "run", None)):
        return lambda names, feeds: binding.run(names, feeds, None)
    run: Callable[[list[str], dict[str, np.ndarray]], list[Any]] = session.run
    return run


def _as_dict(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return feeds if type(feeds) is dict else dict(feeds)  # the request's own feeds: no copy


class OnnxModel:
    """A loaded model version: its schema and an onnxruntime session ready to run."""

    def __init__(
        self, onnx_bytes: bytes, schema: ModelSchema, *, intra_op_threads: int = 1
    ) -> None:
        self.schema = schema
        self.session = ort.InferenceSession(
            onnx_bytes,
            sess_options=session_options(intra_op_threads=intra_op_threads),
            providers=["CPUExecutionProvider"],
        )
        input_names = [i.name for i in self.session.get_inputs()]
        if sorted(input_names) != sorted(schema.feature_names):
            raise ValueError(
                f"ONNX inputs {input_names} do not match the schema's features {list(schema.feature_names)}"
            )
        self._output_names = [o.name for o in self.session.get_outputs()]
        expected_outputs = 2 if schema.task.is_classification else 1
        if len(self._output_names) < expected_outputs:
            raise ValueError(
                f"a {schema.task} model needs {expected_outputs} outputs, ONNX has {self._output_names}"
            )
        self._class_by_key = {str(c): c for c in schema.classes or ()}
        self._score = session_runner(self.session)
        self._classifier_outputs = self._output_names[:2]

    def run(self, feeds: Mapping[str, np.ndarray]) -> Predictions:
        """Run on ONNX feeds (see ModelSchema.to_onnx_feeds)."""
        if self.schema.task is Task.REGRESSION:
            (values,) = self._score(self._output_names[:1], _as_dict(feeds))
            return Predictions(values=np.asarray(values, dtype=np.float32).reshape(-1))
        raw_labels, probabilities = self._score(self._classifier_outputs, _as_dict(feeds))
        # ONNX gives int64 or string labels; map them onto the metadata's classes so the label
        # has the type the metadata records (and JSON shows 1, not "1", for integer classes).
        # Mapped by C loops (map), not a Python loop per row.
        keys = map(str, np.asarray(raw_labels).ravel().tolist())
        # One object array of the scalars (classes are strings, numbers or booleans).
        labels = np.array(list(map(self._class_by_key.__getitem__, keys)), dtype=object)
        return Predictions(labels=labels, probabilities=np.asarray(probabilities, dtype=np.float32))

    def predict_columns(self, columns: Mapping[str, Sequence[Any] | np.ndarray]) -> Predictions:
        """Run on per-feature columns of raw values (None/NaN = missing)."""
        return self.run(self.schema.to_onnx_feeds(columns))
