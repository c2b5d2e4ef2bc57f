"""A small YAML writer for generated manifests (PyYAML is not a runtime dependency).

Block style, keys in insertion order, strings quoted whenever a plain scalar could be read as
something else (a bool, a number, null, a flow collection, an anchor). Multi-line strings are
literal blocks, so shell scripts in workflows stay readable.
"""

from __future__ import annotations

import json
import re
from typing import Any

_PLAIN = re.compile(r"^[A-Za-z_./$][A-Za-z0-9_ ./:@$()=,+*-]*$")
_RESERVED = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|"
    r"null|Null|NULL|~)$")


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if (_PLAIN.match(text) and not _RESERVED.match(text) and not text.endswith((" ", ":"))
            and ": " not in text and " #" not in text):
        return text
    return json.dumps(text, ensure_ascii=False)


def _key(key: Any) -> str:
    text = str(key)
    return text if re.match(r"^[A-Za-z_][A-Za-z0-9_./-]*$", text) and not _RESERVED.match(text) \
        or text == "on" else json.dumps(text)


def dump(data: Any, indent: int = 0) -> str:
    return "".join(_lines(data, indent))


def dump_all(docs: list[Any]) -> str:
    return "---\n".join(dump(d) for d in docs)


def _lines(data: Any, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(data, dict):
        if not data:
            return [pad + "{}\n"]
        for k, v in data.items():
            out.extend(_entry(pad + _key(k) + ":", v, indent))
    elif isinstance(data, list):
        if not data:
            return [pad + "[]\n"]
        for item in data:
            if isinstance(item, dict) and item:
                first = True
                for k, v in item.items():
                    prefix = pad + ("- " if first else "  ") + _key(k) + ":"
                    out.extend(_entry(prefix, v, indent + 2))
                    first = False
            else:
                out.extend(_entry(pad + "-", item, indent))
    else:
        out.append(pad + scalar(data) + "\n")
    return out


def _entry(prefix: str, value: Any, indent: int) -> list[str]:
    if isinstance(value, dict) and value:
        return [prefix + "\n", *_lines(value, indent + 2)]
    if isinstance(value, list) and value:
        return [prefix + "\n", *_lines(value, indent + 2)]
    if isinstance(value, str) and "\n" in value:
        body = value if value.endswith("\n") else value + "\n"
        pad = " " * (indent + 2)
        lines = [pad + ln if ln else "" for ln in body[:-1].split("\n")]
        return [prefix + " |\n", *(ln + "\n" for ln in lines)]
    if isinstance(value, dict):
        return [prefix + " {}\n"]
    if isinstance(value, list):
        return [prefix + " []\n"]
    return [prefix + " " + scalar(value) + "\n"]
