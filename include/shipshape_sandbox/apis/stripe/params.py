"""Request parameters as Stripe reads them: Rack-style bracket parameters (`a[b][c]=v`), their coercion
to lists, integers and strings with Stripe's errors, the unknown-parameter check, and the flattening that
fingerprints an idempotent request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipshape_sandbox.apis.stripe.errors import _invalid, _unknown

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


def parse_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Rack-style bracket parameters as Stripe reads them: `a[b][c]=v`, `a[]=v`, `a[0]=v`.

    Arrays stay dicts keyed by index ('0', '1', ...) here; `_as_list` turns them into lists where the
    parameter is an array, so a metadata key that happens to be numeric stays a key.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, bracket, rest = key.partition("[")
        parts = [head]
        if bracket:
            tail = "[" + rest
            inner = []
            pos = 0
            while pos < len(tail):
                end = tail.find("]", pos)
                if tail[pos] != "[" or end < 0 or "[" in tail[pos + 1 : end]:
                    raise _invalid(f"Invalid parameter name: {key}", param=key)
                inner.append(tail[pos + 1 : end])
                pos = end + 1
            parts += inner
        if not head:
            raise _invalid(f"Invalid parameter name: {key}", param=key)
        node = root
        for i, part in enumerate(parts):
            if not isinstance(node, dict):
                raise _invalid("Invalid hash", param=_param_name(parts[:i]))
            if part == "":
                part = str(len(node))
            if i == len(parts) - 1:
                if isinstance(node.get(part), dict):
                    raise _invalid("Invalid hash", param=_param_name(parts[: i + 1]))
                node[part] = value
            else:
                child = node.get(part)
                if child is None or child == "":
                    child = node[part] = {}
                node = child
    return root


def _param_name(parts: list[str]) -> str:
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


def _as_list(value: Any, param: str) -> list[Any]:
    if isinstance(value, dict):
        if not all(k.isdigit() for k in value):
            raise _invalid("Invalid array", param=param)
        return [value[k] for k in sorted(value, key=int)]
    if value == "":
        return []
    raise _invalid("Invalid array", param=param)


def _as_int(value: Any, param: str) -> int:
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    raise _invalid(f"Invalid integer: {value}", param=param, code="parameter_invalid_integer")


def _as_str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise _invalid(f"Invalid string: {_ruby_hash(value)}", param=param, code="parameter_invalid_string")
    return value


def _ruby_hash(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}"=>{_ruby_hash(v)}' for k, v in value.items()) + "}"
    return f'"{value}"'


def _check_known(params: dict[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    allowed = set(allowed)
    unknown = [f"{prefix}[{k}]" if prefix else k for k in params if k not in allowed]
    if unknown:
        raise _unknown(sorted(unknown))


def _flatten(params: Any, prefix: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(params, dict):
        for k, v in params.items():
            yield from _flatten(v, f"{prefix}[{k}]" if prefix else k)
    else:
        yield prefix, params
