"""Tools: definitions from pydantic, validation with coercion, and streamed
argument parsing with incomplete-JSON recovery."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field

from pluma import llm


class Item(BaseModel):
    name: str
    qty: int = Field(ge=1)


class Order(BaseModel):
    """Place an order for the customer."""

    customer: str
    items: list[Item]
    express: bool = False
    note: str | None = None
    priority: Literal["low", "high"] = "low"


ORDER = llm.tool_from_model(Order)


def call(args: dict[str, object], name: str = "Order") -> llm.ToolCall:
    return llm.ToolCall("c1", name, args)


def test_tool_from_model() -> None:
    assert ORDER.name == "Order"
    assert ORDER.description == "Place an order for the customer."
    params = ORDER.parameters
    assert params["type"] == "object" and "title" not in params
    assert params["required"] == ["customer", "items"]
    assert params["properties"]["items"]["items"] == {"$ref": "#/$defs/Item"}
    renamed = llm.tool_from_model(Item, name="add_item", description="Add one item.")
    assert (renamed.name, renamed.description) == ("add_item", "Add one item.")


def test_a_tool_from_a_model_refuses_undeclared_arguments() -> None:
    """A model's tool closes its objects (nested models too), so a stray
    argument is named instead of reaching the function as a keyword."""
    assert ORDER.parameters["additionalProperties"] is False
    assert ORDER.parameters["$defs"]["Item"]["additionalProperties"] is False
    args = {"customer": "Ann", "items": [{"name": "tea", "qty": 1, "size": "L"}], "unit": "C"}
    with pytest.raises(llm.ToolValidationError) as info:
        llm.validate_tool_call([ORDER], call(args))
    problems = dict(info.value.errors)
    assert "'unit' was unexpected" in problems[""]
    assert "'size' was unexpected" in problems["items[0]"]


def test_a_model_that_allows_extra_arguments_keeps_them() -> None:
    class Open(BaseModel, extra="allow"):
        city: str

    class Closed(BaseModel, extra="forbid"):
        city: str

    tool = llm.tool_from_model(Open)
    assert tool.parameters["additionalProperties"] is True
    args = {"city": "Paris", "unit": "C"}
    assert llm.validate_tool_call([tool], llm.ToolCall("c", "Open", args)) == args
    closed = llm.tool_from_model(Closed)
    with pytest.raises(llm.ToolValidationError, match="'unit' was unexpected"):
        llm.validate_tool_call([closed], llm.ToolCall("c", "Closed", args))


def test_valid_arguments_pass_through() -> None:
    args = {"customer": "Ann", "items": [{"name": "tea", "qty": 2}], "priority": "high"}
    assert llm.validate_tool_call([ORDER], call(args)) == args


def test_coercion_of_unambiguous_scalars() -> None:
    original = {
        "customer": 42,
        "items": [{"name": "tea", "qty": "2"}, {"name": 7, "qty": 3.0}],
        "express": "TRUE",
        "note": "5",
    }
    the_call = call(original)
    out = llm.validate_tool_call([ORDER], the_call)
    assert out == {
        "customer": "42",
        "items": [{"name": "tea", "qty": 2}, {"name": "7", "qty": 3}],
        "express": True,
        "note": "5",  # str | None: a string stays a string
    }
    assert the_call.arguments["items"][0]["qty"] == "2"  # the call is not modified


def test_optional_integer_is_coerced_through_any_of() -> None:
    tool = llm.Tool(
        "f",
        "",
        {
            "type": "object",
            "properties": {"n": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
        },
    )
    assert llm.validate_tool_call([tool], llm.ToolCall("c", "f", {"n": "12"})) == {"n": 12}
    assert llm.validate_tool_call([tool], llm.ToolCall("c", "f", {"n": None})) == {"n": None}


def test_errors_name_each_failing_path() -> None:
    bad = {
        "items": [{"name": "tea", "qty": 0}, {"qty": "many"}],
        "express": "maybe",
        "priority": "urgent",
    }
    with pytest.raises(llm.ToolValidationError) as info:
        llm.validate_tool_call([ORDER], call(bad))
    paths = [path for path, _ in info.value.errors]
    assert sorted(paths) == sorted(
        ["", "express", "items[0].qty", "items[1]", "items[1].qty", "priority"]
    )
    messages = dict(info.value.errors)
    assert "'customer' is a required property" in messages[""]
    assert "'name' is a required property" in messages["items[1]"]
    assert "less than the minimum of 1" in messages["items[0].qty"]
    text = str(info.value)
    assert text.startswith("invalid arguments for tool 'Order': ")
    assert "items[1].qty: 'many' is not of type 'integer'" in text
    assert "<root>: 'customer' is a required property" in text


@pytest.mark.parametrize(
    "parameters",
    [{"type": "objekt"}, {"type": "object", "properties": {"a": {"type": 5}}}, {"required": "a"}],
)
def test_a_broken_tool_schema_is_reported_as_such(parameters: dict[str, object]) -> None:
    tool = llm.Tool("f", "", parameters)
    with pytest.raises(llm.ToolSchemaError, match=r"tool 'f' has an invalid parameters schema"):
        llm.validate_tool_call([tool], llm.ToolCall("c", "f", {"a": 1}))


def test_unknown_tool_names_the_available_ones() -> None:
    with pytest.raises(llm.ToolValidationError, match=r"no such tool \(available: Order\)"):
        llm.validate_tool_call([ORDER], call({}, name="Refund"))


# -- argument parsing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "arguments", "mode"),
    [
        ('{"a": 1, "b": [true, null]}', {"a": 1, "b": [True, None]}, "strict"),
        ("", {}, "strict"),
        ("  ", {}, "strict"),
        ('```json\n{"a": 1}\n```', {"a": 1}, "repaired"),
        ('{"a": [1, 2,], "b": 3,}', {"a": [1, 2], "b": 3}, "repaired"),
        ('{"text": "line one\nline two\ttab"}', {"text": "line one\nline two\ttab"}, "repaired"),
        (
            "{'city': 'Paris', 'ok': True, 'n': None}",
            {"city": "Paris", "ok": True, "n": None},
            "repaired",
        ),
        ("{'bad': {1, 2}}", {}, "invalid"),
        ("{'code': __import__('os').getcwd()}", {}, "invalid"),
        ('{"a": 1, "b": "unfini', {"a": 1, "b": "unfini"}, "partial"),
        ('{"a": {"deep": [1, 2', {"a": {"deep": [1, 2]}}, "partial"),
        ('{"a": 1, "b"', {"a": 1}, "partial"),
        ("[1, 2]", {}, "invalid"),
        ("not json at all", {}, "invalid"),
        ('"just a string"', {}, "invalid"),
    ],
)
def test_parse_tool_arguments_modes(text: str, arguments: dict[str, object], mode: str) -> None:
    parsed = llm.parse_tool_arguments(text)
    assert (parsed.arguments, parsed.mode) == (arguments, mode)


def test_parse_partial_arguments_never_raises() -> None:
    assert llm.parse_partial_arguments("") == {}
    assert llm.parse_partial_arguments('{"ci') == {}
    assert llm.parse_partial_arguments('{"city": "Pa') == {"city": "Pa"}
    assert llm.parse_partial_arguments("}{") == {}
    assert llm.parse_partial_arguments("[1") == {}


def test_tool_call_parses_streamed_arguments_lazily() -> None:
    tc = llm.ToolCall("c", "weather")
    assert tc.arguments == {} and tc.raw_arguments is None
    fragments = ['{"ci', 'ty": "Par', 'is", "days"', ": 3}"]
    seen = []
    for fragment in fragments:
        tc.append_arguments(fragment)
        seen.append(tc.arguments)
    assert seen == [{}, {"city": "Par"}, {"city": "Paris"}, {"city": "Paris", "days": 3}]
    assert tc.raw_arguments == "".join(fragments)
    assert tc.finish_arguments() == "strict"
    assert tc.raw_arguments is None and tc.arguments == {"city": "Paris", "days": 3}


def test_tool_call_finish_reports_recovery_mode() -> None:
    tc = llm.ToolCall("c", "f")
    tc.append_arguments('{"x": "cut')
    assert tc.finish_arguments() == "partial"
    assert tc.arguments == {"x": "cut"}
    whole = llm.ToolCall("c", "f", {"given": True})
    assert whole.finish_arguments() == "strict" and whole.arguments == {"given": True}


def test_tool_call_copy_is_deep() -> None:
    tc = llm.ToolCall("c", "f", {"list": [1]}, thought_signature="sig")
    dup = tc.copy()
    dup.arguments["list"].append(2)
    assert tc.arguments == {"list": [1]}
    assert dup.thought_signature == "sig" and dup == llm.ToolCall(
        "c", "f", {"list": [1, 2]}, thought_signature="sig"
    )
