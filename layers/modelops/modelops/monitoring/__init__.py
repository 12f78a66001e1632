"""The Monitor step: drift and performance of captured predictions, reports, retraining.

Modules, in the order data flows through them: `objects` (streaming JSON lines from S3),
`join` (feedback index), `window` (the window and one pass over its captures),
`accumulators` (bounded per-window state), `statistics` (numpy drift statistics),
`drift` (verdicts), `performance`, `report` (statuses, summary), `html`, `retraining`,
`emf` (CloudWatch metrics) and `monitor` (the orchestration the function calls).
"""
