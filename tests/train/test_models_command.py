"""`modelops models list|history|promote`: the operator's view of the registry and rollback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelops.registry import ModelRegistry
from modelops_train import cli, models_cli
from tests.models import publish_trained


@pytest.fixture
def two_versions(registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch) -> ModelRegistry:
    monkeypatch.setenv("MODELOPS_BUCKET", registry.bucket)
    publish_trained(registry, "binary", promote=True)  # v1, champion
    publish_trained(registry, "binary", promote=True)  # v2, champion
    return registry


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    code = cli.main(["models", *args, "--json"])  # JSON lines: the scripts' format
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_list_shows_versions_metrics_and_aliases(
    two_versions: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows, _ = run(capsys, "list", "--model-name", "churn")
    assert code == cli.EXIT_OK
    assert [(r["version"], r["aliases"]) for r in rows] == [(1, []), (2, ["champion"])]
    assert all("roc_auc" in r["metrics"] for r in rows)


def test_rollback_moves_the_champion_and_is_recorded(
    two_versions: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, (record,), _ = run(
        capsys, "promote", "--model-name", "churn", "--version", "1",
        "--reason", "roll back: v2 degraded", "--expect-version", "2",
    )  # fmt: skip
    assert code == cli.EXIT_OK
    assert (record["version"], record["previous_version"]) == (1, 2)
    assert two_versions.resolve("churn") == 1

    code, history, _ = run(capsys, "history", "--model-name", "churn")
    assert code == cli.EXIT_OK
    assert [(h["previous_version"], h["version"]) for h in history] == [(None, 1), (1, 2), (2, 1)]
    assert history[-1]["reason"] == "roll back: v2 degraded"


def test_promote_refuses_a_stale_expectation_and_unknown_versions(
    two_versions: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "promote", "--model-name", "churn", "--version", "1",
        "--reason", "rollback", "--expect-version", "7",
    )  # fmt: skip
    assert code == cli.EXIT_STALE_ALIAS
    assert "points at version 2, not version 7" in err
    assert "stays published" not in err

    code, _, err = run(
        capsys, "promote", "--model-name", "churn", "--version", "9", "--reason", "x"
    )
    assert code == models_cli.EXIT_NOT_FOUND
    assert "no published version 9 (versions: 1, 2)" in err
    assert two_versions.resolve("churn") == 2
