"""Just enough of IAM's policy evaluation to ask a synthesized resource policy one question, for
the tests: would this request be allowed? moto stores a topic policy but never consults it.

An explicit Deny wins; otherwise an Allow must match. Matching covers what the stack writes
(service and `*` principals, `*` wildcards in actions and ARNs, the condition operators below,
every key of a condition required); anything else raises, so a new policy shape fails a test
rather than being judged wrongly. CloudFormation intrinsics are resolved first by `resolve`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase
from typing import Any, Final

_OPERATORS: Final[Mapping[str, Callable[[str, str], bool]]] = {
    "StringEquals": lambda actual, expected: actual == expected,
    "ArnEquals": lambda actual, expected: actual == expected,
    "ArnLike": fnmatchcase,
    "Bool": lambda actual, expected: actual.lower() == expected.lower(),
}


def resolve(value: Any, refs: Mapping[str, str]) -> Any:
    """`value` with every `Ref` (to a pseudo parameter or a resource) and `Fn::Join` replaced."""
    if isinstance(value, list):
        return [resolve(item, refs) for item in value]
    if not isinstance(value, dict):
        return value
    if list(value) == ["Ref"]:
        return refs[value["Ref"]]
    if list(value) == ["Fn::Join"]:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve(part, refs) for part in parts)
    unknown = [key for key in value if key.startswith("Fn::")]
    if unknown:
        raise NotImplementedError(f"intrinsic {unknown[0]} is not resolved here")
    return {key: resolve(item, refs) for key, item in value.items()}


def allows(
    policy: Mapping[str, Any],
    *,
    service: str,
    action: str,
    resource: str,
    context: Mapping[str, str],
) -> bool:
    """Whether `service` may do `action` on `resource`, the request carrying `context`'s keys."""
    effects = {
        statement["Effect"]
        for statement in policy["Statement"]
        if _principal_matches(statement["Principal"], service)
        and any(fnmatchcase(action.lower(), a.lower()) for a in _listed(statement["Action"]))
        and any(fnmatchcase(resource, r) for r in _listed(statement["Resource"]))
        and _conditions_hold(statement.get("Condition", {}), context)
    }
    return "Allow" in effects and "Deny" not in effects


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, service: str) -> bool:
    if principal in ("*", {"AWS": "*"}):
        return True
    if not isinstance(principal, dict) or set(principal) != {"Service"}:
        raise NotImplementedError(f"principal {principal!r}")
    return service in _listed(principal["Service"])


def _conditions_hold(
    conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]
) -> bool:
    for operator, keys in conditions.items():
        if operator not in _OPERATORS:
            raise NotImplementedError(f"condition operator {operator}")
        test = _OPERATORS[operator]
        for key, expected in keys.items():
            actual = context.get(key)
            if actual is None or not any(test(actual, value) for value in _listed(expected)):
                return False
    return True
