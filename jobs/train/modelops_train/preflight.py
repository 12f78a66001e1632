"""Before the work: can the command reach the registry's bucket with the credentials it has?

One HEAD of the bucket says, in seconds rather than after a whole training run, whether
credentials are missing, the endpoint is unreachable, the bucket does not exist or access
is denied; each becomes a UsageError saying what to do.
"""

from __future__ import annotations

import os
from typing import Any

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from modelops import aws
from modelops_train.errors import UsageError


def _where() -> str:
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    return f"at {endpoint} (AWS_ENDPOINT_URL)" if endpoint else "on AWS"


def check_bucket(bucket: str, *, s3_client: Any | None = None) -> None:
    """Raise UsageError unless `bucket` exists and these credentials may use it."""
    s3 = s3_client if s3_client is not None else aws.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
    except NoCredentialsError:
        raise UsageError(
            "no AWS credentials found: configure them (aws configure, AWS_PROFILE, or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY); for the local embedded AWS set "
            "AWS_ENDPOINT_URL to the endpoint `make api` prints and nothing else is needed"
        ) from None
    except NoRegionError:
        raise UsageError("no AWS region configured: set AWS_REGION (e.g. us-east-1)") from None
    except EndpointConnectionError as exc:
        raise UsageError(
            f"cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')}: is `make api` "
            "(or the endpoint in AWS_ENDPOINT_URL) running?"
        ) from None
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = exc.response.get("Error", {}).get("Code", "")
        if status == 404 or code in ("404", "NoSuchBucket", "NotFound"):
            raise UsageError(
                f"bucket {bucket!r} (MODELOPS_BUCKET) does not exist {_where()}: set "
                "MODELOPS_BUCKET to the stack's bucket (the stack output ModelOpsBucketName, or the "
                "bucket `make api` prints), or create it"
            ) from None
        if status == 403 or code in ("403", "AccessDenied", "Forbidden"):
            raise UsageError(
                f"access to bucket {bucket!r} denied {_where()}: these credentials may not "
                "use it (check AWS_PROFILE and the role's policy)"
            ) from None
        raise
