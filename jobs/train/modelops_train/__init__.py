"""The training job: `modelops train` (jobs/train), the Build step of serverless-modelops.

`modelops_train.api.train_and_publish` is the programmatic entry point; `modelops_train.cli`
is the command line (the AWS Batch container's entry point). See docs/TRAINING.md.
"""
