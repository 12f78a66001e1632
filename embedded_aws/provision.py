"""Create the stack's resources on embedded AWS as template.yaml declares them.

Only what the local loop uses, each with the template's own settings (read from the
template, not repeated here), so local runs exercise the configuration that deploys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from embedded_aws.template import load_template, resolve, resource


@dataclass(frozen=True)
class LocalStack:
    """Names of the resources created locally, by logical ID."""

    bucket: str


def create_bucket(s3: Any, bucket: str, template: dict[str, Any] | None = None) -> str:
    """ModelOpsBucket with its encryption, public access block, lifecycle and TLS-only policy."""
    doc = template or load_template()
    props = resolve(resource("ModelOpsBucket", doc)["Properties"], {}, doc)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_encryption(
        Bucket=bucket, ServerSideEncryptionConfiguration=props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    )
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    rules = []
    for rule in props["LifecycleConfiguration"]["Rules"]:
        converted: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
        if "ExpirationInDays" in rule:
            converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "AbortIncompleteMultipartUpload" in rule:
            converted["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
        rules.append(converted)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    return bucket
