"""The API door answers every case of the corpus (tests/serving/http_door_cases.py) byte for
byte as the Powertools resolvers it replaced did: status, body, headers and key order."""

from __future__ import annotations

import json
from typing import Any

import pytest

from embedded_aws.template import REPO_ROOT
from tests.serving.conftest import FakeLambdaContext
from tests.serving.http_door_cases import GOLDEN, cases, door

RECORDED: dict[str, Any] = json.loads((REPO_ROOT / GOLDEN).read_text(encoding="utf-8"))


def test_the_corpus_is_the_recorded_one() -> None:
    assert sorted(cases()) == sorted(RECORDED)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_each_response_is_byte_identical_to_the_recorded_one(name: str) -> None:
    response = door().resolve(cases()[name], FakeLambdaContext(aws_request_id="req-42"))
    # Lambda serialises the returned dict: same keys in the same order, same values.
    assert json.dumps(response, ensure_ascii=False) == json.dumps(
        RECORDED[name], ensure_ascii=False
    )


def test_the_door_forgets_the_event_once_answered() -> None:
    app = door()
    app.resolve(cases()["rest-predict-ok"], FakeLambdaContext())
    assert app.current_event == {}
    with pytest.raises(AssertionError):
        app.lambda_context  # noqa: B018 - only readable while answering
