"""The JSON schema of a task file (YAML or JSON), and reading a file against it.

Errors name the file and the line, using the marks PyYAML keeps on every node, so a
researcher who mistypes a field sees where:

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "t.yaml"
>>> _ = p.write_text("id: demo\\ncapability: pronoun\\nexamples:\\n  - {prompt: 3, answer: x}\\n")
>>> try:
...     read_task_file(p)
... except Exception as e:
...     print(str(e).split(": ", 1)[1][:44])
line 4: examples[0].prompt: 3 is not of type
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from capgym.errors import TaskError

_TEXT = {"type": "string"}
_ANSWERS = {"oneOf": [_TEXT, {"type": "array", "items": _TEXT}]}
_META = {"type": "object"}

SLOT = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "minItems": 1},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["from"],
            "properties": {
                "from": {"oneOf": [{"type": "string"}, {"type": "array", "minItems": 1}]},
                "distinct": {"type": "array", "items": _TEXT},
                "same": {"type": "object", "additionalProperties": _TEXT},
                "differ": {"type": "object", "additionalProperties": _TEXT},
            },
        },
    ]
}

TEMPLATE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "prompt", "answer"],
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
        "prompt": _TEXT,
        "answer": _TEXT,
        "wrong": _ANSWERS,
        "slots": {"type": "object", "additionalProperties": SLOT},
        "symmetric": {"type": "array", "items": _TEXT, "minItems": 2, "maxItems": 2},
        "weight": {"type": "number", "exclusiveMinimum": 0},
        "meta": _META,
    },
}

EXAMPLE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prompt", "answer"],
    "properties": {
        "id": {"type": "string"},
        "prompt": _TEXT,
        "answer": _TEXT,
        "wrong": _ANSWERS,
        "meta": _META,
    },
}

PERTURBATION = {
    "oneOf": [
        _TEXT,
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {"name": _TEXT, "n": {"type": "integer", "minimum": 0}},
        },
    ]
}

TASK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "capgym task",
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "capability"],
    "anyOf": [
        {"required": ["examples"]},
        {"required": ["templates"]},
        {"required": ["generator"]},
        {"required": ["mine"]},
    ],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "capability": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "description": _TEXT,
        "hypothesis": _TEXT,
        "tags": {"type": "array", "items": _TEXT},
        "seed": {"type": "integer"},
        "n": {"type": "integer", "minimum": 0},
        "target": {"enum": ["answer", "word-rest"]},
        "fillers": {"type": "object", "additionalProperties": {"type": "array"}},
        "slots": {"type": "object", "additionalProperties": SLOT},
        "templates": {"type": "array", "items": TEMPLATE},
        "examples": {"type": "array", "items": EXAMPLE},
        "generator": {
            "type": "object",
            "additionalProperties": False,
            "required": ["function"],
            "properties": {
                "function": _TEXT,
                "n": {"type": "integer", "minimum": 0},
                "params": {"type": "object"},
            },
        },
        "perturbations": {"type": "array", "items": PERTURBATION},
        # read by capgym.circuits: (clean, corrupted) pairs and machine-checkable hypotheses
        "counterfactual": {"type": "object"},
        "mechanism": {"type": "object"},
        "mine": {
            "type": "object",
            "additionalProperties": False,
            "required": ["capability"],
            "properties": {
                "capability": _TEXT,
                "wrong": {
                    "enum": [
                        "other-name",
                        "other-pronoun",
                        "other-noun",
                        "other-number",
                        "unrelated-noun",
                        "none",
                    ]
                },
                "max": {"type": "integer", "minimum": 0},
                "min_chars": {"type": "integer", "minimum": 0},
                # other-name only: keep mentions in these determined slots (name_slots.py)
                "slots": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"enum": ["reply", "addressee", "pair", "name-is"]},
                },
            },
        },
    },
}

LineMap = dict[tuple[Any, ...], int]


def _lines(node: yaml.Node, path: tuple[Any, ...], out: LineMap) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, key.value)] = key.start_mark.line + 1
            _lines(value, (*path, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)


def parse_yaml(text: str, name: str) -> tuple[Any, LineMap]:
    """Parse YAML (JSON is YAML too) into data plus a map from data path to line."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f"line {mark.line + 1}: " if mark else ""
        raise TaskError(f"{name}: {line}invalid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise TaskError(f"{name}: invalid YAML: {e}") from None
    lines: LineMap = {}
    if node is not None:
        _lines(node, (), lines)
    return data, lines


def line_of(lines: LineMap, path: tuple[Any, ...]) -> int | None:
    """The line of ``path`` or of its nearest ancestor that has one."""
    for k in range(len(path), -1, -1):
        if path[:k] in lines:
            return lines[path[:k]]
    return None


def format_path(path: tuple[Any, ...]) -> str:
    """``("examples", 0, "prompt")`` -> ``"examples[0].prompt"``."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def validate(data: Any, lines: LineMap, name: str) -> dict[str, Any]:
    """Check ``data`` against :data:`TASK_SCHEMA`; raise one-line :class:`TaskError`."""
    if not isinstance(data, dict):
        raise TaskError(f"{name}: line 1: a task file must be a mapping with id, capability, ...")
    validator = jsonschema.Draft202012Validator(TASK_SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), e.message))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        path = tuple(err.absolute_path)
        msg = err.message
        if len(msg) > 160:
            msg = msg[:157] + "..."
        raise TaskError(f"{name}: line {line_of(lines, path)}: {format_path(path)}: {msg}")
    return data


def read_task_file(path: str | Path) -> tuple[dict[str, Any], LineMap]:
    """Read and validate one task file; returns the data and its line map."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TaskError(f"{path}: cannot read task file ({e})") from None
    data, lines = parse_yaml(text, str(path))
    return validate(data, lines, str(path)), lines
