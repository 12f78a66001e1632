"""A seeded, realistic customer-churn data set with knobs for the drifts a monitor must catch.

    from embedded_aws.churn_data import generate_churn
    train = generate_churn(10_000, seed=0)
    live = generate_churn(2_000, seed=1, numeric_shift=25.0, new_category_share=0.2)
    later = generate_churn(2_000, seed=2, concept_drift=1.0)

Columns: numeric `tenure_months`, `monthly_charges`, `total_charges`, `support_calls`,
`age` (float, NaN = missing); categorical `plan` (basic/standard/premium), `contract`,
`payment_method` (str, None = missing); the label `churned` ("yes"/"no"). Churn depends on
the features the way a telecom analyst would expect (short tenure, month-to-month contracts,
many support calls, high charges and electronic checks raise it), so a model can learn it.

Fully vectorised: a million rows take about a second.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

TARGET = "churned"
NUMERIC_FEATURES = ("tenure_months", "monthly_charges", "total_charges", "support_calls", "age")
CATEGORICAL_FEATURES = ("plan", "contract", "payment_method")
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
PLANS = ("basic", "standard", "premium")
# The plan value that never occurs in training data: `new_category_share` injects it.
NEW_PLAN = "enterprise"
CONTRACTS = ("month-to-month", "one-year", "two-year")
PAYMENT_METHODS = ("electronic_check", "credit_card", "bank_transfer", "mailed_check")

_PLAN_PRICE = {"basic": 30.0, "standard": 60.0, "premium": 95.0, NEW_PLAN: 140.0}


def generate_churn(
    n_rows: int = 10_000,
    *,
    seed: int = 0,
    numeric_shift: float = 0.0,
    new_category_share: float = 0.0,
    concept_drift: float = 0.0,
    missing_share: float = 0.03,
) -> pd.DataFrame:
    """`n_rows` customers, reproducible for a given `seed`.

    numeric_shift: dollars added to every `monthly_charges` (and so `total_charges`): a
        shifted numeric distribution.
    new_category_share: share of rows whose `plan` is "enterprise", never seen in training.
    concept_drift: 0..1, how far the feature→label relationship moves to a different one
        (tenure and support calls act the other way round, contracts stop mattering); at 1 a
        model trained on concept_drift=0 data loses most of its accuracy.
    missing_share: share of missing values in `total_charges`, `support_calls`, `age`,
        `payment_method` and (a third of it) `contract`.
    """
    if n_rows < 0:
        raise ValueError(f"n_rows must be >= 0, got {n_rows}")
    for name, value in (
        ("new_category_share", new_category_share),
        ("concept_drift", concept_drift),
        ("missing_share", missing_share),
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    rng = np.random.default_rng(seed)
    n = n_rows

    plan_idx = rng.choice(len(PLANS), size=n, p=[0.45, 0.35, 0.20])
    plan = np.asarray(PLANS, dtype=object)[plan_idx]
    base_price = np.asarray([_PLAN_PRICE[p] for p in PLANS])[plan_idx]
    if new_category_share > 0:
        is_new = rng.random(n) < new_category_share
        plan[is_new] = NEW_PLAN
        base_price[is_new] = _PLAN_PRICE[NEW_PLAN]
    contract_idx = rng.choice(len(CONTRACTS), size=n, p=[0.55, 0.25, 0.20])
    payment_idx = rng.choice(len(PAYMENT_METHODS), size=n, p=[0.35, 0.25, 0.25, 0.15])

    # Long contracts go with long tenure; tenure is in whole months, 1..72.
    tenure = np.clip(np.round(rng.gamma(1.3 + 1.2 * contract_idx, 10.0, size=n)), 1, 72)
    monthly = np.round(
        np.maximum(base_price + rng.normal(0.0, 8.0, size=n) + numeric_shift, 5.0), 2
    )
    total = np.round(monthly * tenure * rng.normal(1.0, 0.05, size=n), 2)
    support_calls = rng.poisson(
        0.8 + 1.2 * (plan_idx == 0) + 0.5 * (contract_idx == 0), size=n
    ).astype(float)
    age = np.round(rng.normal(45.0, 14.0, size=n).clip(18, 90))

    logit = _churn_logit(tenure, monthly, support_calls, contract_idx, payment_idx, age)
    if concept_drift > 0:
        drifted = _drifted_logit(tenure, monthly, support_calls, contract_idx, payment_idx, age)
        logit = (1.0 - concept_drift) * logit + concept_drift * drifted
    churned = np.where(rng.random(n) < 1.0 / (1.0 + np.exp(-logit)), "yes", "no").astype(object)

    frame = pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": _with_missing(rng, total, missing_share),
            "support_calls": _with_missing(rng, support_calls, missing_share),
            "age": _with_missing(rng, age, missing_share),
            "plan": plan,
            "contract": _with_missing(
                rng, np.asarray(CONTRACTS, dtype=object)[contract_idx], missing_share / 3
            ),
            "payment_method": _with_missing(
                rng, np.asarray(PAYMENT_METHODS, dtype=object)[payment_idx], missing_share
            ),
            TARGET: churned,
        }
    )
    return frame


def _churn_logit(
    tenure: np.ndarray,
    monthly: np.ndarray,
    calls: np.ndarray,
    contract: np.ndarray,
    payment: np.ndarray,
    age: np.ndarray,
) -> np.ndarray:
    return (
        -0.4
        - 0.045 * tenure
        + 0.025 * (monthly - 60.0)
        + 0.45 * calls
        + 1.1 * (contract == 0)
        - 0.9 * (contract == 2)
        + 0.6 * (payment == 0)
        - 0.01 * (age - 45.0)
    )


def _drifted_logit(
    tenure: np.ndarray,
    monthly: np.ndarray,
    calls: np.ndarray,
    contract: np.ndarray,
    payment: np.ndarray,
    age: np.ndarray,
) -> np.ndarray:
    # A different world: loyal long-tenure customers leave for a competitor, the support
    # team got good (calls now retain), price and contracts no longer matter.
    return -1.6 + 0.06 * tenure - 0.5 * calls + 0.03 * (age - 45.0) - 0.6 * (payment == 0)


def _with_missing(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    if share <= 0 or values.size == 0:
        return values
    out = values.copy() if values.dtype == object else values.astype(float)
    out[rng.random(values.size) < share] = None if out.dtype == object else np.nan
    return out


def as_instances(frame: pd.DataFrame, features: Iterable[str] = FEATURES) -> list[dict[str, Any]]:
    """Rows as the prediction API's `instances` (JSON-ready: missing values become None)."""
    columns = list(features)
    records: list[dict[str, Any]] = []
    values = {c: frame[c].to_numpy(dtype=object) for c in columns}
    for i in range(len(frame)):
        row: dict[str, Any] = {}
        for c in columns:
            v = values[c][i]
            if v is None or (isinstance(v, float) and np.isnan(v)):
                row[c] = None
            elif isinstance(v, np.generic):
                row[c] = v.item()
            else:
                row[c] = v
        records.append(row)
    return records
