"""The SAM CLI accepts and builds the template; the built serving layers are lean."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedded_aws.bundle import FORBIDDEN_IN_SERVING, packages_in, run_sam, tree_size
from embedded_aws.template import load_template

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
    assert {"RuntimeLayer", "ModelOpsLayer"} <= set(buildable)
    for name in buildable:
        assert (sam_build_dir / name).is_dir(), f"sam build produced nothing for {name}"


def test_serving_layers_carry_no_training_libraries(sam_build_dir: Path) -> None:
    for layer in ("RuntimeLayer", "ModelOpsLayer"):
        found = packages_in(sam_build_dir / layer / "python")
        assert not found & set(FORBIDDEN_IN_SERVING), (
            f"{layer} contains {found & set(FORBIDDEN_IN_SERVING)}"
        )
    runtime = packages_in(sam_build_dir / "RuntimeLayer" / "python")
    assert {"onnxruntime", "numpy", "aws_lambda_powertools"} <= runtime
    assert (sam_build_dir / "ModelOpsLayer" / "python" / "modelops" / "registry.py").is_file()


def test_runtime_layer_fits_lambda_limits(sam_build_dir: Path) -> None:
    size_mb = tree_size(sam_build_dir / "RuntimeLayer" / "python") / 1e6
    # Lambda's hard limit for a function plus its layers, unzipped, is 250 MB.
    assert size_mb < 150, f"RuntimeLayer is {size_mb:.1f} MB unzipped"
