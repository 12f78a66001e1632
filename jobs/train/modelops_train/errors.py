"""Training-job failures, each with the process exit code the CLI documents (docs/TRAINING.md)."""

from __future__ import annotations

from modelops.errors import InvalidInput, ModelOpsError


class InvalidTrainingData(InvalidInput):
    """The data cannot be trained on: every problem is listed (column, row, what)."""


class DataNotFoundError(ModelOpsError):
    """The training data (file, S3 object, captures) does not exist or cannot be read."""


class ParityError(ModelOpsError):
    """The exported ONNX model does not reproduce scikit-learn's predictions."""


class UsageError(ModelOpsError):
    """The job was asked for something it cannot do (an unknown option value, say)."""
