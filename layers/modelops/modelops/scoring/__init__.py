"""Batch scoring: whole S3 datasets scored by the served model, on Step Functions.

BatchScoringStateMachine plans a run (`plan`: the input objects, split into row ranges, and
the model version), scores each range in a Distributed Map child (`score_item`: rows to
PredictFunction's direct door in batches, results as JSON Lines) and writes the run's
manifest (`finish`). docs/SCORING.md describes inputs, outputs and failures.
"""
