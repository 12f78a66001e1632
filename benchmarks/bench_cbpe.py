"""Accuracy of performance estimated without labels: ours (modelops.estimation) against
NannyML's CBPE, on the same covariate-shift windows without concept drift.

    .venv/bin/python benchmarks/bench_cbpe.py [--seeds 4] [--sizes 2000,5000] [--no-nannyml]

Data, two generators whose windows move the inputs while P(label | inputs) stays put
(labels always drawn from the same rule: covariate shift without concept drift):
- "synthetic": a known nonlinear logit of five numeric features and one categorical;
  shifts: none; x1 mean +0.75 and +1.5; x2 spread x0.5 and x2; x1 +1 with x4 spread x2;
- "churn": the demo's generator (embedded_aws.churn_data, concept_drift=0); shifts: none; monthly
  charges +25 and -20 dollars; 50 % missing values; 30 % of a plan never seen in training.
Each shift x `--seeds` seeds x `--sizes` rows. Models: the real training job
(modelops_train.api.train, HistGradientBoosting, ONNX) on 2 000 and 10 000 rows, so the
holdout the calibration map is fitted on (and NannyML's reference) has 400 or 2 000 rows.

Side by side on each window, against the realized value computed from the window's labels:
- "ours": the monitor's path, EstimationAccumulator.add_outputs on the captured output
  dicts with the version's stored calibration map (scikit-learn's isotonic regression on
  the holdout), then cbpe.estimate;
- "ours, centred isotonic": the same with the former default map (each isotonic step
  replaced by one knot at its mean score), to show what it changed;
- "NannyML": nannyml.CBPE(roc_auc, accuracy, f1) fitted on the holdout (reference), one
  chunk per window, in a child process of a benchmark-only venv (/tmp/nannyml-venv, created
  on first use by benchmarks/side_venv.py: NannyML 0.13.1 needs pandas<3 and Python 3.12).
Prints Markdown tables for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.isotonic import IsotonicRegression  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from benchmarks.machine import cpu_name  # noqa: E402
from benchmarks.side_venv import ensure_venv, run_child  # noqa: E402
from embedded_aws.churn_data import TARGET as CHURN_TARGET  # noqa: E402
from embedded_aws.churn_data import generate_churn  # noqa: E402
from modelops.estimation.accumulator import EstimationAccumulator  # noqa: E402
from modelops.estimation.calibration import CalibrationMap  # noqa: E402
from modelops.estimation.cbpe import estimate  # noqa: E402
from modelops.inference import OnnxModel  # noqa: E402
from modelops.metrics import accuracy_score, f1_score, roc_auc_score  # noqa: E402
from modelops_train.api import TrainedModel, TrainOptions, train  # noqa: E402
from modelops_train.progress import Progress  # noqa: E402

NANNYML_VENV = Path("/tmp/nannyml-venv")
NANNYML_PACKAGES = ["nannyml==0.13.1", "pandas==2.3.3", "statsmodels==0.15.0"]
METRICS = ("roc_auc", "accuracy", "f1")
SHIFTS: dict[str, dict[str, float]] = {
    "none": {},
    "x1 +0.75": {"x1_shift": 0.75},
    "x1 +1.5": {"x1_shift": 1.5},
    "x2 spread x0.5": {"x2_scale": 0.5},
    "x2 spread x2": {"x2_scale": 2.0},
    "x1 +1, x4 spread x2": {"x1_shift": 1.0, "x4_scale": 2.0},
}
CHURN_SHIFTS: dict[str, dict[str, float]] = {
    "none": {},
    "charges +25": {"numeric_shift": 25.0},
    "charges -20": {"numeric_shift": -20.0},
    "50 % missing": {"missing_share": 0.5},
    "30 % unseen plan": {"new_category_share": 0.3},
}
SEGMENT_EFFECT = {"a": -0.5, "b": 0.0, "c": 0.7}


# ---------------------------------------------------------------- data
def generate(
    n: int, seed: int, *, x1_shift: float = 0.0, x2_scale: float = 1.0, x4_scale: float = 1.0
) -> pd.DataFrame:
    """Rows whose label is drawn from the same P(y | x) whatever the shift of x."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(x1_shift, 1.0, n)
    x2 = rng.normal(0.0, x2_scale, n)
    x3 = rng.normal(0.0, 1.0, n)
    x4 = rng.normal(0.0, x4_scale, n)
    x5 = rng.uniform(-2.0, 2.0, n)
    segment = rng.choice(list(SEGMENT_EFFECT), size=n, p=[0.5, 0.3, 0.2])
    effect = np.vectorize(SEGMENT_EFFECT.get)(segment)
    logit = 1.2 * x1 - 1.0 * x2 + 0.8 * x3 * x4 + 0.6 * np.sin(2.0 * x5) + effect - 0.4
    label = np.where(rng.random(n) < 1.0 / (1.0 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame(
        {"x1": x1, "x2": x2, "x3": x3, "x4": x4, "x5": x5, "segment": segment, "label": label}
    )


def churn(n: int, seed: int, **shift: float) -> pd.DataFrame:
    return generate_churn(n, seed=seed, **shift).rename(columns={CHURN_TARGET: "label"})


DATASETS = {"synthetic": (generate, SHIFTS), "churn": (churn, CHURN_SHIFTS)}


class Scored:
    """A frame scored by the ONNX model: positive-class scores, predicted and true labels."""

    def __init__(self, model: OnnxModel, frame: pd.DataFrame, truth: Any) -> None:
        out = model.predict_columns({f: frame[f].to_numpy() for f in model.schema.feature_names})
        assert out.probabilities is not None and out.labels is not None
        self.probabilities = out.probabilities.astype(np.float64)
        self.labels = list(out.labels)
        self.truth = np.asarray(truth, dtype=object)
        self.score = self.probabilities[:, 1]

    def outputs(self, keys: list[str]) -> list[dict[str, Any]]:
        """The output dicts the serving side captures."""
        rows = self.probabilities.tolist()
        return [
            {"label": label, "probabilities": dict(zip(keys, row, strict=True))}
            for label, row in zip(self.labels, rows, strict=True)
        ]

    def realized(self) -> dict[str, float]:
        return {
            "roc_auc": roc_auc_score(self.truth, self.score, pos_label="yes"),
            "accuracy": accuracy_score(self.truth, self.labels),
            "f1": f1_score(self.truth, self.labels, pos_label="yes"),
        }


def ours(calibration: CalibrationMap, scored: Scored, classes: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    acc = EstimationAccumulator(calibration, classes=classes)
    acc.add_outputs(scored.outputs(classes))
    estimates, _ = estimate(acc)
    return {
        "seconds": time.perf_counter() - started,
        **{m: estimates[m].value for m in METRICS},
        **{f"{m}_band": (estimates[m].lower, estimates[m].upper) for m in METRICS},
    }


def centred_isotonic(reference: Scored, classes: list[str]) -> CalibrationMap:
    """The former default map: each isotonic step replaced by one knot at its mean score,
    linear in between (kept here to show what it changes)."""
    order = np.argsort(reference.score, kind="mergesort")
    x = reference.score[order]
    hits = (reference.truth == "yes")[order].astype(np.float64)
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0).fit_transform(x, hits)
    starts = np.concatenate(([True], np.diff(fitted) != 0))
    block = np.cumsum(starts) - 1
    knots = np.bincount(block, weights=x) / np.bincount(block)
    return CalibrationMap(
        tuple(classes),
        {"yes": (knots, np.asarray(fitted[starts], dtype=np.float64))},
        method="centered_isotonic",
    )


# ---------------------------------------------------------------- NannyML
NANNYML_CHILD = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd
import nannyml as nml
data = np.load(sys.argv[1])
reference = pd.DataFrame({"p": data["ref_p"], "pred": data["ref_pred"], "y": data["ref_y"]})
results = []
estimators = {}
for i in range(int(data["windows"])):
    window = pd.DataFrame({"p": data[f"p{i}"], "pred": data[f"pred{i}"]})
    n = len(window)
    if n not in estimators:
        est = nml.CBPE(y_pred_proba="p", y_pred="pred", y_true="y", problem_type="classification_binary",
                       metrics=["roc_auc", "accuracy", "f1"], chunk_size=n)
        est.fit(reference)
        estimators[n] = est
    started = time.perf_counter()
    frame = estimators[n].estimate(window).filter(period="analysis").to_df()
    seconds = time.perf_counter() - started
    row = {"seconds": seconds}
    for m in ("roc_auc", "accuracy", "f1"):
        row[m] = float(frame[(m, "value")].iloc[0])
        row[m + "_band"] = [float(frame[(m, "lower_confidence_boundary")].iloc[0]),
                            float(frame[(m, "upper_confidence_boundary")].iloc[0])]
    results.append(row)
print(json.dumps({"nannyml": nml.__version__, "pandas": pd.__version__, "results": results}))
"""


def nannyml(python: Path, reference: Scored, windows: list[Scored]) -> dict[str, Any]:
    arrays: dict[str, Any] = {
        "ref_p": reference.score,
        "ref_pred": np.asarray([label == "yes" for label in reference.labels], dtype=np.int64),
        "ref_y": (reference.truth == "yes").astype(np.int64),
        "windows": len(windows),
    }
    for i, w in enumerate(windows):
        arrays[f"p{i}"] = w.score
        arrays[f"pred{i}"] = np.asarray([label == "yes" for label in w.labels], dtype=np.int64)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "windows.npz"
        np.savez(path, **arrays)
        child = Path(folder) / "child.py"
        child.write_text(NANNYML_CHILD)
        return run_child([str(python), str(child), str(path)])


# ---------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="windows per shift and size")
    parser.add_argument("--sizes", default="2000,5000", help="window sizes (rows)")
    parser.add_argument("--train-rows", default="2000,10000", help="training set sizes")
    parser.add_argument("--data", default="synthetic,churn", help="generators: synthetic, churn")
    parser.add_argument("--no-nannyml", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    python = None
    nannyml_problem = None
    if not args.no_nannyml:
        try:
            python = ensure_venv(NANNYML_VENV, NANNYML_PACKAGES, python="3.12")
        except Exception as exc:  # measured without it, and said so
            nannyml_problem = f"NannyML could not be installed: {exc}"
            print(nannyml_problem, file=sys.stderr)
    cpu = cpu_name()
    print(
        f"machine: {platform.machine()} {cpu}, {os.cpu_count()} cores; python {platform.python_version()}"
    )
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average before: {os.getloadavg()}")
    rows: list[dict[str, Any]] = []
    versions: dict[str, str] = {}
    for data in args.data.split(","):
        make, shifts = DATASETS[data]
        for train_rows in [int(t) for t in args.train_rows.split(",")]:
            measured, versions = measure(make, shifts, train_rows, sizes, args.seeds, python)
            rows += [{"data": data, **row} for row in measured]
    print(
        f"load average after: {os.getloadavg()}; {versions or nannyml_problem or 'NannyML not run'}"
    )
    report(rows, sizes)


def measure(
    make: Any,
    shifts: dict[str, dict[str, float]],
    train_rows: int,
    sizes: list[int],
    seeds: int,
    python: Path | None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Train on `train_rows`, score every window, estimate with each method."""
    with threadpool_limits(limits=1):
        trained: TrainedModel = train(
            TrainOptions(data=make(train_rows, seed=1), target="label", model_name="bench", seed=0),
            progress=Progress(io.StringIO()),
        )
    model = OnnxModel(trained.onnx_bytes, trained.schema)
    classes = [str(c) for c in trained.schema.classes or ()]
    reference = Scored(model, trained.holdout, trained.y_holdout)
    maps = {
        "ours": CalibrationMap.from_metadata(trained.metadata["calibration"], classes),
        "ours_centred": centred_isotonic(reference, classes),
    }
    windows, labels = [], []
    for s, (shift, params) in enumerate(shifts.items()):
        for size in sizes:
            for seed in range(seeds):
                frame = make(size, seed=1000 * (s + 1) + 10 * seed + size % 7, **params)
                windows.append(Scored(model, frame, frame["label"]))
                labels.append((shift, size))
    theirs: list[dict[str, Any]] | None = None
    versions: dict[str, str] = {}
    if python is not None:
        child = nannyml(python, reference, windows)
        versions = {"nannyml": child["nannyml"], "pandas": child["pandas"]}
        theirs = child["results"]
    rows = []
    for i, (window, (shift, size)) in enumerate(zip(windows, labels, strict=True)):
        row = {"train_rows": train_rows, "holdout": len(reference.truth), "shift": shift}
        row |= {"size": size, "realized": window.realized()}
        for name, calibration in maps.items():
            row[name] = ours(calibration, window, classes)
        if theirs is not None:
            row["nannyml"] = theirs[i]
        rows.append(row)
    return rows, versions


def report(rows: list[dict[str, Any]], sizes: list[int]) -> None:
    methods = [m for m in ("ours", "nannyml", "ours_centred") if m in rows[0]]
    names = {"ours": "ours", "nannyml": "NannyML CBPE", "ours_centred": "ours, centred isotonic"}

    def errors(group: list[dict[str, Any]], method: str, metric: str) -> np.ndarray:
        return np.array([abs(r[method][metric] - r["realized"][metric]) for r in group])

    def covered(group: list[dict[str, Any]], method: str, metric: str) -> float:
        inside = [
            r[method][f"{metric}_band"][0]
            <= r["realized"][metric]
            <= r[method][f"{metric}_band"][1]
            for r in group
        ]
        return float(np.mean(inside))

    print()
    print(
        "| data | holdout (reference) rows | window rows | windows | method | ROC AUC mean abs error | ROC AUC max abs error | ROC AUC band coverage | accuracy mean abs error | F1 mean abs error | ms per window |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for data, holdout in sorted({(r["data"], r["holdout"]) for r in rows}):
        for size in sizes:
            group = [
                r for r in rows if (r["data"], r["holdout"], r["size"]) == (data, holdout, size)
            ]
            for method in methods:
                auc = errors(group, method, "roc_auc")
                print(
                    f"| {data} | {holdout} | {size} | {len(group)} | {names[method]} | {auc.mean():.4f} | "
                    f"{auc.max():.4f} | {covered(group, method, 'roc_auc'):.0%} | "
                    f"{errors(group, method, 'accuracy').mean():.4f} | "
                    f"{errors(group, method, 'f1').mean():.4f} | "
                    f"{1000 * np.median([r[method]['seconds'] for r in group]):.0f} |"
                )
    print()
    print("Per shift (all sizes): mean realized ROC AUC and mean estimate")
    print(
        "| data | holdout rows | shift | realized | " + " | ".join(names[m] for m in methods) + " |"
    )
    print("| --- | --- | --- | --- | " + " | ".join("---" for _ in methods) + " |")
    for data, holdout in sorted({(r["data"], r["holdout"]) for r in rows}):
        for shift in DATASETS[data][1]:
            group = [
                r for r in rows if (r["data"], r["holdout"], r["shift"]) == (data, holdout, shift)
            ]
            realized = np.mean([r["realized"]["roc_auc"] for r in group])
            cells = " | ".join(f"{np.mean([r[m]['roc_auc'] for r in group]):.4f}" for m in methods)
            print(f"| {data} | {holdout} | {shift} | {realized:.4f} | {cells} |")


if __name__ == "__main__":
    main()
