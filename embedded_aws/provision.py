"""Create the stack's resources on embedded AWS as template.yaml declares them.

Only what the local loop uses, each with the template's own settings (read from the
template, not repeated here), so local runs exercise the configuration that deploys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from embedded_aws.template import function_environment, load_template, resolve, resource


STACK_NAME = "modelops-local"


@dataclass(frozen=True)
class LocalStack:
    """What provision_stack created: `refs` holds what CloudFormation's !Ref and !GetAtt
    give for each resource (keys "LogicalId" and "LogicalId.Attribute"), so any value of
    the template (function environments, job definitions) resolves against the local stack."""

    name: str
    refs: dict[str, Any]
    created: tuple[str, ...]
    not_created: tuple[str, ...]

    @property
    def bucket(self) -> str:
        return str(self.refs["ModelOpsBucket"])

    def ref(self, logical_id: str) -> str:
        try:
            return str(self.refs[logical_id])
        except KeyError:
            raise KeyError(f"the local stack has no {logical_id!r}: is it declared in template.yaml?") from None

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The function's environment as Lambda would set it (Globals merged, values resolved)."""
        doc = load_template()
        return {k: str(v) for k, v in resolve(function_environment(logical_id, doc), self.refs, doc).items()}


def create_bucket(s3: Any, bucket: str, template: dict[str, Any] | None = None) -> str:
    """ModelOpsBucket with its encryption, public access block, lifecycle and TLS-only policy."""
    doc = template or load_template()
    props = resolve(resource("ModelOpsBucket", doc)["Properties"], {}, doc)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                # CloudFormation says ServerSideEncryptionByDefault where the S3 API says Apply...
                {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    "BucketKeyEnabled": rule.get("BucketKeyEnabled", False),
                }
                for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
        },
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
