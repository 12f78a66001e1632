"""Handlers run as Lambda runs them: loaded from CodeUri at first use, with the function's environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from embedded_aws.lambda_runtime import LocalFunction
from embedded_aws.template import Tagged, load_template

# Reads its setting at import (cold start), and imports a sibling module of its CodeUri.
HANDLER = """
import os
from helper import greeting
SETTING_AT_COLD_START = os.environ["SETTING"]
def handler(event, context):
    return {"greeting": greeting(), "cold": SETTING_AT_COLD_START, "now": os.environ["SETTING"],
            "function": context.function_name, "memory": context.memory_limit_in_mb,
            "remaining_ms": context.get_remaining_time_in_millis(), "event": event}
"""


def make_function(root: Path, name: str, greeting: str) -> dict[str, Any]:
    code = root / name
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    (code / "helper.py").write_text(f"def greeting():\n    return {greeting!r}\n")
    return {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": str(code),
            "Handler": "app.handler",
            "MemorySize": Tagged("Ref", "Memory"),
        },
    }


@pytest.fixture
def template(tmp_path: Path) -> dict[str, Any]:
    return {
        "Parameters": {"Memory": {"Type": "Number", "Default": 256}},
        "Globals": {"Function": {"Timeout": 7}},
        "Resources": {
            "One": make_function(tmp_path, "one", "hello"),
            "Two": make_function(tmp_path, "two", "bonjour"),
        },
    }


def test_each_function_loads_its_own_app_module_with_its_own_environment(
    template: dict[str, Any],
) -> None:
    one = LocalFunction("One", {"SETTING": "first"}, template=template)
    two = LocalFunction("Two", {"SETTING": "second"}, template=template, refs={"Memory": 512})

    first = one.invoke({"n": 1})
    second = two.invoke({"n": 2})

    assert (first["greeting"], first["cold"], first["event"]) == ("hello", "first", {"n": 1})
    assert (second["greeting"], second["cold"]) == ("bonjour", "second")
    assert first["memory"] == 256 and second["memory"] == 512
    assert 0 < first["remaining_ms"] <= 7000
    assert "SETTING" not in os.environ  # restored after each invocation


def test_the_environment_is_set_again_for_every_invocation(template: dict[str, Any]) -> None:
    one = LocalFunction("One", {"SETTING": "first"}, template=template)
    one.invoke({})
    os.environ["SETTING"] = "changed outside"
    try:
        assert one.invoke({})["now"] == "first"
        assert os.environ["SETTING"] == "changed outside"
    finally:
        del os.environ["SETTING"]


def test_a_missing_handler_module_names_the_template_setting(tmp_path: Path) -> None:
    doc = {
        "Resources": {
            "Ghost": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": str(tmp_path), "Handler": "nope.handler"},
            }
        }
    }
    with pytest.raises(FileNotFoundError, match=r"Ghost: handler module .*nope\.py does not exist"):
        LocalFunction("Ghost", {}, template=doc).invoke({})


def test_every_function_of_the_stack_template_has_a_loadable_handler_file() -> None:
    from embedded_aws.template import function_source

    functions = [
        k
        for k, r in load_template()["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    ]
    assert {"PredictFunction", "FeedbackFunction", "MonitorFunction"} <= set(functions)
    for logical_id in functions:
        source = function_source(logical_id)
        assert (source.code_dir / f"{source.module}.py").is_file(), logical_id
