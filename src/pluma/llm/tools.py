"""Tool definitions from pydantic models, and validation of the arguments a
model produced against a tool's JSON Schema.

Validation uses ``jsonschema`` (the reference validator). Before validating we
coerce the scalar mistakes models commonly make when the schema leaves no
doubt — ``"5"`` for an integer, ``"true"`` for a boolean, a number for a
string — so a usable call is not rejected for its spelling.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import jsonschema
from pydantic import BaseModel

from pluma.llm.errors import LLMError
from pluma.llm.types import Tool, ToolCall


class ToolValidationError(LLMError, ValueError):
    """Arguments that do not fit the tool's schema; ``errors`` holds one
    ``(path, message)`` per problem, path like ``items[2].name``."""

    def __init__(self, tool: str, errors: list[tuple[str, str]]) -> None:
        self.tool = tool
        self.errors = errors
        lines = "; ".join(f"{path or '<root>'}: {msg}" for path, msg in errors)
        super().__init__(f"invalid arguments for tool {tool!r}: {lines}")


class ToolSchemaError(LLMError, ValueError):
    """The tool's own ``parameters`` are not a valid JSON Schema (a mistake in
    the tool definition, not in the model's call)."""


def tool_from_model(
    model: type[BaseModel], *, name: str | None = None, description: str | None = None
) -> Tool:
    """A :class:`Tool` whose parameters are the JSON Schema of ``model``.

    The name defaults to the class name, the description to its docstring.

    Arguments the model does not declare are refused: every object schema
    pydantic leaves open (a model with the default ``extra`` setting, or
    ``extra="ignore"``) gets ``additionalProperties: false``, so
    :func:`validate_tool_call` names the stray argument instead of letting it
    reach the tool function as an unexpected keyword. A model declared with
    ``extra="allow"`` keeps ``additionalProperties: true`` and its extra
    arguments pass.
    """
    schema = model.model_json_schema()
    schema.pop("title", None)
    _close_objects(schema)
    for definition in schema.get("$defs", {}).values():
        if isinstance(definition, dict):
            _close_objects(definition)
    desc = description or (model.__doc__ or "").strip()
    return Tool(name=name or model.__name__, description=desc, parameters=schema)


def _close_objects(schema: dict[str, Any]) -> None:
    """``additionalProperties: false`` on a model's object schema unless it
    already says (pydantic writes it for ``extra="forbid"`` and ``"allow"``)."""
    if schema.get("type") == "object" and "properties" in schema:
        schema.setdefault("additionalProperties", False)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/Item``, as pydantic emits)."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return target if isinstance(target, dict) else {}
    return schema


def _kind(schema: dict[str, Any]) -> str | None:
    """The schema's single non-null type: ``"integer"`` for ``"integer"`` and
    for ``["integer", "null"]``; None when absent or ambiguous."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    return kind if isinstance(kind, str) else None


_PY_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "object": dict,
    "array": list,
    "null": type(None),
}


def _accepts(value: Any, kind: str | None) -> bool:
    """Whether ``value`` already has the JSON type ``kind`` (None: any)."""
    if kind is None:
        return True
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    expected = _PY_TYPES.get(kind)
    return expected is None or isinstance(value, expected)


def _coerce(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """Fix unambiguous scalar spellings in place, recursing into objects and
    arrays. Anything doubtful is left for the validator to report.

    | schema type | value given            | becomes            |
    |-------------|------------------------|--------------------|
    | integer     | "5", 5.0               | 5                  |
    | number      | "2.5", "3"             | 2.5, 3             |
    | boolean     | "true" / "false"       | True / False       |
    | string      | 5, 2.5                 | "5", "2.5"         |
    | anyOf/oneOf | a string               | the first branch's |
    |             |                        | coercion that      |
    |             |                        | changes the value  |
    """
    schema = _resolve(schema, root)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(branches, list) and "type" not in schema:
        options = [_resolve(b, root) for b in branches if isinstance(b, dict)]
        # A branch that takes the value as it is wins (a "5" stays a string
        # when strings are allowed); otherwise the first coercion that fits.
        for branch in options:
            if _accepts(value, _kind(branch)):
                return _coerce(value, branch, root)
        for branch in options:
            coerced = _coerce(copy.deepcopy(value), branch, root)
            if _accepts(coerced, _kind(branch)):
                return coerced
        return value
    kind = _kind(schema)
    if isinstance(value, str):
        text = value.strip()
        if kind == "integer":
            try:
                return int(text)
            except ValueError:
                return value
        if kind == "number":
            try:
                number = float(text)
            except ValueError:
                return value
            return int(number) if number.is_integer() and "." not in text else number
        if kind == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        return value
    if kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        if isinstance(props, dict):
            for key, sub in props.items():
                if key in value and isinstance(sub, dict):
                    value[key] = _coerce(value[key], sub, root)
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                value[i] = _coerce(item, items, root)
    return value


def _path(parts: Sequence[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate_tool_call(tools: Sequence[Tool], call: ToolCall) -> dict[str, Any]:
    """The call's arguments, coerced and checked against its tool's schema.

    Raises :class:`ToolValidationError` naming each failing path, or when no
    tool has the call's name; :class:`ToolSchemaError` when the tool's own
    schema is broken. The call itself is not modified.
    """
    tool = next((t for t in tools if t.name == call.name), None)
    if tool is None:
        names = ", ".join(t.name for t in tools) or "none"
        raise ToolValidationError(call.name, [("", f"no such tool (available: {names})")])
    schema = tool.parameters
    args = _coerce(copy.deepcopy(call.arguments), schema, schema)
    validator_cls = jsonschema.validators.validator_for(schema)
    try:
        validator_cls.check_schema(schema)
        validator = validator_cls(schema)
        problems = sorted(validator.iter_errors(args), key=lambda e: list(e.absolute_path))
    except (jsonschema.exceptions.SchemaError, jsonschema.exceptions.UnknownType) as exc:
        message = getattr(exc, "message", None) or str(exc).splitlines()[0]
        raise ToolSchemaError(
            f"tool {call.name!r} has an invalid parameters schema: {message}; "
            "fix the Tool's JSON Schema"
        ) from None
    if problems:
        raise ToolValidationError(
            call.name, [(_path(list(e.absolute_path)), e.message) for e in problems]
        )
    return dict(args)
