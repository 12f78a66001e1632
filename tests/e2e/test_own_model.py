"""The README's "Your own model" section, followed end to end on a fresh embedded AWS with
a dataset the demo does not use (scikit-learn's diabetes data): the commands are read from
the README itself, so the section and this test cannot drift apart."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from embedded_aws import invoke, local_api
from embedded_aws.template import REPO_ROOT
from modelops.registry import ModelRegistry
from modelops_train import cli

pytestmark = pytest.mark.e2e
KEY = "own-model-key"


def readme_section() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    start = text.index("## Your own model")
    return text[start : text.index("\n## ", start + 1)]


def command_lines(section: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line.strip() for block in blocks for line in block.replace("\\\n", " ").splitlines()]


def post(url: str, body: Any, key: str = KEY) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "x-api-key": key},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def get(url: str, key: str = KEY) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"x-api-key": key})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def readme_curls(lines: list[str], url: str) -> list[tuple[str, Any]]:
    """The README's curl lines as (path, body or None for a GET), $URL and $KEY as set."""
    (base,) = [line.split("=", 1)[1] for line in lines if line.startswith("URL=")]
    found = []
    for line in lines:
        if line.startswith("curl "):
            words = shlex.split(line)
            (target,) = [w for w in words if w.startswith("$URL/")]
            body = json.loads(words[words.index("-d") + 1]) if "-d" in words else None
            found.append((target.removeprefix("$URL"), body))
    assert base.startswith("http://127.0.0.1:") and url
    return found


def curls(banner: str) -> list[tuple[str, Any]]:
    """The (url, body) of each curl line the banner printed."""
    found = []
    for match in re.finditer(r"curl -s -X POST (\S+) .*?\\\n\s+-d '(.*?)'\n", banner + "\n", re.S):
        found.append((match.group(1), json.loads(match.group(2))))
    return found


def test_your_own_model_as_the_readme_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = command_lines(readme_section())
    # 1. the data: the README's own one-liner, run as written
    (write_csv,) = [line for line in lines if line.startswith(".venv/bin/python -c")]
    subprocess.run(
        [sys.executable, *shlex.split(write_csv)[1:]], cwd=tmp_path, check=True, timeout=120
    )
    # 2. `make api DATA=... TARGET=... PORT=...`, mapped to its flags as the Makefile maps them
    (make_api,) = [line for line in lines if line.startswith("make api DATA=")]
    variables = dict(item.split("=", 1) for item in shlex.split(make_api)[2:])
    args = local_api.build_parser().parse_args(
        ["--data", str(tmp_path / variables["DATA"]), "--target", variables["TARGET"]]
    )
    model = local_api.own_model(args, {})
    assert model is not None and model.name == "diabetes"
    registry_dir = tmp_path / "local"
    with local_api.stack_api(
        api_key=KEY,
        port=0,
        model=model,
        registry_dir=registry_dir,
        stack_name=f"e2e-own-{uuid.uuid4().hex[:8]}",
    ) as running:
        assert running.model_name == "diabetes" and running.champion_version == 1
        # 3. the banner's curl lines, sent as printed: a complete row of the model's features
        banner = local_api.banner(running, KEY)
        (predict_url, predict_body), (feedback_url, feedback_body) = curls(banner)
        metadata = ModelRegistry(running.stack.bucket).get_metadata("diabetes", 1)
        features = {f["name"] for f in metadata["features"]}
        assert set(predict_body["instances"][0]) == features
        status, answer = post(
            predict_url.replace("http://127.0.0.1:3000", running.url), predict_body
        )
        assert status == 200, answer
        assert answer["model"] == {"name": "diabetes", "version": 1}
        assert isinstance(answer["predictions"][0]["value"], float)
        status, answer = post(
            feedback_url.replace("http://127.0.0.1:3000", running.url), feedback_body
        )
        assert (status, answer) == (202, {"accepted": 1})
        # 3b. the README's own curl lines: the model card, a complete row as instances, the
        # next rows in MLflow's dataframe_split and dataframe_records, their labels
        sent = readme_curls(lines, running.url)
        assert [path for path, _ in sent] == [
            "/models/diabetes", "/predict", "/predict", "/predict", "/feedback",
        ]  # fmt: skip
        status, card = get(f"{running.url}{sent[0][0]}")
        assert status == 200 and {
            f["name"]: f["required"] for f in card["features"]
        } == dict.fromkeys(features, True)  # no missing value in the data: every feature required
        formats = []
        for path, body in sent[1:4]:
            formats.append(next(k for k in body if k != "inference_ids"))
            status, answer = post(f"{running.url}{path}", body)
            assert status == 200, answer
            (prediction,) = answer["predictions"]
            assert prediction["inference_id"] == body["inference_ids"][0]
            assert isinstance(prediction["value"], float) and "imputed" not in prediction
        assert formats == ["instances", "dataframe_split", "dataframe_records"]
        row = sent[1][1]["instances"][0]
        status, answer = post(f"{running.url}/predict", {"instances": [{**row, "bmi": None}]})
        assert status == 400 and answer["error"]["details"] == [
            {
                "row": 0,
                "field": "bmi",
                "problem": "required feature is null (the model was trained without missing values)",
            }
        ]
        status, answer = post(f"{running.url}{sent[4][0]}", sent[4][1])
        assert (status, answer) == (202, {"accepted": 2})
        # 4. the registry from the same shell, with only the two printed variables
        (export,) = re.findall(r"export (AWS_ENDPOINT_URL=\S+ MODELOPS_BUCKET=\S+)", banner)
        exported = dict(item.split("=", 1) for item in export.split())
        assert exported == {
            "AWS_ENDPOINT_URL": running.aws_endpoint,
            "MODELOPS_BUCKET": running.stack.bucket,
        }
        for name, value in exported.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        assert cli.main(["models", "list", "--model-name", "diabetes", "--json"]) == cli.EXIT_OK
        (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert (row["version"], row["aliases"]) == (1, ["champion"])
        for line in lines:  # tag, train a challenger, promote it: as written in the README
            if line.startswith(".venv/bin/modelops ") and " list " not in line:
                argv = shlex.split(line)[1:]
                argv = [str(tmp_path / a) if a == variables["DATA"] else a for a in argv]
                assert cli.main(argv) == cli.EXIT_OK, capsys.readouterr().err
        capsys.readouterr()
        assert cli.main(["models", "list", "--model-name", "diabetes", "--json"]) == cli.EXIT_OK
        v1, v2 = (json.loads(line) for line in capsys.readouterr().out.splitlines())
        assert (v1["aliases"], v1["tags"], v1["description"]) == ([], {"owner": "me"}, "first try")
        assert (v2["aliases"], v2["tags"]) == (["champion"], {"estimator": "linear"})
        # 5. the monitor on the hour just served, with `make invoke`
        (make_invoke,) = [line for line in lines if line.startswith("make invoke")]
        assert "FUNCTION=MonitorFunction EVENT=events/monitor_window.json" in make_invoke
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        code = invoke.main(
            [
                "MonitorFunction",
                str(REPO_ROOT / "events/monitor_window.json"),
                "--set", f"window.start={hour:%Y-%m-%dT%H:%M:%SZ}",
                "--set", f"window.end={hour + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
                "--registry-dir", str(registry_dir),
            ]
        )  # fmt: skip
        out, err = capsys.readouterr()
        assert code == invoke.EXIT_OK, out + err
        assert "the running make api" in err
        # the result is the indented document; the served functions of this same process
        # log single-line JSON to stdout too (a real `make invoke` is its own process)
        *_, start = re.finditer(r"(?m)^\{$", out)
        summary = json.loads(out[start.start() :])
        # the banner's row and the README's three, two of them labelled by the README
        counts = summary["counts"]
        assert (counts["predictions"], counts["labeled"]) == (4, 3), summary
    # 6. the next `make api MODEL=diabetes` serves the saved registry without retraining
    args = local_api.build_parser().parse_args(["--model-name", "diabetes"])
    with local_api.stack_api(
        api_key=KEY,
        port=0,
        model=local_api.own_model(args, {}),
        registry_dir=registry_dir,
        stack_name=f"e2e-own-{uuid.uuid4().hex[:8]}",
    ) as again:
        assert again.champion_version == 2
        assert ModelRegistry(again.stack.bucket).list_versions("diabetes") == [1, 2]
        status, answer = post(f"{again.url}/predict", predict_body)
        assert status == 200 and answer["model"]["version"] == 2
