"""Read template.yaml (with its CloudFormation short-form tags) and resolve simple values.

Tests and the local runner derive resources, handlers and settings from here rather than
repeating them, so a change to the template is a change to what is tested.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

_TAGS = [
    "Ref",
    "Sub",
    "GetAtt",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Select",
    "GetAZs",
    "Join",
    "Split",
    "FindInMap",
    "ImportValue",
    "Base64",
    "Condition",
    "Cidr",
    "Transform",
    "ToJsonString",
]


@dataclass(frozen=True)
class Tagged:
    """A CloudFormation intrinsic function, e.g. Tagged("Ref", "ModelName")."""

    tag: str
    value: Any


class _Loader(yaml.SafeLoader):
    pass


def _make_constructor(tag: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Tagged:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return Tagged(tag, value)

    return construct


for _tag in _TAGS:
    _Loader.add_constructor(f"!{_tag}", _make_constructor(_tag))


@functools.cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open() as fh:
        doc: dict[str, Any] = yaml.load(fh, Loader=_Loader)
    return doc


def resource(logical_id: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = template or load_template()
    try:
        res: dict[str, Any] = doc["Resources"][logical_id]
    except KeyError:
        raise KeyError(f"template.yaml has no resource {logical_id!r}") from None
    return res


def parameter_default(name: str, template: dict[str, Any] | None = None) -> Any:
    doc = template or load_template()
    parameter = doc["Parameters"][name]
    default = parameter.get("Default")
    if parameter.get("Type") == "CommaDelimitedList" and isinstance(default, str):
        return default.split(",")  # as CloudFormation's !Ref gives it: a list
    return default


def function_environment(logical_id: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """Globals' environment merged with the function's own (function wins), unresolved."""
    doc = template or load_template()
    env = dict(
        doc.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    props = resource(logical_id, doc).get("Properties", {})
    env.update(props.get("Environment", {}).get("Variables", {}))
    return env


# What !Ref AWS::NoValue resolves to: the property (or list item) holding it is dropped.
NO_VALUE = Tagged("Ref", "AWS::NoValue")

# Pseudo parameters as embedded AWS has them (moto's default account); `refs` may override any.
PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::Partition": "aws",
    "AWS::Region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "modelops-local",
    "AWS::URLSuffix": "amazonaws.com",
}


def resolve(value: Any, refs: dict[str, Any], template: dict[str, Any] | None = None) -> Any:
    """Resolve Ref/Sub against `refs` (logical IDs and parameters), parameters' defaults otherwise."""
    doc = template or load_template()
    if isinstance(value, Tagged):
        if value.tag == "Ref":
            name = value.value
            if name == "AWS::NoValue":
                return NO_VALUE
            if name in refs:
                return refs[name]
            if name in doc.get("Parameters", {}):
                return parameter_default(name, doc)
            if name in PSEUDO_PARAMETERS:
                return PSEUDO_PARAMETERS[name]
            raise KeyError(f"cannot resolve !Ref {name}: pass it in refs")
        if value.tag == "Sub":
            # !Sub "text" or !Sub [text, {Var: value}]; ${X.Attr} resolves like !GetAtt X.Attr
            text, variables = (value.value, {}) if isinstance(value.value, str) else value.value
            scope = {**refs, **{k: resolve(v, refs, doc) for k, v in variables.items()}}
            # ${!Name} is a literal ${Name} (e.g. Athena's partition placeholders)
            out = text.replace("${!", "\0")
            for key in [*scope, *doc.get("Parameters", {}), *PSEUDO_PARAMETERS]:
                if "${" + key + "}" in out:
                    out = out.replace(
                        "${" + key + "}", str(resolve(Tagged("Ref", key), scope, doc))
                    )
            if "${" in out:
                raise KeyError(f"cannot resolve !Sub {text!r}: pass the missing names in refs")
            return out.replace("\0", "${")
        if value.tag == "GetAtt":
            name = ".".join(value.value)
            if name in refs:
                return refs[name]
            raise KeyError(f"cannot resolve !GetAtt {name}: pass it in refs")
        if value.tag == "If":
            condition, if_true, if_false = value.value
            return resolve(if_true if _condition(condition, refs, doc) else if_false, refs, doc)
        if value.tag == "Join":
            separator, parts = value.value
            return str(resolve(separator, refs, doc)).join(
                str(p) for p in resolve(parts, refs, doc)
            )
        if value.tag == "Split":
            separator, source = value.value
            return str(resolve(source, refs, doc)).split(separator)
        raise ValueError(f"cannot resolve !{value.tag} locally: {value.value!r}")
    if isinstance(value, dict):
        resolved = {k: resolve(v, refs, doc) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}
    if isinstance(value, list):
        return [v for v in (resolve(v, refs, doc) for v in value) if v is not NO_VALUE]
    return value


def condition_holds(
    name: str, refs: dict[str, Any], template: dict[str, Any] | None = None
) -> bool:
    """Whether the template's condition `name` holds for these parameter values."""
    doc = template or load_template()
    return _condition(name, refs, doc)


def _condition(name: str, refs: dict[str, Any], doc: dict[str, Any]) -> bool:
    """Evaluate a named condition of the template's Conditions section."""
    return bool(_evaluate(doc["Conditions"][name], refs, doc))


def _evaluate(expr: Any, refs: dict[str, Any], doc: dict[str, Any]) -> Any:
    if isinstance(expr, Tagged) and expr.tag == "Equals":
        left, right = (resolve(v, refs, doc) for v in expr.value)
        return str(left) == str(right)
    if isinstance(expr, Tagged) and expr.tag == "Not":
        return not _evaluate(expr.value[0], refs, doc)
    if isinstance(expr, Tagged) and expr.tag == "And":
        return all(_evaluate(v, refs, doc) for v in expr.value)
    if isinstance(expr, Tagged) and expr.tag == "Or":
        return any(_evaluate(v, refs, doc) for v in expr.value)
    if isinstance(expr, Tagged) and expr.tag == "Condition":
        return _condition(expr.value, refs, doc)
    return resolve(expr, refs, doc)


@dataclass(frozen=True)
class FunctionSource:
    """Where a function's code lives, per its CodeUri and Handler."""

    logical_id: str
    code_dir: Path
    module: str
    attribute: str


def function_source(logical_id: str, template: dict[str, Any] | None = None) -> FunctionSource:
    props = resource(logical_id, template)["Properties"]
    module, attribute = props["Handler"].rsplit(".", 1)
    return FunctionSource(logical_id, REPO_ROOT / props["CodeUri"], module, attribute)
