"""Plain-word messages for a node's config, from JSON Schema errors.

jsonschema says `{} is not valid under any of the given schemas` or `'message' is a required
property`; a person filling in a form needs "Set Expression, or Left and Operator" and "Fill in
Message". Field names are the form's labels: a property's `title`, else its key humanized
(`duration_seconds` → "Duration seconds"), as the editor's SchemaForm shows them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

_TYPE_WORDS = {
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "empty",
}


def humanize(key: str) -> str:
    text = key.replace("_", " ")
    return text[:1].upper() + text[1:]


def _property_schema(schema: dict[str, Any], key: str) -> dict[str, Any]:
    prop = (schema.get("properties") or {}).get(key)
    return prop if isinstance(prop, dict) else {}


def _label(schema: dict[str, Any], key: str) -> str:
    title = _property_schema(schema, key).get("title")
    return title if isinstance(title, str) and title else humanize(key)


def field_label(root: dict[str, Any], path: Sequence[str | int]) -> str:
    """The label of the field at `path` in a config, e.g. ["assignments", 0, "name"] → "Assignments 1: Name"."""
    parts: list[str] = []
    schema: dict[str, Any] = root
    for part in path:
        if isinstance(part, int):
            if parts:
                parts[-1] = f"{parts[-1]} {part + 1}"
            items = schema.get("items")
            schema = items if isinstance(items, dict) else {}
        else:
            parts.append(_label(schema, part))
            schema = _property_schema(schema, part)
    return ": ".join(parts) if parts else "This node"


def _join_alternatives(groups: list[list[str]]) -> str:
    def one(group: list[str]) -> str:
        return group[0] if len(group) == 1 else ", ".join(group[:-1]) + " and " + group[-1]

    return ", or ".join(one(g) for g in groups)


def _required_groups(schema: dict[str, Any], alternatives: list[Any]) -> list[list[str]] | None:
    """The alternatives as lists of labels when each one only requires fields, else None."""
    groups: list[list[str]] = []
    for alternative in alternatives:
        if not isinstance(alternative, dict) or set(alternative) != {"required"}:
            return None
        groups.append([_label(schema, key) for key in alternative["required"]])
    return groups


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _present(config: Any, key: str) -> bool:
    return isinstance(config, dict) and key in config and not _is_blank(config[key])


def _parent_schema(root: dict[str, Any], path: Sequence[str | int]) -> dict[str, Any]:
    schema = root
    for part in path:
        if isinstance(part, int):
            items = schema.get("items")
            schema = items if isinstance(items, dict) else {}
        else:
            schema = _property_schema(schema, part)
    return schema


def config_messages(
    root: dict[str, Any], config: Any, validator: Draft202012Validator | None = None
) -> Iterator[tuple[list[str | int], str]]:
    """Every problem of `config` under the JSON Schema `root`, as (path, plain-word message).

    An empty (or blank) string in a required field counts as missing, as the form marks it required."""
    validator = validator or Draft202012Validator(root)
    seen: set[tuple[tuple[str | int, ...], str]] = set()
    for error in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        for path, message in _messages(root, error):
            key = (tuple(path), message)
            if key not in seen:
                seen.add(key)
                yield path, message
    yield from _blank_required(root, config, [], seen)


def _blank_required(
    schema: dict[str, Any], value: Any, path: list[str | int], seen: set[tuple[tuple[str | int, ...], str]]
) -> Iterator[tuple[list[str | int], str]]:
    if isinstance(value, dict):
        required = schema.get("required") or []
        for key in required:
            if key in value and _is_blank(value[key]):
                message = f"Fill in {field_label(schema, [key])}."
                item = (tuple([*path, key]), message)
                if item not in seen:
                    seen.add(item)
                    yield [*path, key], message
        for key, child in value.items():
            child_schema = _property_schema(schema, key)
            if child_schema:
                yield from _blank_required(child_schema, child, [*path, key], seen)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, child in enumerate(value):
            yield from _blank_required(schema["items"], child, [*path, index], seen)


def _messages(root: dict[str, Any], error: ValidationError) -> Iterator[tuple[list[str | int], str]]:
    path: list[str | int] = list(error.absolute_path)
    label = field_label(root, path)
    kind = error.validator
    instance = error.instance
    if kind == "required":
        for key in error.validator_value:
            if not (isinstance(instance, dict) and key in instance):
                yield [*path, key], f"Fill in {field_label(root, [*path, key])}."
    elif kind in ("oneOf", "anyOf"):
        alternatives = error.validator_value if isinstance(error.validator_value, list) else []
        parent = _parent_schema(root, path)
        groups = _required_groups(parent, alternatives)
        if groups is not None:
            keys = [list(alt["required"]) for alt in alternatives]
            filled = [all(_present(instance, k) for k in group) for group in keys]
            if kind == "oneOf" and sum(filled) > 1:
                yield path, f"Use only one of {_join_alternatives(groups)}."
            else:
                yield path, f"Set {_join_alternatives(groups)}."
        else:
            best = [sub for sub in (error.context or []) if sub.validator not in ("type",)]
            described = " or ".join(sorted({_type_word(sub) for sub in (error.context or [])} - {""}))
            if described:
                yield path, f"{label} must be {described}."
            elif best:
                yield from _messages(root, best[0])
            else:
                yield path, f"{label} is not valid."
    elif kind == "type":
        expected = error.validator_value
        words = [_TYPE_WORDS.get(str(t), str(t)) for t in (expected if isinstance(expected, list) else [expected])]
        yield path, f"{label} must be {' or '.join(words)}."
    elif kind == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        yield path, f"{label} must be one of: {choices}."
    elif kind == "const":
        yield path, f"{label} must be {error.validator_value!r}."
    elif kind == "minLength":
        if _is_blank(instance):
            yield path, f"Fill in {label}."
        else:
            yield path, f"{label} must be at least {error.validator_value} characters long."
    elif kind == "maxLength":
        yield path, f"{label} must be at most {error.validator_value} characters long."
    elif kind in ("minimum", "exclusiveMinimum"):
        more = "more than" if kind == "exclusiveMinimum" else "at least"
        yield path, f"{label} must be {more} {error.validator_value}."
    elif kind in ("maximum", "exclusiveMaximum"):
        less = "less than" if kind == "exclusiveMaximum" else "at most"
        yield path, f"{label} must be {less} {error.validator_value}."
    elif kind == "minItems":
        count = error.validator_value
        yield path, f"{label} needs at least {count} item{'s' if count != 1 else ''}."
    elif kind == "maxItems":
        yield path, f"{label} takes at most {error.validator_value} items."
    elif kind == "uniqueItems":
        yield path, f"{label} has the same item twice."
    elif kind == "pattern":
        yield path, f"{label} {instance!r} is not in the expected form ({error.validator_value})."
    elif kind == "additionalProperties":
        allowed = set((error.schema.get("properties") or {}) if isinstance(error.schema, dict) else {})
        extra = sorted(k for k in instance if k not in allowed) if isinstance(instance, dict) else []
        for key in extra:
            where = "this node" if not path else label
            yield [*path, key], f"{key!r} is not a setting of {where}."
    else:
        yield path, f"{label}: {error.message}"


def _type_word(error: ValidationError) -> str:
    if error.validator == "type":
        expected = error.validator_value
        if isinstance(expected, list):
            return " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in expected)
        if expected == "string" and isinstance(error.schema, dict) and error.schema.get("x-expression"):
            return "an expression"
        return _TYPE_WORDS.get(str(expected), str(expected))
    if error.validator in ("minimum", "maximum") and isinstance(error.schema, dict):
        low, high = error.schema.get("minimum"), error.schema.get("maximum")
        if low is not None and high is not None:
            return f"a number from {low:g} to {high:g}"
    return ""
