"""The training job publishes a challenger by default; `modelops models challenge|status|abort`
run a rollout by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelops.registry import CHALLENGER, ChallengerStage, ModelRegistry
from modelops_train import cli
from tests.models import publish_trained


def models(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    code = cli.main(["models", *args, "--json"])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


@pytest.fixture
def three_versions(registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch) -> ModelRegistry:
    monkeypatch.setenv("MODELOPS_BUCKET", registry.bucket)
    publish_trained(registry, "binary", promote=True)  # v1, champion
    publish_trained(registry, "binary", promote=False)  # v2
    publish_trained(registry, "binary", promote=False)  # v3
    return registry


def test_training_twice_makes_the_second_version_a_shadow_challenger(
    churn_frame: pd.DataFrame,
    tmp_path: Path,
    registry: ModelRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MODELOPS_BUCKET", registry.bucket)
    path = tmp_path / "churn.csv"
    churn_frame.to_csv(path, index=False)
    args = ["train", "--data", str(path), "--target", "churned", "--model-name", "churn",
            "--estimator", "linear"]  # fmt: skip
    assert cli.main(args) == cli.EXIT_OK  # the first version: no champion to challenge
    first = json.loads(capsys.readouterr().out)
    assert first["promoted"] is True and first["challenger"] is None
    assert cli.main([*args, "--rollout-mode", "canary", "--canary-weight", "0.2"]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    second = json.loads(out)
    assert second["promoted"] is False
    assert second["challenger"] == {
        "version": 2,
        "mode": "canary",
        "weight": 0.2,
        "champion_version": 1,
    }
    assert "version 2 is the challenger (canary, weight 0.2) of champion v1" in err
    assert registry.resolve("churn") == 1
    challenger = ChallengerStage(registry).get("churn")
    assert challenger is not None and challenger.version == 2
    assert "to be decided on live requests" in challenger.state.record["reason"]
    # A third run supersedes the running challenger (newer data), recorded as such.
    assert cli.main(args) == cli.EXIT_OK
    capsys.readouterr()
    latest = ChallengerStage(registry).get("churn")
    assert latest is not None and latest.version == 3 and latest.mode == "shadow"
    assert "supersedes challenger v2" in latest.state.record["reason"]
    # auto and never are still there.
    assert cli.main([*args, "--promote", "never"]) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out)["challenger"] is None
    assert ChallengerStage(registry).get("churn") == latest


def test_challenge_status_abort(
    three_versions: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, (record,), err = models(
        capsys, "challenge", "--model-name", "churn", "--version", "2", "--mode", "canary",
        "--weight", "0.05", "--margin", "0.02", "--min-labeled-rows", "300",
        "--reason", "try v2 on 5 %",
    )  # fmt: skip
    assert code == cli.EXIT_OK, err
    assert record["details"]["rollout"]["rule"]["min_labeled_rows"] == 300
    code, (status,), _ = models(capsys, "status", "--model-name", "churn")
    assert code == cli.EXIT_OK
    assert status["champion"] == 1
    ch = status["challenger"]
    assert (ch["version"], ch["status"], ch["mode"], ch["weight"]) == (2, "active", "canary", 0.05)
    assert ch["rule"]["margin"] == 0.02 and ch["reason"] == "try v2 on 5 %"
    code, rows, _ = models(capsys, "list", "--model-name", "churn")
    assert [r["aliases"] for r in rows] == [["champion"], ["challenger"], []]

    code, _, err = models(
        capsys, "challenge", "--model-name", "churn", "--version", "3", "--reason", "x"
    )
    assert code == cli.EXIT_USAGE and "already has challenger v2" in err

    code, (ended,), _ = models(capsys, "abort", "--model-name", "churn", "--reason", "pager")
    assert code == cli.EXIT_OK and ended["details"]["status"] == "aborted"
    code, (status,), _ = models(capsys, "status", "--model-name", "churn")
    assert status["challenger"]["status"] == "aborted"
    code, rows, _ = models(capsys, "list", "--model-name", "churn")
    assert [r["aliases"] for r in rows] == [
        ["champion"],
        [],
        [],
    ]  # an ended rollout points at nothing
    code, _, err = models(capsys, "abort", "--model-name", "churn", "--reason", "again")
    assert code == cli.EXIT_USAGE and "no running challenger" in err
    reasons = [h["reason"] for h in three_versions.history("churn", CHALLENGER)]
    assert reasons == ["try v2 on 5 %", "pager"]


@pytest.mark.parametrize(
    ("args", "message", "exit_code"),
    [
        (["--version", "9"], "no published version 9", 8),  # unknown version: not found
        (["--version", "1"], "already the champion", cli.EXIT_USAGE),
        (["--version", "2", "--confidence", "1"], "confidence must be in [0.5, 1)", cli.EXIT_USAGE),
        (
            ["--version", "2", "--mode", "canary", "--weight", "0"],
            "weight must be in (0, 1]",
            cli.EXIT_USAGE,
        ),
    ],
)
def test_challenge_refuses_bad_requests(
    three_versions: ModelRegistry,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
    exit_code: int,
) -> None:
    code, _, err = models(capsys, "challenge", "--model-name", "churn", *args, "--reason", "r")
    assert code == exit_code
    assert message in err
    assert ChallengerStage(three_versions).read("churn") is None
