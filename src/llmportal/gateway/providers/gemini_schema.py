"""A tool's JSON Schema -> the OpenAPI subset Gemini's `Schema` takes.

Gemini answers 400 for keys outside that subset (`$schema`, `additionalProperties`, `$ref`, ...),
for a `required` name that is not a property and for string formats other than enum and
date-time. As LiteLLM does: `$ref`s are inlined from `$defs`, a `null` in `anyOf` or in a type
list becomes `nullable`, and any other key is dropped.
"""

from __future__ import annotations

from typing import Any

KEPT = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "default",
        "items",
        "minItems",
        "maxItems",
        "enum",
        "properties",
        "propertyOrdering",
        "required",
        "minProperties",
        "maxProperties",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
    }
)
FORMATS = {
    "STRING": {"enum", "date-time"},
    "INTEGER": {"int32", "int64"},
    "NUMBER": {"float", "double"},
}
MAX_DEPTH = 32  # a recursive $ref stops here (as an object of unknown shape)


def gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    return _clean(schema, defs, 0)


def _clean(node: Any, defs: dict[str, Any], depth: int) -> dict[str, Any]:
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return {"type": "OBJECT"}
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        merged = {**(target if isinstance(target, dict) else {}), **node}
        merged.pop("$ref")
        return _clean(merged, defs, depth + 1)
    out: dict[str, Any] = {}
    nullable = False
    for key, value in node.items():
        if key == "type":
            types = value if isinstance(value, list) else [value]
            nullable = nullable or "null" in types
            named = [str(t).upper() for t in types if t != "null"]
            if named:
                out["type"] = named[0]
        elif key == "anyOf" and isinstance(value, list):
            options = [v for v in value if not (isinstance(v, dict) and v.get("type") == "null")]
            nullable = nullable or len(options) < len(value)
            if len(options) == 1:
                out.update(_clean(options[0], defs, depth + 1))
            elif options:
                out["anyOf"] = [_clean(v, defs, depth + 1) for v in options]
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {k: _clean(v, defs, depth + 1) for k, v in value.items()}
        elif key == "items":
            out["items"] = _clean(value, defs, depth + 1)
        elif key == "const":
            out["enum"] = [str(value)]
        elif key == "enum" and isinstance(value, list):
            out["enum"] = [str(v) for v in value if v is not None]
            nullable = nullable or None in value
        elif key in KEPT:
            out[key] = value
    if nullable:
        out["nullable"] = True
    if "enum" in out:
        out.setdefault("type", "STRING")
    if "properties" in out:
        out.setdefault("type", "OBJECT")
    if out.get("format") not in FORMATS.get(out.get("type", ""), set()):
        out.pop("format", None)
    if isinstance(out.get("required"), list):
        names = out.get("properties", {})
        out["required"] = [r for r in out["required"] if r in names]
        if not out["required"]:
            del out["required"]
    return out
