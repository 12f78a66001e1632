"""Embedded AWS with the whole stack provisioned from template.yaml (in-process moto)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from embedded_aws.provision import LocalStack, provision_stack


@pytest.fixture
def local_stack() -> Iterator[LocalStack]:
    # moto's Batch must not try to start Docker containers
    with mock_aws(config={"batch": {"use_docker": False}}):
        yield provision_stack()
