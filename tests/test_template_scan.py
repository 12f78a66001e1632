"""Every checkov check on template.yaml passes or is skipped in the template with its reason.

`make scan` (part of `make test`) runs checkov and cfn-lint in their own environment; this
test holds the other half of the rule: a skip without a written reason is a defect.
"""

from __future__ import annotations

import re

from embedded_aws.template import load_template

CHECK_ID = re.compile(r"^CKV2?_AWS_\d+$")


def skips() -> list[tuple[str, dict[str, str]]]:
    resources = load_template()["Resources"]
    return [
        (logical_id, skip)
        for logical_id, res in resources.items()
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]


def test_every_checkov_skip_names_a_check_and_says_why() -> None:
    listed = skips()
    assert listed, "no checkov skips found: the Metadata layout changed?"
    for logical_id, skip in listed:
        assert CHECK_ID.match(skip.get("id", "")), (logical_id, skip)
        reason = " ".join(str(skip.get("comment", "")).split())
        assert len(reason) >= 40, f"{logical_id} skips {skip.get('id')} without a real reason"


def test_a_resource_skips_a_check_at_most_once() -> None:
    seen = [(logical_id, skip["id"]) for logical_id, skip in skips()]
    assert len(seen) == len(set(seen))
