"""`make api`'s flags: mistakes are reported before anything is started or trained."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from embedded_aws import local_api


def test_data_without_target_and_target_without_data_are_usage_errors(tmp_path: Path) -> None:
    data = tmp_path / "prices.csv"
    data.write_text("a,price\n1,2\n")
    with pytest.raises(SystemExit) as exc:
        local_api.main(["--data", str(data)])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        local_api.main(["--target", "price"])
    assert exc.value.code == 2


def test_a_missing_data_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        local_api.main(["--data", str(tmp_path / "nope.csv"), "--target", "y"])
    assert "nope.csv: no such file" in capsys.readouterr().err


def test_a_taken_port_is_reported_with_how_to_choose_another(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert local_api.main(["--port", str(port)]) == 2
    assert "PORT=" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["--data", "data/House_Prices.csv", "--target", "price"], "house-prices"),
        (["--data", "s3://b/k/sales.parquet", "--target", "y"], "sales"),
        (["--data", "x.csv", "--target", "y", "--model-name", "mine"], "mine"),
        (["--model-name", "mine"], "mine"),
    ],
)
def test_the_model_is_named_after_the_file_unless_named(argv: list[str], name: str) -> None:
    model = local_api.own_model(local_api.build_parser().parse_args(argv), {})
    assert model is not None and model.name == name


def test_without_data_or_name_the_template_model_is_served() -> None:
    assert local_api.own_model(local_api.build_parser().parse_args([]), {}) is None


def test_train_args_are_split_like_a_shell() -> None:
    args = local_api.build_parser().parse_args(
        [
            "--data",
            "x.csv",
            "--target",
            "y",
            "--train-args",
            "--estimator linear --tag 'team=data science'",
        ]
    )
    model = local_api.own_model(args, {})
    assert model is not None
    assert model.train_args == ("--estimator", "linear", "--tag", "team=data science")
