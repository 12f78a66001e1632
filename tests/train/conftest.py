"""Small data sets for the training-job tests (real data, small enough to train in ~0.1 s)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from embedded_aws.churn_data import generate_churn
from modelops_train.progress import Progress


@pytest.fixture(scope="session")
def churn_frame() -> pd.DataFrame:
    return generate_churn(800, seed=11)


@pytest.fixture
def quiet() -> Progress:
    """Progress written to a buffer the test can read."""
    return Progress(io.StringIO())


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_fit() -> Iterator[None]:
    """HistGradientBoosting's OpenMP threads thrash on a busy 2-core machine; the data here is tiny."""
    with threadpool_limits(limits=1):
        yield
