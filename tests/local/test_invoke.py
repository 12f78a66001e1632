"""`make invoke FUNCTION=... EVENT=...`: any function on any event file, without Docker."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from embedded_aws import invoke
from embedded_aws.template import REPO_ROOT

pytestmark = pytest.mark.integration


def test_set_path_changes_nested_values_and_parses_json() -> None:
    event: dict[str, object] = {"window": {"start": "a", "end": "b"}}
    invoke.set_path(event, "window.start=2026-11-30T15:00:00Z")
    invoke.set_path(event, "extra.n=3")
    assert event == {"window": {"start": "2026-11-30T15:00:00Z", "end": "b"}, "extra": {"n": 3}}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        invoke.set_path(event, "window.start")
    with pytest.raises(ValueError, match="not an object"):
        invoke.set_path(event, "window.start.x=1")


def test_monitor_runs_on_the_sample_window_event_on_a_fresh_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = invoke.main(
        [
            "MonitorFunction",
            str(REPO_ROOT / "events/monitor_window.json"),
            "--set",
            "window.end=2026-11-26T12:30:00Z",
            "--registry-dir",
            str(tmp_path),
            "--stack-name",
            f"invoke-{uuid.uuid4().hex[:8]}",
        ]
    )
    out, err = capsys.readouterr()
    # A fresh stack has no model yet: the monitor says so by name instead of reporting an
    # empty window, as Lambda reports a handler error.
    assert code == invoke.EXIT_HANDLER_ERROR, err
    error = json.loads(out)
    assert error["errorType"] == "UnknownModelError"
    assert "churn" in error["errorMessage"]
    assert "a fresh embedded AWS" in err


def test_a_handler_error_is_reported_as_lambda_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "bad.json"
    event.write_text(
        json.dumps({"window": {"start": "2026-11-26T13:00:00Z", "end": "2026-11-26T12:00:00Z"}})
    )
    code = invoke.main(
        [
            "MonitorFunction",
            str(event),
            "--registry-dir",
            str(tmp_path),
            "--stack-name",
            f"invoke-{uuid.uuid4().hex[:8]}",
        ]
    )
    out, _ = capsys.readouterr()
    assert code == invoke.EXIT_HANDLER_ERROR
    assert json.loads(out)["errorType"] == "InvalidInput"


def test_unknown_function_and_unreadable_event_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke.main(["NoSuchFunction", "events/monitor_window.json"]) == invoke.EXIT_USAGE
    assert invoke.main(["MonitorFunction", str(tmp_path / "missing.json")]) == invoke.EXIT_USAGE
    assert "missing.json" in capsys.readouterr().err
