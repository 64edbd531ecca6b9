"""MkDocs hook: the HTTP API reference, generated from the server's OpenAPI schema.

The schema comes from ``crossrank.server.create_app(...).openapi()`` at build time (no
checked-in copy that could drift): ``<!-- openapi -->`` in a page is replaced by one
section per endpoint (its request body's fields, its responses), and the schema itself is
written beside the site as ``reference/openapi.json``.
"""

from __future__ import annotations

import json
from typing import Any

MARKER = "<!-- openapi -->"
_schema: dict[str, Any] | None = None


def schema() -> dict[str, Any]:
    """The server's OpenAPI schema (no models are loaded to make it)."""
    global _schema
    if _schema is None:
        from crossrank.server import create_app

        _schema = create_app(None, None).openapi()
    return _schema


def _ref(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = spec["components"]["schemas"][name]
    return node


def _type(spec: dict[str, Any], node: dict[str, Any]) -> str:
    if "$ref" in node:
        return f"`{node['$ref'].rsplit('/', 1)[-1]}`"
    if "anyOf" in node:
        return " or ".join(_type(spec, option) for option in node["anyOf"])
    if "enum" in node:
        return " \\| ".join(f'`"{value}"`' for value in node["enum"])
    kind = node.get("type", "any")
    if kind == "array":
        return f"array of {_type(spec, node.get('items', {}))}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"object of {_type(spec, node['additionalProperties'])}"
    return f"`{kind}`"


def _limits(node: dict[str, Any]) -> str:
    words = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
    parts = [f"{sign} {node[key]}" for key, sign in words.items() if key in node]
    for option in node.get("anyOf", []):
        parts += [f"{sign} {option[key]}" for key, sign in words.items() if key in option]
    return ", ".join(parts)


def _refs(node: Any) -> list[str]:
    """Every schema a field's type names, however deeply (lists, unions)."""
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _fields(spec: dict[str, Any], model: dict[str, Any], seen: set[str]) -> list[str]:
    required = set(model.get("required", []))
    lines = ["| field | type | required | default | limits |", "|---|---|---|---|---|"]
    nested = []
    for name, node in model.get("properties", {}).items():
        default = json.dumps(node["default"]) if "default" in node else ""
        lines.append(
            f"| `{name}` | {_type(spec, node)} | {'yes' if name in required else 'no'} "
            f"| {f'`{default}`' if default else ''} | {_limits(node)} |"
        )
        for ref in _refs(node):
            if ref not in seen:
                seen.add(ref)
                nested.append(ref)
    for ref in nested:
        name = ref.rsplit("/", 1)[-1]
        lines += ["", f"`{name}`:", "", *_fields(spec, _ref(spec, {"$ref": ref}), seen)]
    return lines


def render(spec: dict[str, Any]) -> str:
    """One Markdown section per endpoint, in the schema's order."""
    out: list[str] = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            out += [f"### `{method.upper()} {path}`", ""]
            if operation.get("description"):
                out += [operation["description"].strip(), ""]
            content = operation.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema")
            if body:
                model = _ref(spec, body)
                title = model.get("title", "body")
                out += [f"Request body (`{title}`, JSON):", ""]
                out += _fields(spec, model, {body.get("$ref", "")}) + [""]
            params = operation.get("parameters", [])
            if params:
                out += ["| parameter | in | type | required |", "|---|---|---|---|"]
                out += [
                    f"| `{p['name']}` | {p['in']} | {_type(spec, p.get('schema', {}))} "
                    f"| {'yes' if p.get('required') else 'no'} |"
                    for p in params
                ]
                out.append("")
            responses = operation.get("responses", {})
            out += [
                "Responses: "
                + ", ".join(
                    f"{code} ({answer.get('description', '')})"
                    for code, answer in responses.items()
                )
                + ".",
                "",
            ]
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render(schema()))


def on_files(files: Any, config: Any, **_: Any) -> Any:
    from mkdocs.structure.files import File

    content = json.dumps(schema(), indent=2)
    files.append(File.generated(config, "reference/openapi.json", content=content))
    return files
