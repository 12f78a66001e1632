"""The demo churn generator: reproducible, realistic, and its drift knobs do what they say."""

from __future__ import annotations

import numpy as np
import pytest

from embedded_aws.churn_data import (
    CATEGORICAL_FEATURES,
    FEATURES,
    NEW_PLAN,
    NUMERIC_FEATURES,
    TARGET,
    as_instances,
    generate_churn,
)


def test_seeded_and_shaped() -> None:
    a, b = generate_churn(2_000, seed=3), generate_churn(2_000, seed=3)
    assert a.equals(b)
    assert not a.equals(generate_churn(2_000, seed=4))
    assert list(a.columns) == [*FEATURES, TARGET]
    assert set(a[TARGET]) == {"yes", "no"}
    assert 0.2 < (a[TARGET] == "yes").mean() < 0.8
    assert set(a["plan"]) == {"basic", "standard", "premium"}
    assert a["total_charges"].isna().any() and a["payment_method"].isna().any()
    assert all(a[c].dtype.kind == "f" for c in NUMERIC_FEATURES)


def test_numeric_shift_moves_monthly_charges() -> None:
    base, shifted = generate_churn(3_000, seed=1), generate_churn(3_000, seed=1, numeric_shift=25.0)
    assert shifted["monthly_charges"].mean() - base["monthly_charges"].mean() == pytest.approx(
        25.0, abs=0.5
    )


def test_new_category_share_injects_an_unseen_plan() -> None:
    frame = generate_churn(5_000, seed=1, new_category_share=0.2)
    assert (frame["plan"] == NEW_PLAN).mean() == pytest.approx(0.2, abs=0.02)
    assert NEW_PLAN not in set(generate_churn(5_000, seed=1)["plan"])


def test_concept_drift_changes_the_labels_not_the_features() -> None:
    base, drifted = generate_churn(5_000, seed=2), generate_churn(5_000, seed=2, concept_drift=1.0)
    assert base[list(FEATURES)].equals(drifted[list(FEATURES)])
    # Under the original concept short tenure churns; under the drifted one long tenure does.
    short = base["tenure_months"] < 12
    assert (base[TARGET][short] == "yes").mean() > (base[TARGET][~short] == "yes").mean()
    assert (drifted[TARGET][short] == "yes").mean() < (drifted[TARGET][~short] == "yes").mean()


def test_knobs_are_validated() -> None:
    with pytest.raises(ValueError, match="concept_drift"):
        generate_churn(10, concept_drift=2.0)
    with pytest.raises(ValueError, match="n_rows"):
        generate_churn(-1)


def test_as_instances_is_json_ready() -> None:
    frame = generate_churn(300, seed=5, missing_share=0.2)
    instances = as_instances(frame)
    assert len(instances) == 300 and set(instances[0]) == set(FEATURES)
    assert any(row["payment_method"] is None for row in instances)
    assert any(row["age"] is None for row in instances)
    values = [row[c] for row in instances for c in CATEGORICAL_FEATURES if row[c] is not None]
    assert all(isinstance(v, str) for v in values)
    assert not any(isinstance(row["age"], np.generic) for row in instances)
