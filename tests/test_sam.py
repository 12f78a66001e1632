"""The SAM CLI accepts and builds the template; the built serving layers are lean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from embedded_aws.bundle import (
    FORBIDDEN_IN_SERVING,
    function_layers,
    importable_names,
    packages_in,
    run_sam,
    tree_size,
)
from embedded_aws.template import load_template

SERVING_LAYERS = (
    "RuntimeLayer",
    "OnnxRuntimeLayer",
    "GzipLayer",
    "TracingLayer",
    "ModelOpsLayer",
)

pytestmark = pytest.mark.sam


def test_sam_validate_lint(tmp_path: Path) -> None:
    result = run_sam(["validate", "--lint"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_every_layer_and_function_is_built(sam_build_dir: Path) -> None:
    resources = load_template()["Resources"]
    buildable = [
        name
        for name, res in resources.items()
        if res["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion")
    ]
    assert set(SERVING_LAYERS) <= set(buildable)
    for name in buildable:
        assert (sam_build_dir / name).is_dir(), f"sam build produced nothing for {name}"


def test_serving_layers_carry_no_training_libraries(sam_build_dir: Path) -> None:
    for layer in SERVING_LAYERS:
        found = packages_in(sam_build_dir / layer / "python")
        assert not found & set(FORBIDDEN_IN_SERVING), (
            f"{layer} contains {found & set(FORBIDDEN_IN_SERVING)}"
        )
    names = {layer: importable_names(sam_build_dir / layer / "python") for layer in SERVING_LAYERS}
    assert names["RuntimeLayer"] == {
        "aws_lambda_powertools",
        "jmespath",
        "numpy",
        "orjson",
        "typing_extensions",
    }
    assert names["OnnxRuntimeLayer"] == {"onnxruntime"}
    assert names["TracingLayer"] == {"aws_xray_sdk", "wrapt"}
    # pyarrow is batch scoring's alone: no serving layer carries it
    assert not any("pyarrow" in found for found in names.values())
    assert importable_names(sam_build_dir / "ParquetLayer" / "python") == {"pyarrow"}
    assert names["GzipLayer"] == {"isal"}
    assert names["ModelOpsLayer"] == {"modelops"}
    assert (sam_build_dir / "ModelOpsLayer" / "python" / "modelops" / "registry.py").is_file()


def test_runtime_layers_fit_lambda_limits(sam_build_dir: Path) -> None:
    size_mb = sum(tree_size(sam_build_dir / layer / "python") for layer in SERVING_LAYERS) / 1e6
    # Lambda's hard limit for a function plus its layers, unzipped, is 250 MB.
    assert size_mb < 150, f"the layers are {size_mb:.1f} MB unzipped"


FUNCTIONS = (
    "PredictFunction",
    "PreTrafficHookFunction",
    "FeedbackFunction",
    "MonitorFunction",
    "BatchScoringFunction",
)


def test_each_function_carries_the_layers_it_imports() -> None:
    """onnxruntime for the functions that run a model, pyarrow for batch scoring, ISA-L's
    inflate for the monitor (the one function that reads gzip capture objects)."""
    layers = {function: function_layers(function) for function in FUNCTIONS}
    assert layers == {
        "PredictFunction": ["RuntimeLayer", "OnnxRuntimeLayer", "ModelOpsLayer"],
        "PreTrafficHookFunction": ["RuntimeLayer", "OnnxRuntimeLayer", "ModelOpsLayer"],
        "FeedbackFunction": ["RuntimeLayer", "ModelOpsLayer"],
        "MonitorFunction": ["RuntimeLayer", "GzipLayer", "ModelOpsLayer"],
        "BatchScoringFunction": ["RuntimeLayer", "ParquetLayer", "ModelOpsLayer"],
    }


def test_tracing_adds_the_tracing_layer_to_every_function() -> None:
    for function in FUNCTIONS:
        assert function_layers(function, {"TracingMode": "Active"})[-1] == "TracingLayer"
        assert "TracingLayer" not in function_layers(function, {"TracingMode": "PassThrough"})


@pytest.mark.parametrize("disabled", ["false", "true"])
def test_the_tracing_layer_is_what_tracing_imports(disabled: str) -> None:
    """With tracing on, creating the functions' tracer imports exactly the TracingLayer's
    packages; with it off, neither (so no function carries them in vain)."""
    probe = (
        "import sys, json; import modelops.observability; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": disabled, "AWS_XRAY_SDK_ENABLED": "true"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    imported = set(json.loads(out.stdout.splitlines()[-1]))
    tracing = {"aws_xray_sdk", "wrapt"}
    assert (imported & tracing) == (tracing if disabled == "false" else set())
