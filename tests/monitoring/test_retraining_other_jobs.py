"""Only this model's own retraining job holds back another (docs/MONITORING.md, "Retraining":
a job named `modelops-retrain-<name>-*` SUBMITTED ... RUNNING): a running job of another
model, on the same queue, does not."""

from __future__ import annotations

from embedded_aws.provision import LocalStack
from modelops.monitoring.retraining import job_name_prefix
from tests.monitoring.conftest import CaptureWriter, make_monitor
from tests.monitoring.test_retraining import (
    DRIFTING,
    NOW,
    drifting_window,
    retraining_jobs,
    running_training_job,
    window,
)


def test_a_running_job_of_another_model_does_not_hold_retraining_back(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    other = f"{job_name_prefix('wine')}-earlier"
    assert not other.startswith(job_name_prefix("churn"))
    still = running_training_job(local_stack, other)
    drifting_window(writer)
    report = make_monitor(local_stack, now=NOW, batch_client=still.client, **DRIFTING).run(window())
    assert report["status"] == "DRIFT"
    assert report["retraining"]["triggered"] is True, report["retraining"]["reason"]
    assert [j["jobId"] for j in retraining_jobs(local_stack)] == [report["retraining"]["job_id"]]
