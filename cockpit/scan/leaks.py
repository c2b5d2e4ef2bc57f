"""Hardcoded credentials: gitleaks' and detect-secrets' rules, with their false-positive filters.

A `Leak` keeps the value only in a private, unrepresented field so the fixer can move it to an
env var or the keyring; nothing that renders a leak (messages, `to_dict`, repr) shows it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

# (kind, regex, group holding the value)
_SPECIFIC: list[tuple[str, re.Pattern[str], int]] = [
    ("aws-access-key", re.compile(r"\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b"), 1),
    ("stripe-secret-key", re.compile(r"\b((?:sk|rk)_(?:test|live|prod)_[a-zA-Z0-9]{10,99})\b"), 1),
    (
        "openai-api-key",
        re.compile(
            r"\b(sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{32,}|sk-[a-zA-Z0-9]{20}T3BlbkFJ[a-zA-Z0-9]{20})"
        ),
        1,
    ),
    ("anthropic-api-key", re.compile(r"\b(sk-ant-(?:api03|admin01)-[a-zA-Z0-9_-]{80,})"), 1),
    (
        "github-token",
        re.compile(r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_\w{82})\b"),
        1,
    ),
    ("google-api-key", re.compile(r"\b(AIza[\w-]{35})(?![\w-])"), 1),
    ("slack-token", re.compile(r"\b(xox[baprs]-[0-9A-Za-z-]{10,})"), 1),
    ("sendgrid-api-key", re.compile(r"\b(SG\.[\w-]{22}\.[\w-]{43})"), 1),
    (
        "private-key",
        re.compile(
            r"(-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\S]{64,}?"
            r"-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----)"
        ),
        1,
    ),
    (
        "password-in-url",
        re.compile(
            r"\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?)://[^:@\s/'\"]+:([^@\s/'\"]{3,})@([^/:\s'\"]+)"
        ),
        1,
    ),
]
_PREFILTER = re.compile(
    r"AKIA|ASIA|A3T|ABIA|ACCA|sk_|rk_|sk-|gh[pousr]_|github_pat_|AIza|xox|SG\.|PRIVATE KEY|://"
)

_KEYWORD = re.compile(r"(?i)key|secret|token|passw|pwd|credential")
_NAME = (
    r"(?:api[_-]?key|apikey|secret|token|passw(?:or)?d|passwd|pwd|credentials?|"
    r"auth[_-]?key|private[_-]?key|access[_-]?key|signing[_-]?key)"
)
# NAME [quote] (= | : | => | :=) quote VALUE quote
_GENERIC = re.compile(
    r"(?i)(?<![\w.-])([\w.-]*"
    + _NAME
    + r"[\w-]*)['\"]?\]?[ \t]*(?::[ \t]*[A-Za-z_][\w.<>|\[\]]*[ \t]*)?(?::=|=>|=|:)[ \t]*"
    r"(?:[rbuf]{0,2})(['\"`])([^'\"`\n\r]{8,200})\2"
)
_DOTENV = re.compile(
    r"(?m)^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(['\"]?)([^\s'\"#]{6,})\2"
)
_IDENTIFIER = re.compile(r"^[a-z]+(?:[_.:][a-z]+)+$|^[A-Z]+(?:_[A-Z]+)+$")
_SECRETISH_NAME = re.compile(r"(?i)" + _NAME + r"|_KEY$|^KEY$")

_NAME_EXCLUDE = re.compile(
    r"(?i)(?:_|-|\b)(?:url|uri|path|file|dir|name|env|var|header|field|length|len|type|id|"
    r"endpoint|prefix|suffix|format|pattern|regex|label|placeholder|input|param|hint|size|"
    r"expiry|expires|ttl|count|min|max|scope|digest|version|kind|mode|store|backend|service|"
    r"namespace|annotation|algorithm|alg|method|strategy|provider|source|location)$|"
    r"public|publishable|^csrf|token_?url|"
    r"^(?:password|passwd)_?(?:reset|confirm|change|hash)|_?(?:keys?|tokens?)_?(?:count|list)$"
)
_PLACEHOLDER = re.compile(
    r"(?i)your|xxx|changeme|change[_-]?me|change[_-]?this|example|placeholder|dummy|sample|"
    r"insert|replace|todo|fixme|redacted|fake|mock|\*\*\*|\.\.\.|<[^>]*>|\$\{|\{\{|%\(|%s|"
    r"^\$|^[{(\[]|^(?:none|null|nil|true|false|undefined|secret|password|token|test|testing|"
    r"dev|development|local|default|empty|unset|string|value)$|^process\.env|^os\.environ"
)
_URL_LOCAL_HOSTS = re.compile(
    r"(?i)^(?:localhost|127\.0\.0\.1|0\.0\.0\.0|db|database|postgres|"
    r"postgresql|mysql|mariadb|redis|mongo|mongodb|rabbitmq|host|hostname)$"
)
_WEAK_WORDS = frozenset(
    {
        "postgres",
        "password",
        "pass",
        "secret",
        "root",
        "admin",
        "example",
        "changeme",
        "user",
        "mysql",
        "redis",
        "guest",
        "test",
        "pw",
    }
)

PLACEHOLDER_FILES = re.compile(
    r"(?i)(?:^|/)\.env\.(?:example|sample|template|dist|defaults?)$|"
    r"\.(?:example|sample|template|tmpl|tpl)$"
)
DOTENV_FILE = re.compile(r"(?:^|/)\.env(?:\.[\w-]+)?$")


@dataclass
class Leak:
    kind: str
    path: str
    line: int
    name: str | None  # the variable / key it is assigned to, when there is one
    start: int  # offsets of the value in the file text
    end: int
    quoted: bool  # the value is an entire string literal (the fixer may replace it)
    value: str = field(repr=False, compare=False, default="")

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def label(self) -> str:
        from cockpit.redaction import MASK

        return f"{self.name} = {MASK}" if self.name else MASK


def entropy(value: str) -> float:
    if not value:
        return 0.0
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def is_placeholder(value: str) -> bool:
    v = value.strip()
    if len(v) < 6 or _PLACEHOLDER.search(v):
        return True
    if len(set(v)) <= 2:
        return True
    return _sequential(v)


def _sequential(v: str) -> bool:
    low = v.lower()
    return any(
        low in seq
        for seq in (
            "abcdefghijklmnopqrstuvwxyz",
            "0123456789012345678901234",
            "qwertyuiopasdfghjklzxcvbnm",
        )
    )


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _assigned_name(text: str, start: int) -> str | None:
    """`NAME = "..."`, `name: "..."`, `const name = '...'` on the same line before the value."""
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start]
    m = re.search(r"([A-Za-z_][\w.-]*)['\"]?\s*(?::=|=>|=|:)\s*[rbuf]{0,2}['\"`]?$", before)
    if m:
        return m.group(1).rsplit(".", 1)[-1]
    m = re.search(
        r"(?:getenv|get|environ\.get|env)\(\s*['\"]([A-Za-z_]\w*)['\"]\s*,\s*['\"]?$", before
    )
    return m.group(1) if m else None


def _is_quoted(text: str, start: int, end: int) -> bool:
    if start == 0 or end >= len(text):
        return False
    q = text[start - 1]
    return q in "'\"`" and text[end] == q


def find_leaks(rel: str, text: str) -> list[Leak]:
    """Every credential in one file's text, de-duplicated by position."""
    if PLACEHOLDER_FILES.search(rel):
        return []
    found: dict[int, Leak] = {}
    if _PREFILTER.search(text):
        for kind, regex, group in _SPECIFIC:
            for m in regex.finditer(text):
                value = m.group(group)
                start, end = m.span(group)
                if kind == "password-in-url":
                    host = m.group(2)
                    if (
                        _URL_LOCAL_HOSTS.match(host)
                        or value.lower() in _WEAK_WORDS
                        or is_placeholder(value)
                    ):
                        continue
                elif kind != "private-key" and is_placeholder(value):
                    continue
                if kind == "aws-access-key" and entropy(value) < 3.0:
                    continue
                found[start] = Leak(
                    kind,
                    rel,
                    _line_of(text, start),
                    _assigned_name(text, start),
                    start,
                    end,
                    _is_quoted(text, start, end),
                    value,
                )
    if DOTENV_FILE.search(rel):
        for m in _DOTENV.finditer(text):
            name, value = m.group(1), m.group(3)
            start, end = m.span(3)
            if any(start <= s < end or s <= start < leak.end for s, leak in found.items()):
                continue
            if (
                not _SECRETISH_NAME.search(name)
                or _NAME_EXCLUDE.search(name)
                or is_placeholder(value)
                or entropy(value) < 3.0
            ):
                continue
            found[start] = Leak(
                _generic_kind(name, rel), rel, _line_of(text, start), name, start, end, False, value
            )
    elif _KEYWORD.search(text):
        for m in _GENERIC.finditer(text):
            name, value = m.group(1), m.group(3)
            start, end = m.span(3)
            if any(s <= start < leak.end or start <= s < end for s, leak in found.items()):
                continue
            bare = name.strip("'\"").rsplit(".", 1)[-1]
            if _NAME_EXCLUDE.search(bare) or " " in value.strip() or is_placeholder(value):
                continue
            if entropy(value) < 3.2 or value.count("/") > 2 or value.startswith(("http", "./")):
                continue
            if _IDENTIFIER.match(value):
                continue  # a key name such as "cockpit_secrets_digest", not a credential
            found[start] = Leak(
                _generic_kind(bare, rel), rel, _line_of(text, start), bare, start, end, True, value
            )
    return [found[k] for k in sorted(found)]


def _generic_kind(name: str, rel: str) -> str:
    upper = name.upper()
    if upper == "SECRET_KEY" and (rel.endswith("settings.py") or "/settings/" in rel):
        return "django-secret-key"
    if "PASSW" in upper or "PWD" in upper:
        return "password"
    if "TOKEN" in upper:
        return "token"
    if "SECRET" in upper or "PRIVATE" in upper:
        return "secret"
    if "KEY" in upper:
        return "api-key"
    return "secret"
