"""`modelops models` as operators expect: its own error prefix, usage errors instead of
tracebacks, an unknown model is an error with a documented exit code, a table by default
and JSON lines with --json, help on every flag, tags and a description per version."""

from __future__ import annotations

import argparse
import json

import pytest

from modelops.registry import ModelRegistry
from modelops.tags import MAX_TAG_VALUE, VersionTags
from modelops_train import cli, models_cli
from tests.models import publish_trained


@pytest.fixture
def published(registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch) -> ModelRegistry:
    monkeypatch.setenv("MODELOPS_BUCKET", registry.bucket)
    publish_trained(registry, "binary", promote=True)  # churn v1, champion
    publish_trained(registry, "binary", promote=False)  # churn v2
    return registry


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["models", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_default_output_is_a_table_with_a_header(
    published: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "list", "--model-name", "churn")
    assert code == models_cli.EXIT_OK
    header, first, second = out.splitlines()
    assert header.split()[:4] == ["MODEL", "VERSION", "ALIASES", "PRIMARY"]
    assert first.split()[:3] == ["churn", "v1", "champion"]
    assert second.split()[:3] == ["churn", "v2", "-"]
    assert "roc_auc" in first


def test_json_gives_one_object_per_line(
    published: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "list", "--model-name", "churn", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["version"] for r in rows] == [1, 2]
    assert rows[0]["aliases"] == ["champion"] and rows[0]["tags"] == {}


def test_list_without_a_name_lists_every_model(
    published: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    publish_trained(published, "regression", promote=True)
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0
    assert sorted({json.loads(line)["model"] for line in out.splitlines()}) == ["churn", "diabetes"]


@pytest.mark.parametrize("action", ["list", "history"])
def test_an_unknown_model_is_an_error_naming_the_known_ones(
    published: ModelRegistry, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    code, out, err = run(capsys, action, "--model-name", "nosuch")
    assert code == models_cli.EXIT_NOT_FOUND == 8
    assert out == ""
    assert err.strip() == (
        f"modelops models: error: no model 'nosuch' in bucket {published.bucket!r} (models: churn)"
    )


def test_a_bad_alias_is_a_usage_error_not_a_traceback(
    published: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "promote", "--model-name", "churn", "--version", "1", "--alias", "Staging",
        "--reason", "x",
    )  # fmt: skip
    assert code == models_cli.EXIT_USAGE
    assert "modelops models promote: error: argument --alias: alias 'Staging' is invalid" in err
    assert "Traceback" not in err
    assert published.get_alias("churn", "champion").version == 1  # type: ignore[union-attr]


def test_promote_prints_what_changed(
    published: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "promote", "--model-name", "churn", "--version", "2", "--reason", "better"
    )
    assert code == 0
    assert out.strip() == "churn: champion v1 -> v2 (change 2: better)"
    code, out, _ = run(capsys, "history", "--model-name", "churn")
    assert [line.split()[2:4] for line in out.splitlines()[1:]] == [["-", "v1"], ["v1", "v2"]]


def test_a_missing_bucket_is_the_models_commands_own_error(
    mocked_aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELOPS_BUCKET", "no-such-bucket")
    code, _, err = run(capsys, "list")
    assert code == models_cli.EXIT_USAGE
    assert err.startswith("modelops models: error: bucket 'no-such-bucket'")


def test_tags_and_description_set_changed_and_removed(
    published: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "tag", "--model-name", "churn", "--version", "2",
        "--set", "owner=ds-team", "--set", "ticket=CHG-7", "--description", "weekly retrain",
    )  # fmt: skip
    assert code == 0 and "owner=ds-team ticket=CHG-7" in out
    code, out, _ = run(
        capsys, "tag", "--model-name", "churn", "--version", "2", "--unset", "ticket",
        "--set", "owner=platform", "--json",
    )  # fmt: skip
    assert json.loads(out) == {
        "model": "churn",
        "version": 2,
        "tags": {"owner": "platform"},
        "description": "weekly retrain",
    }
    code, out, _ = run(capsys, "list", "--model-name", "churn", "--json")
    v1, v2 = (json.loads(line) for line in out.splitlines())
    assert (v1["tags"], v1["description"]) == ({}, None)  # other versions untouched
    assert (v2["tags"], v2["description"]) == ({"owner": "platform"}, "weekly retrain")


def test_tagging_needs_a_change_and_a_published_version(
    published: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "tag", "--model-name", "churn", "--version", "2")
    assert code == models_cli.EXIT_USAGE and "nothing to change" in err
    code, _, err = run(capsys, "tag", "--model-name", "churn", "--version", "3", "--set", "a=b")
    assert code == models_cli.EXIT_NOT_FOUND and "no published version 3" in err


@pytest.mark.parametrize(
    ("tag", "ok"),
    [
        ("k=" + "v" * MAX_TAG_VALUE, True),
        ("k=" + "v" * (MAX_TAG_VALUE + 1), False),
        ("a" * 128 + "=v", True),
        ("a" * 129 + "=v", False),
        ("bad key=v", False),
        ("novalue", False),
    ],
)
def test_tag_limits_at_the_boundary(tag: str, ok: bool) -> None:
    if ok:
        assert models_cli.tag_arg(tag)[0] == tag.split("=")[0]
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            models_cli.tag_arg(tag)


def test_a_concurrent_tag_change_is_not_lost(published: ModelRegistry) -> None:
    tags = VersionTags(published)
    first = tags.update("churn", 1, set_tags={"a": "1"})
    tags.update("churn", 1, set_tags={"b": "2"})  # another writer, after `first` was read
    assert first.etag != tags.get("churn", 1).etag
    assert tags.get("churn", 1).tags == {"a": "1", "b": "2"}


def test_every_flag_of_every_models_action_has_help() -> None:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    models = commands.choices["models"]
    actions = next(a for a in models._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {'/'.join(flag.option_strings)}"
        for name, sub in actions.choices.items()
        for flag in sub._actions
        if flag.option_strings and not flag.help
    ]
    assert missing == []
    assert set(actions.choices) == {"list", "history", "promote", "tag"}
