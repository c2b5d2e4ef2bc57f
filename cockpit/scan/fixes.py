"""`cockpit scan --fix`: the safe fixes, computed as whole-file changes and shown as a diff first.

Safe means local and reversible: bind 0.0.0.0 and read $PORT, swap a dev server for the
production one, add a /health endpoint, write `.env.example` and `.dockerignore`, move a
hardcoded secret to an env var. Nothing is written by `plan_fixes`; `apply_fixes` writes each
file atomically, refuses files that changed since the plan, and keeps a `<file>.orig` backup of
every file that is not tracked-and-clean in git, so no content is ever lost.

Secret values: the diff shows them as the redaction mask; the values live only in
`MovedSecret.value` (not in repr, not in `to_dict`) so the CLI can offer the keyring.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cockpit.scan.model import ScanFinding, ScanResult

GUNICORN_REQ = "gunicorn==23.0.0"
UVICORN_REQ = "uvicorn==0.30.6"


@dataclass
class FileChange:
    path: str  # relative to the project root
    before: str | None  # None: a new file
    after: str
    reasons: list[str] = field(default_factory=list)

    @property
    def new(self) -> bool:
        return self.before is None


@dataclass
class MovedSecret:
    name: str  # env var it now comes from
    kind: str
    where: str
    value: str = field(repr=False, compare=False, default="")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "where": self.where}


@dataclass
class FixPlan:
    root: Path
    changes: list[FileChange] = field(default_factory=list)
    secrets: list[MovedSecret] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)  # "id file:line" of findings fixed
    manual: list[ScanFinding] = field(default_factory=list)  # findings left to a person

    @property
    def empty(self) -> bool:
        return not self.changes

    def diff(self) -> str:
        """Unified diff of every change, with moved secret values masked."""
        chunks = []
        for ch in self.changes:
            before = (ch.before or "").splitlines(keepends=True)
            after = ch.after.splitlines(keepends=True)
            a = "/dev/null" if ch.new else f"a/{ch.path}"
            chunks.extend(difflib.unified_diff(before, after, a, f"b/{ch.path}"))
            if chunks and not chunks[-1].endswith("\n"):
                chunks[-1] += "\n"
        return self.mask("".join(chunks))

    def mask(self, text: str) -> str:
        from cockpit.redaction import MASK

        for s in sorted(self.secrets, key=lambda s: len(s.value), reverse=True):
            if s.value:
                text = text.replace(s.value, MASK)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "files": [{"path": c.path, "new": c.new, "reasons": c.reasons} for c in self.changes],
            "fixed": list(self.fixed),
            "secrets": [s.to_dict() for s in self.secrets],
            "manual": [f"{f.id} {f.where}" for f in self.manual],
            "diff": self.diff(),
        }


@dataclass
class ApplyReport:
    written: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # changed since the plan

    def to_dict(self) -> dict[str, Any]:
        return {"written": self.written, "backups": self.backups, "skipped": self.skipped}


# ----------------------------------------------------------------------------- planning


class _Work:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.original: dict[str, str | None] = {}
        self.text: dict[str, str] = {}
        self.reasons: dict[str, list[str]] = {}
        self.needs_os: set[str] = set()
        self.declare: list[str] = []  # env var names a fix made the code read (.env.example)
        self.needs_secrets: set[str] = set()  # files that now call secrets.token_hex

    def get(self, rel: str) -> str | None:
        if rel not in self.text:
            path = self.root / rel
            try:
                with path.open(encoding="utf-8", newline="") as fh:  # keep \r\n and lone \r
                    content = fh.read()
            except (OSError, UnicodeDecodeError):
                self.original[rel] = None
                return None
            self.original[rel] = content
            self.text[rel] = content
        return self.text[rel]

    def put(self, rel: str, text: str, reason: str) -> None:
        if rel not in self.original:
            self.get(rel)
        self.text[rel] = text
        self.reasons.setdefault(rel, []).append(reason)

    def changes(self) -> list[FileChange]:
        out = []
        for rel in sorted(self.reasons):
            before = self.original.get(rel)
            after = self.text[rel]
            if before != after:
                reasons = [r for r in self.reasons[rel] if r != "import os"]
                out.append(FileChange(rel, before, after, _unique(reasons)))
        return out


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def plan_fixes(root: Path | str, result: ScanResult | None = None) -> FixPlan:
    from cockpit.scan import scan

    root = Path(root)
    result = result or scan(root)
    plan = FixPlan(root=root)
    work = _Work(root)
    done: set[int] = set()
    by_line: dict[tuple[str, int], list[ScanFinding]] = {}
    for f in result.findings:
        if f.path and f.line:
            by_line.setdefault((f.path, f.line), []).append(f)

    # Bottom-up within each file, so an edit never shifts the lines of the next one; the
    # `import os` a fix needs is added once per file at the end.
    order = sorted(
        range(len(result.findings)),
        key=lambda i: (result.findings[i].path or "", -(result.findings[i].line or 0)),
    )
    touched: dict[str, set[str]] = {}  # "id where" -> files its fix changed
    for i in order:
        f = result.findings[i]
        if i in done or not f.fixable:
            continue
        ok = False
        before = dict(work.text)
        if f.id == "hardcoded-port" and f.path == "package.json":
            ok = _fix_start_port(work, f)
        elif f.id in ("bind-localhost", "hardcoded-port"):
            ok = _fix_server_line(work, result, f, by_line)
        elif f.id == "dev-server" and "server" in f.data:
            if f.path and f.path.endswith(".py"):
                _fix_server_line(work, result, f, by_line)
            ok = _add_server_dep(work, result, f)
        elif f.id == "dev-server":
            ok = _fix_dev_start(work, result, f)
        elif f.id == "no-health-endpoint":
            ok = _add_health(work, result, f)
        elif f.id == "no-dockerignore":
            ok = _write_dockerignore(work, result)
        elif f.id == "weak-secret":
            ok = _fix_weak_secret(work, f)
        elif f.id == "hardcoded-secret":
            ok = _move_secret(work, result, f, plan)
        elif f.id == "undeclared-env":
            ok = True  # handled by the .env.example writer below
        elif f.id == "accessory-url-scheme":
            ok = _set_url_scheme(work, f)
        if ok:
            plan.fixed.append(f"{f.id} {f.where}")
            touched[f"{f.id} {f.where}"] = {
                rel for rel, text in work.text.items() if before.get(rel) != text
            }
        done.add(i)
    for rel in work.needs_os:
        text = work.get(rel)
        if text is not None:
            work.put(rel, _ensure_import_os(text), "import os")
    for rel in work.needs_secrets:
        text = work.get(rel)
        if text is not None and not re.search(r"(?m)^import secrets\b", text):
            lines = text.splitlines(keepends=True)
            at = next(i for i, ln in enumerate(lines) if re.match(r"import os\b", ln))
            lines.insert(at + 1, "import secrets\n")
            work.put(rel, "".join(lines), "import os")
    _write_env_example(work, result, plan)
    broken = _refuse_unparsable(work)
    if broken:
        plan.fixed = [k for k in plan.fixed if not (touched.get(k, set()) & broken)]
        plan.secrets = [s for s in plan.secrets if s.where.rsplit(":", 1)[0] not in broken]
    plan.changes = work.changes()
    fixed = set(plan.fixed)
    plan.manual = [f for f in result.findings if f"{f.id} {f.where}" not in fixed]
    return plan


def parses(rel: str, text: str) -> bool:
    """Whether `text` is valid for the file type of `rel`: Python through `ast.parse`, TOML
    through tomllib, JSON through json, JavaScript/TypeScript through `node --check`, Go
    through `gofmt -e`; other files always pass."""
    import ast
    import json
    import tomllib

    try:
        if rel.endswith((".py", ".pyi")):
            ast.parse(text, filename=rel)
        elif rel.endswith(".toml") or rel.rsplit("/", 1)[-1] == "Pipfile":
            tomllib.loads(text)
        elif rel.endswith(".json"):
            json.loads(text)
        elif rel.endswith(JS_CHECKED):
            return node_check(rel, text) is None
        elif rel.endswith(".go"):
            return go_check(rel, text) is None
    except (SyntaxError, ValueError):
        return False
    return True


JS_CHECKED = (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts")
_TS_CHECK: list[bool] = []  # cached: whether this machine's node can syntax-check TypeScript


def node_check(rel: str, text: str) -> str | None:
    """None when `node --check` accepts `text` as the file `rel`, else why not (str).

    .js is tried as CommonJS, then as an ES module (a bundler or `"type": "module"` decides
    which one it is; either parse is a valid file). .ts/.mts/.cts need a node that strips
    types (`--experimental-strip-types`, Node >= 22.6); without one the fix is refused with
    that reason, never written unchecked. No node on PATH: refused too. The text is checked
    in a temporary directory; nothing is written into the project."""
    import shutil

    node = shutil.which("node")
    if node is None:
        return "node is not on PATH: cannot check the result with `node --check`"
    ext = "." + rel.rsplit(".", 1)[-1]
    flags: list[str] = []
    if ext in (".ts", ".mts", ".cts"):
        if not _node_strips_types(node):
            return "this node cannot check TypeScript (needs --experimental-strip-types)"
        flags = ["--experimental-strip-types"]
    tries = {".js": (".cjs", ".mjs"), ".ts": (".cts", ".mts")}.get(ext, (ext,))
    why = ""
    with tempfile.TemporaryDirectory(prefix="cockpit-check-") as tmp:
        for i, try_ext in enumerate(tries):
            path = Path(tmp) / f"check{i}{try_ext}"
            path.write_text(text, encoding="utf-8")
            try:
                proc = subprocess.run([node, *flags, "--check", str(path)], capture_output=True,
                                      text=True, timeout=30)
            except (OSError, subprocess.SubprocessError) as exc:
                return f"node --check could not run: {exc}"
            if proc.returncode == 0:
                return None
            lines = [ln for ln in proc.stderr.splitlines() if "Error" in ln]
            why = why or (lines[0].strip() if lines else "node --check failed")
    return why


def _node_strips_types(node: str) -> bool:
    if not _TS_CHECK:
        ok = False
        with tempfile.TemporaryDirectory(prefix="cockpit-check-") as tmp:
            good, bad = Path(tmp) / "good.mts", Path(tmp) / "bad.mts"
            good.write_text("const n: number = 1;\nexport default n;\n", encoding="utf-8")
            bad.write_text("const n: number = ;\n", encoding="utf-8")
            try:
                run = [node, "--experimental-strip-types", "--no-warnings", "--check"]
                ok = (subprocess.run([*run, str(good)], capture_output=True, timeout=30)
                      .returncode == 0
                      and subprocess.run([*run, str(bad)], capture_output=True, timeout=30)
                      .returncode != 0)
            except (OSError, subprocess.SubprocessError):
                ok = False
        _TS_CHECK.append(ok)
    return _TS_CHECK[0]


def breaks(rel: str, before: str | None, after: str) -> bool:
    """Whether a change from `before` to `after` breaks `rel`: the result does not parse
    (`parses`) while the original did. A Python file is held to it even when its original did
    not parse (nothing can vouch for the edit); a JSON-with-comments or otherwise unreadable
    data file that was already unparsable is left to its own tooling."""
    if parses(rel, after):
        return False
    # code is held to it always (Python; JavaScript/TypeScript through `node --check`, which
    # also refuses what this machine's node cannot check): a fix is never written unchecked
    return (rel.endswith((".py", ".pyi", ".go", *JS_CHECKED)) or before is None
            or parses(rel, before))


def _refuse_unparsable(work: _Work) -> set[str]:
    """Every planned file change is kept only when the result parses (`parses`): a change that
    breaks a file is dropped whole, back to the original text. Returns the dropped paths."""
    broken: set[str] = set()
    for rel in list(work.reasons):
        after = work.text.get(rel)
        if after is None or after == work.original.get(rel):
            continue
        if not breaks(rel, work.original.get(rel), after):
            continue
        broken.add(rel)
        original = work.original.get(rel)
        if original is None:
            work.text.pop(rel, None)
        else:
            work.text[rel] = original
        work.reasons.pop(rel, None)
    return broken


def _ensure_import_os(text: str) -> str:
    if re.search(r"(?m)^import os\b|^import (?:\w+,\s*)*os\b", text):
        return text
    lines = text.splitlines(keepends=True)
    insert = 0
    future = [i for i, ln in enumerate(lines) if ln.startswith("from __future__")]
    if future:
        insert = future[-1] + 1
    else:
        for i, ln in enumerate(lines):
            if ln.startswith(("import ", "from ")):
                insert = i
                break
        else:
            insert = _after_docstring(lines)
    lines.insert(insert, "import os\n")
    return "".join(lines)


def _after_docstring(lines: list[str]) -> int:
    i = 0
    while i < len(lines) and (lines[i].startswith("#") or not lines[i].strip()):
        i += 1
    if i < len(lines) and lines[i].lstrip().startswith(('"""', "'''")):
        quote = lines[i].lstrip()[:3]
        if lines[i].count(quote) >= 2:
            return i + 1
        for j in range(i + 1, len(lines)):
            if quote in lines[j]:
                return j + 1
    return i


def _line_span(text: str, line: int) -> tuple[int, int]:
    start = 0
    for _ in range(line - 1):
        nxt = text.find("\n", start)
        if nxt < 0:
            return len(text), len(text)
        start = nxt + 1
    end = text.find("\n", start)
    return start, (end if end >= 0 else len(text))


def _fix_server_line(
    work: _Work,
    result: ScanResult,
    f: ScanFinding,
    by_line: dict[tuple[str, int], list[ScanFinding]],
) -> bool:
    from cockpit.scan.rules import _call_args, _split_args

    assert f.path and f.line
    text = work.get(f.path)
    if text is None:
        return False
    ids = {g.id for g in by_line.get((f.path, f.line), [])}
    start, end = _line_span(text, f.line)
    port = result.port or 8000
    for g in by_line.get((f.path, f.line), []):
        if "port" in g.data:
            port = int(g.data["port"])
    if f.path.endswith(".py"):
        m = re.compile(r"\b(?:\w+\.run|uvicorn\.run|(?:waitress\.)?serve|web\.run_app)\(").search(
            text, start, end
        )
        if m:
            args, close = _call_args(text, m.end() - 1)
            parts = [a.strip() for a in _split_args(args)]
            keep = [a for a in parts if not re.match(r"(host|port)\s*=", a) and a]
            keep += ['host="0.0.0.0"', f'port=int(os.environ.get("PORT", {port}))']
            new = text[: m.end()] + ", ".join(keep) + text[close:]
            work.put(f.path, new, "bind 0.0.0.0 and read $PORT")
            work.needs_os.add(f.path)
            return True
        m = re.compile(r"""\(\s*\(\s*(['"][^'"]*['"])\s*,\s*(\d{2,5})\s*\)""").search(
            text, start, end
        )
        if m:
            host = '"0.0.0.0"' if "bind-localhost" in ids else m.group(1)
            portexpr = (
                f'int(os.environ.get("PORT", {m.group(2)}))'
                if "hardcoded-port" in ids
                else m.group(2)
            )
            new = text[: m.start()] + f"(({host}, {portexpr})" + text[m.end() :]
            work.put(f.path, new, "bind 0.0.0.0 and read $PORT")
            work.needs_os.add(f.path)
            return True
        return False
    if f.path.endswith((".js", ".mjs", ".cjs", ".ts", ".mts", ".cts")):
        seg = text[start:end]
        new_seg = seg
        if "bind-localhost" in ids:
            new_seg = re.sub(
                r"""(\.listen\([^,()]+),\s*['"](?:localhost|127\.0\.0\.1|::1)['"]""", r"\1", new_seg
            )
        if "hardcoded-port" in ids:
            new_seg = re.sub(
                r"""\.listen\(\s*['"]?(\d{2,5})['"]?""",
                r".listen(process.env.PORT || \1",
                new_seg,
                count=1,
            )
            new_seg = re.sub(
                r"""^(\s*(?:const|let|var)\s+\w+\s*=\s*)['"]?(\d{2,5})['"]?""",
                r"\1process.env.PORT || \2",
                new_seg,
                count=1,
            )
        if new_seg == seg:
            return False
        work.put(f.path, text[:start] + new_seg + text[end:], "listen on $PORT, all interfaces")
        return True
    return False


def _add_server_dep(work: _Work, result: ScanResult, f: ScanFinding) -> bool:
    """Add gunicorn (WSGI) or uvicorn (ASGI) to the file the build installs from, as the scan
    found it (finding data `dep_file`, `dep_format`; see `rules.server_dep_target`):
    a requirements file (pinned line), pyproject `[project] dependencies`, poetry's
    `[tool.poetry.dependencies]` or Pipfile `[packages]` (through tomlkit: comments, order and
    layout kept). True when the dependency is there afterwards."""
    server = str(f.data.get("server") or "gunicorn")
    name = "gunicorn" if server == "gunicorn" else "uvicorn"
    rel = str(f.data.get("dep_file") or "requirements.txt")
    fmt = str(f.data.get("dep_format") or "requirements")
    text = work.get(rel)
    if text is None:
        return False
    req = GUNICORN_REQ if name == "gunicorn" else UVICORN_REQ
    version = req.split("==", 1)[1]
    why = f"add the production server ({name})"
    if fmt == "requirements":
        if re.search(rf"(?im)^\s*{name}\b", text):
            return True
        sep = "" if not text or text.endswith("\n") else "\n"
        work.put(rel, f"{text}{sep}{req}\n", why)
        return True
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    from cockpit.scan.project import norm_dep

    try:
        doc = tomlkit.parse(text)
        if fmt == "pyproject":
            project = doc["project"]
            deps = project.get("dependencies")
            if deps is None:
                project["dependencies"] = tomlkit.array()
                deps = project["dependencies"]
            names = {norm_dep(re.split(r"[\s\[<>=!~;@]", str(d), maxsplit=1)[0]) for d in deps}
            if name in names:
                return True
            deps.append(f"{name}>={version}")
        else:
            table = (
                doc["tool"]["poetry"].setdefault("dependencies", tomlkit.table())
                if fmt == "poetry"
                else doc.setdefault("packages", tomlkit.table())
            )
            if name in {norm_dep(k) for k in table}:
                return True
            table[name] = f"^{version}" if fmt == "poetry" else f"=={version}"
    except (TOMLKitError, KeyError, TypeError, AttributeError):
        return False
    work.put(rel, tomlkit.dumps(doc), why)
    return True


def _fix_weak_secret(work: _Work, f: ScanFinding) -> bool:
    """What finding data `span` covers becomes `os.environ["NAME"]` (a required variable), when
    the text there is still the quoted weak default or the env lookup falling back to one."""
    from cockpit.scan.rules import _WEAK_FALLBACK, weak_value

    span = f.data.get("span")
    name = str(f.data.get("name") or "SECRET_KEY")
    if not f.path or not f.path.endswith(".py") or not span:
        return False
    text = work.get(f.path)
    if text is None:
        return False
    a, b = int(span[0]), int(span[1])
    literal = text[a:b]
    lookup = _WEAK_FALLBACK.fullmatch(literal)
    if lookup:
        if weak_value(lookup.group("val") or lookup.group("val2")) is None:
            return False
    elif len(literal) < 2 or literal[0] != literal[-1] or literal[0] not in "'\"":
        return False
    elif weak_value(literal[1:-1]) is None:
        return False
    # No known value is left anywhere: unset, the app gets a random per-process key (sessions
    # do not survive a restart; never forgeable), so the app's own tests keep running.
    new = text[:a] + f'os.environ.get("{name}") or secrets.token_hex(32)' + text[b:]
    work.put(f.path, new, f"read {name} from the environment")
    work.needs_os.add(f.path)
    work.needs_secrets.add(f.path)
    work.declare.append(name)
    return True


def _fix_dev_start(work: _Work, result: ScanResult, f: ScanFinding) -> bool:
    from cockpit.scan.rules import _prod_for

    if f.path == "package.json":
        text = work.get("package.json")
        command = str(f.data.get("command", ""))
        prod = _prod_for(command, result)
        if text is None or not prod:
            return False
        return _set_start_script(work, text, command, prod, "start with the production server")
    if f.path == "Procfile" and result.start_command and f.line:
        text = work.get("Procfile")
        if text is None:
            return False
        start, end = _line_span(text, f.line)
        work.put(
            "Procfile",
            text[:start] + f"web: {result.start_command}" + text[end:],
            "start with the production server",
        )
        return True
    return False


def _set_url_scheme(work: _Work, f: ScanFinding) -> bool:
    """accessory-url-scheme: `url_scheme = "<scheme>"` in the accessory's table of cockpit.toml
    (tomlkit: every comment and the order stay). False when the table is not there."""
    import tomlkit

    text = work.get("cockpit.toml")
    name, scheme = str(f.data.get("accessory") or ""), str(f.data.get("url_scheme") or "")
    if text is None or not name or not scheme:
        return False
    doc = tomlkit.parse(text)
    table = (doc.get("accessories") or {}).get(name)
    if not isinstance(table, dict):
        return False
    table["url_scheme"] = scheme
    work.put("cockpit.toml", tomlkit.dumps(doc),
             f"the driver SQLAlchemy reads from accessory {name}'s URL")
    return True


def _fix_start_port(work: _Work, f: ScanFinding) -> bool:
    text = work.get("package.json")
    command = str(f.data.get("command", ""))
    if text is None or not command:
        return False
    fixed = re.sub(r"\s(?:-p|--port)[ =]\d{2,5}\b", "", command, count=1)
    return _set_start_script(work, text, command, fixed, "let the server read $PORT")


def _set_start_script(work: _Work, text: str, command: str, new_command: str, why: str) -> bool:
    """package.json's `"start": "<command>"` becomes `new_command` (JSON-escaped); False when
    the script is not there as the scan saw it."""
    pattern = re.compile(r'("start"\s*:\s*)"' + re.escape(command.replace('"', '\\"')) + '"')
    new, n = pattern.subn(
        lambda m: m.group(1) + '"' + new_command.replace('"', '\\"') + '"', text, count=1
    )
    if n:
        work.put("package.json", new, why)
    return bool(n)


def _add_health(work: _Work, result: ScanResult, f: ScanFinding) -> bool:
    from cockpit.scan.rules import _call_args

    if result.framework == "nextjs":
        return _add_next_health(work)
    if result.stack == "go":
        return _add_go_health(work)
    if not f.path or not f.line:
        return False
    text = work.get(f.path)
    if text is None:
        return False
    fw = result.framework
    if fw == "django":
        if "urlpatterns" not in text:
            return False
        new = re.sub(
            r"(urlpatterns\s*=\s*\[[^\n]*\n)",
            lambda m: (
                m.group(1) + '    path("health", lambda request: JsonResponse({"status": "ok"})),\n'
            ),
            text,
            count=1,
        )
        if "JsonResponse" not in text.split("urlpatterns")[0]:
            lines = new.splitlines(keepends=True)
            last_import = max(
                (i for i, ln in enumerate(lines) if ln.startswith(("import ", "from "))), default=-1
            )
            lines.insert(last_import + 1, "from django.http import JsonResponse\n")
            new = "".join(lines)
        work.put(f.path, new, "add GET /health")
        return True
    if f.path.endswith(".py") and fw in ("flask", "fastapi"):
        return _add_python_health(work, result, f)
    if f.path.endswith(".py") and fw == "starlette":
        return _add_starlette_health(work, f)
    start, _ = _line_span(text, f.line)
    if fw in ("flask", "fastapi", "express", "fastify", "koa", "hono") or f.path.endswith(".py"):
        m = re.compile(r"\(").search(text, start)
        if m is None:
            return False
        _, close = _call_args(text, m.start())
        eol = text.find("\n", close)
        eol = len(text) if eol < 0 else eol + 1
        var_m = re.match(r"\s*(?:(?:const|let|var)\s+)?(\w+)", text[start:])
        var = var_m.group(1) if var_m else "app"
        if f.path.endswith(".py") and fw in ("flask", "fastapi"):
            block = f'@{var}.get("/health")\ndef health():\n    return {{"status": "ok"}}\n'
            main = re.search(r"(?m)^if __name__\s*==", text)
            at = main.start() if main else len(text)
            head = text[:at].rstrip("\n")
            new = head + "\n\n\n" + block + ("\n\n" + text[at:] if main else "")
            work.put(f.path, new, "add GET /health")
            return True
        if fw in ("express", "fastify", "hono"):
            return _add_js_health(work, result, f)
        return False
    return False


_GO_HEALTH = ("{i}{v}.HandleFunc(\"/health\", func(w http.ResponseWriter, r *http.Request) {{\n"
              "{i}\tw.WriteHeader(http.StatusOK)\n"
              "{i}}})\n")


def _add_go_health(work: _Work) -> bool:
    """GET /health on the app's ServeMux, right after `mux := http.NewServeMux()` (an exact
    pattern wins over the mux's "/" catch-all). Checked with `gofmt -e` (`parses`)."""
    from cockpit.scan.project import Project
    from cockpit.scan.rules import go_mux_site

    site = go_mux_site(Project(work.root))
    if site is None:
        return False
    rel, m = site
    text = work.get(rel)
    if text is None or m.group(0) not in text:
        return False
    at = text.index(m.group(0)) + len(m.group(0)) + 1
    block = _GO_HEALTH.format(i=m.group("indent"), v=m.group("var"))
    work.put(rel, text[:at] + block + text[at:], "add GET /health")
    return True


def go_check(rel: str, text: str) -> str | None:
    """None when `gofmt -e` parses `text` as Go, else why not. No gofmt on PATH: refused with
    that reason (a Go fix is never written unchecked). Reads stdin; writes nothing."""
    import shutil
    import subprocess

    gofmt = shutil.which("gofmt")
    if gofmt is None:
        return "gofmt is not installed: the Go fix stays manual"
    proc = subprocess.run([gofmt, "-e"], input=text, capture_output=True, text=True, timeout=30)
    return None if proc.returncode == 0 else (proc.stderr.strip() or "gofmt failed")


_JS_HEALTH = {
    "express": "{v}.get('/health', (req, res) => res.json({{ status: 'ok' }}));",
    "fastify": "{v}.get('/health', async () => ({{ status: 'ok' }}));",
    "hono": "{v}.get('/health', (c) => c.json({{ status: 'ok' }}));",
}
_JS_MAKERS = {
    "express": r"express\(\s*\)",
    "fastify": r"(?:[Ff]astify|require\(\s*['\"]fastify['\"]\s*\))\(",
    "hono": r"new\s+Hono\s*(?:<[^>]*>)?\(",
}
_JS_ROUTE = r"(?:get|post|put|patch|delete|all|use|route|register|options|head)"


def _add_js_health(work: _Work, result: ScanResult, f: ScanFinding) -> bool:
    """GET /health where the app registers its routes: on the app object (before its first
    route or middleware, so no auth or body parser runs for it), else on an express.Router
    that is mounted without a path prefix. The app may live in another file than the entry
    (`server.js` importing `app.js`). The result must pass `node --check` (`parses`)."""
    from cockpit.scan.project import JS_EXT

    fw = result.framework or "express"
    maker = _JS_MAKERS[fw]
    files = [f.path] if f.path else []
    files += sorted(
        (str(p.relative_to(work.root)) for p in work.root.rglob("*")
         if p.suffix in JS_EXT and "node_modules" not in p.parts and p.is_file()),
        key=lambda r: (r.count("/"), r),
    )
    for rel in dict.fromkeys(files):
        text = work.get(rel)
        if not text:
            continue
        m = re.search(r"(?m)^([ \t]*)(?:export\s+)?(?:const|let|var)\s+(\w+)\s*(?::[^=]+)?=\s*"
                      + maker, text)
        if m and _insert_route(work, rel, text, m, _JS_HEALTH[fw]):
            return True
    if fw != "express":
        return False
    mounts = "".join(work.get(r) or "" for r in files[:200])
    for rel in dict.fromkeys(files):
        text = work.get(rel)
        if not text or "Router" not in text:
            continue
        m = re.search(r"(?m)^([ \t]*)(?:export\s+)?(?:const|let|var)\s+(\w+)\s*=\s*"
                      r"(?:express\.)?Router\(\s*\)", text)
        if not m:
            continue
        # the router's routes are served at the root only when some file mounts a router
        # with no path (`app.use(router)`, `app.use('/', router)`)
        if not re.search(r"\.use\(\s*(?:['\"]/['\"]\s*,\s*)?\w+\s*\)", mounts):
            continue
        if _insert_route(work, rel, text, m, _JS_HEALTH["express"]):
            return True
    return False


def _insert_route(work: _Work, rel: str, text: str, made: re.Match[str], template: str) -> bool:
    """Insert the route line on `made`'s variable: before the first statement that registers a
    route or middleware on it, else right after the statement that creates it."""
    var = made.group(2)
    indent = made.group(1)
    line = template.format(v=var)
    first = re.compile(rf"(?m)^([ \t]*){re.escape(var)}\s*\.\s*{_JS_ROUTE}\s*\(").search(
        text, made.end())
    if first:
        at = first.start()
        new = text[:at] + first.group(1) + line + "\n" + text[at:]
    else:
        end = _statement_end(text, text.rfind("(", made.start(), made.end()))
        if end is None:
            return False
        new = text[:end] + "\n" + indent + line + text[end:]
    work.put(rel, new, "add GET /health")
    return True


def _statement_end(text: str, open_paren: int) -> int | None:
    """Offset just after the statement whose call opens at `open_paren` (chained calls such as
    `express()\n  .use(x)` and a trailing `;` included); None when it cannot tell."""
    from cockpit.scan.rules import _call_args

    i = open_paren
    while True:
        if i >= len(text) or text[i] != "(":
            return None
        _, close = _call_args(text, i)
        j = close + 1
        k = j
        while k < len(text) and text[k] in " \t\r\n":
            k += 1
        chain = re.match(r"\.\s*\w+\s*\(", text[k:])
        if not chain:
            break
        i = k + chain.end() - 1
    while j < len(text) and text[j] in " \t":
        j += 1
    if j < len(text) and text[j] == ";":
        j += 1
    eol = text.find("\n", j)
    return len(text) if eol < 0 else eol


_PY_APP_CLASSES = {"flask": ("Flask",), "fastapi": ("FastAPI",)}
_PY_ROUTER_CLASSES = {"flask": ("Blueprint",), "fastapi": ("APIRouter",)}
_ROUTE_ATTRS = {"route", "get", "post", "put", "patch", "delete", "api_route", "websocket",
                "add_url_rule", "add_api_route"}


def _made_by(node: object, classes: tuple[str, ...]) -> bool:
    import ast

    if not isinstance(node, ast.Call):
        return False
    fn = node.func
    name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
    return name in classes


def _routes_on(tree: object, var: str) -> int:
    """How many routes `var` registers in a module: `@var.route(...)`/`@var.get(...)`
    decorators and `var.add_url_rule(...)`/`var.add_api_route(...)` calls."""
    import ast

    n = 0
    for node in ast.walk(tree):  # type: ignore[arg-type]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == var
            and node.func.attr in _ROUTE_ATTRS
        ):
            n += 1
    return n


def _health_block(fw: str, var: str, indent: str, taken: set[str]) -> str:
    name = next(n for n in ("health", "health_check", "cockpit_health") if n not in taken)
    deco = f'@{var}.route("/health")' if fw == "flask" else f'@{var}.get("/health")'
    return (f"{indent}{deco}\n{indent}def {name}():\n"
            f'{indent}    return {{"status": "ok"}}\n')


def _add_python_health(work: _Work, result: ScanResult, f: ScanFinding) -> bool:
    """GET /health where the app registers its routes, found with `ast`, never by line text:

    - an app factory (`def create_app(): app = Flask(...) ... return app`): inside the
      factory, just before `return app`, at the body's indentation;
    - a module-level app that registers routes itself (or when no router is a better place):
      at module level after the app, before any `if __name__ == "__main__":` block;
    - an app that only mounts routers (FastAPI `APIRouter`, Flask `Blueprint`) with no URL
      prefix: on the first such router that has routes, in its own module, so the path stays
      /health.
    Returns False when no app object is found; the caller's parse check guards the result."""
    import ast

    assert f.path
    fw = result.framework or "flask"
    text = work.get(f.path)
    if text is None:
        return False
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    taken = {n.name for n in ast.walk(tree)
             if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    # 1. an app factory
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        var = None
        for stmt in func.body:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and _made_by(stmt.value, _PY_APP_CLASSES[fw])
            ):
                var = stmt.targets[0].id
        if var is None:
            continue
        ret = next(
            (
                st
                for st in reversed(func.body)
                if isinstance(st, ast.Return) and isinstance(st.value, ast.Name)
                and st.value.id == var
            ),
            None,
        )
        if ret is None:
            continue
        lines = text.splitlines(keepends=True)
        indent = " " * ret.col_offset
        block = _health_block(fw, var, indent, taken)
        at = ret.lineno - 1
        lines.insert(at, block + "\n")
        work.put(f.path, "".join(lines), "add GET /health in the app factory")
        return True
    # 2. a module-level app
    app_var = None
    for stmt in tree.body:
        targets = (
            stmt.targets if isinstance(stmt, ast.Assign)
            else [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value else []
        )
        value = getattr(stmt, "value", None)
        if len(targets) == 1 and isinstance(targets[0], ast.Name) and _made_by(
            value, _PY_APP_CLASSES[fw]
        ):
            app_var = targets[0].id
            break
    if app_var is None:
        return False
    if _routes_on(tree, app_var) == 0 and _add_router_health(work, result, f.path, text, fw):
        return True
    block = _health_block(fw, app_var, "", taken)
    main = re.search(r"(?m)^if __name__\s*==", text)
    at = main.start() if main else len(text)
    head = text[:at].rstrip("\n")
    new = head + "\n\n\n" + block + ("\n\n" + text[at:] if main else "")
    work.put(f.path, new, "add GET /health")
    return True


_STARLETTE_HEALTH = (
    "async def {name}(request):\n"
    "    from starlette.responses import JSONResponse\n\n"
    '    return JSONResponse({{"status": "ok"}})\n\n\n'
)


def _add_starlette_health(work: _Work, f: ScanFinding) -> bool:
    """Starlette declares routes in a list: `Route("/health", health)` goes first in the list
    passed as `Starlette(routes=...)` (inline, or the module-level list it names), the handler
    is defined just above that list's statement, and `Route` is imported when missing."""
    import ast

    assert f.path
    text = work.get(f.path)
    if text is None:
        return False
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    target = None  # the ast.List of routes
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _made_by(node, ("Starlette",)):
            kw = next((k.value for k in node.keywords if k.arg == "routes"), None)
            if isinstance(kw, ast.List):
                target = kw
            elif isinstance(kw, ast.Name):
                for stmt in tree.body:
                    if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.List)
                            and any(isinstance(t, ast.Name) and t.id == kw.id
                                    for t in stmt.targets)):
                        target = stmt.value
            break
    if target is None:
        return False
    stmt = next(st for st in tree.body if st.lineno <= target.lineno <= (st.end_lineno or 0))
    taken = {n.name for n in ast.walk(tree)
             if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    name = next(n for n in ("health", "health_check", "cockpit_health") if n not in taken)
    lines = text.splitlines(keepends=True)
    route = f'Route("/health", {name})'
    first = target.elts[0] if target.elts else None
    if first is not None and first.lineno > target.lineno:  # one route per line
        lines.insert(first.lineno - 1, " " * first.col_offset + route + ",\n")
    else:  # inline: right after the `[` (col_offset counts UTF-8 bytes)
        row = lines[target.lineno - 1]
        col = len(row.encode()[: target.col_offset].decode(errors="ignore"))
        sep = ", " if first is not None else ""
        lines[target.lineno - 1] = row[: col + 1] + route + sep + row[col + 1 :]
    lines.insert(stmt.lineno - 1, _STARLETTE_HEALTH.format(name=name))
    new = "".join(lines)
    if not re.search(r"(?m)^from starlette\.routing import [^\n]*\bRoute\b", new):
        new = _after_imports(new, "from starlette.routing import Route\n")
    work.put(f.path, new, "add GET /health")
    return True


def _after_imports(text: str, line: str) -> str:
    """`line` inserted after the module's last top-level import."""
    lines = text.splitlines(keepends=True)
    last = max((i for i, ln in enumerate(lines) if ln.startswith(("import ", "from "))),
               default=_after_docstring(lines) - 1)
    lines.insert(last + 1, line)
    return "".join(lines)


def _add_router_health(work: _Work, result: ScanResult, app_rel: str, app_text: str,
                       fw: str) -> bool:
    """Put /health on a prefix-less APIRouter/Blueprint that has routes and that the app
    mounts without a prefix; False when there is none."""
    import ast

    from cockpit.scan.project import PY_EXT, Project

    mounts = re.findall(
        r"\.(?:include_router|register_blueprint)\(\s*([\w.]+)\s*(,[^)]*)?\)", app_text
    )
    unprefixed = {m[0].rsplit(".", 1)[-1] for m in mounts if "prefix" not in (m[1] or "")}
    if not unprefixed:
        return False
    project = Project(work.root)
    for rel in [r for r in project.files_with(PY_EXT) if r != app_rel]:
        text = work.get(rel)
        if not text or not any(c in text for c in _PY_ROUTER_CLASSES[fw]):
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for stmt in tree.body:
            if not (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and _made_by(stmt.value, _PY_ROUTER_CLASSES[fw])
            ):
                continue
            var = stmt.targets[0].id
            call = stmt.value
            assert isinstance(call, ast.Call)
            if any(k.arg in ("prefix", "url_prefix") for k in call.keywords):
                continue
            if var not in unprefixed or _routes_on(tree, var) == 0:
                continue
            taken = {n.name for n in ast.walk(tree)
                     if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
            block = _health_block(fw, var, "", taken)
            new = text.rstrip("\n") + "\n\n\n" + block
            work.put(rel, new, f"add GET /health on the {var} router")
            return True
    return False


def _add_next_health(work: _Work) -> bool:
    """A route file: app router `app/api/health/route.js`, else `pages/api/health.js`."""
    for d in ("app", "src/app", "pages", "src/pages"):
        if not (work.root / d).is_dir():
            continue
        if d.endswith("app"):
            rel = f"{d}/api/health/route.js"
            body = 'export function GET() {\n  return Response.json({ status: "ok" });\n}\n'
        else:
            rel = f"{d}/api/health.js"
            body = ('export default function handler(req, res) {\n'
                    '  res.status(200).json({ status: "ok" });\n}\n')
        if (work.root / rel).exists():
            return False
        work.original[rel] = None
        work.put(rel, body, "add GET /api/health")
        return True
    return False


def _write_dockerignore(work: _Work, result: ScanResult) -> bool:
    from cockpit.generate.dockerignore import render

    if (work.root / ".dockerignore").exists():
        return False
    work.original[".dockerignore"] = None
    work.put(".dockerignore", render(result), "keep .env*, .git and dependency dirs out")
    return True


def _move_secret(work: _Work, result: ScanResult, f: ScanFinding, plan: FixPlan) -> bool:
    from cockpit.scan.leaks import find_leaks

    if not f.path or not f.line:
        return False
    text = work.get(f.path)
    if text is None:
        return False
    name = str(f.data.get("name") or "SECRET")
    for leak in find_leaks(f.path, text):
        if leak.line != f.line or not leak.quoted or leak.exposure != "secret":
            continue  # test fixtures and browser-public keys are never rewritten
        a, b = leak.start - 1, leak.end + 1  # include the quotes
        if f.path.endswith(".py"):
            new = text[:a] + f'os.environ["{name}"]' + text[b:]
            work.needs_os.add(f.path)
        else:
            new = text[:a] + f"process.env.{name}" + text[b:]
        work.put(f.path, new, f"read {name} from the environment")
        plan.secrets.append(MovedSecret(name, leak.kind, f.where or "", leak.value))
        try:
            from cockpit.redaction import REDACTOR

            REDACTOR.add(leak.value)
        except ImportError:  # pragma: no cover
            pass
        return True
    return False


def _write_env_example(work: _Work, result: ScanResult, plan: FixPlan) -> None:
    from cockpit.scan.detect import is_platform_env

    rel = ".env.example"
    existing = work.get(rel)
    declared = set(
        re.findall(r"(?m)^\s*#?\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", existing or "")
    )
    required = [v.name for v in result.env_vars if v.required and not is_platform_env(v.name)]
    required += [s.name for s in plan.secrets] + work.declare
    optional = [v.name for v in result.env_vars if not v.required and not is_platform_env(v.name)]
    required = [n for n in _unique(required) if n not in declared]
    optional = [n for n in _unique(optional) if n not in declared and n not in required]
    if not required and not (optional and existing is None):
        return
    lines: list[str] = []
    if existing is None:
        work.original[rel] = None
        lines.append("# Environment variables this app reads (written by `cockpit scan --fix`).")
        lines.append("# Copy to .env for local runs; never commit real values.")
    if required:
        lines.append("# Required: set in every environment (secrets: cockpit secrets set ENV NAME)")
        lines += [f"{n}=" for n in required]
    if optional:
        lines.append("# Optional: the code has a default")
        lines += [f"# {n}=" for n in optional]
    body = "\n".join(lines) + "\n"
    if existing:
        body = existing + ("" if existing.endswith("\n") else "\n") + body
    work.put(rel, body, "declare the env vars the code reads")


# ----------------------------------------------------------------------------- applying


def git_state(root: Path, paths: list[str]) -> tuple[bool, set[str]]:
    """(inside a git work tree, the paths that are untracked or have uncommitted changes)."""
    try:
        inside = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return False, set(paths)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return False, set(paths)
    try:
        proc = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "--", *paths],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return True, set(paths)
    prefix = subprocess.run(
        ["git", "rev-parse", "--show-prefix"], cwd=root, capture_output=True, text=True, timeout=10
    ).stdout.strip()
    dirty: set[str] = set()
    for line in proc.stdout.splitlines():
        entry = line[3:].strip().strip('"')
        if " -> " in entry:
            entry = entry.split(" -> ", 1)[1]
        if prefix and entry.startswith(prefix):
            entry = entry[len(prefix) :]
        dirty.add(entry)
    return True, dirty


def dirty_files(plan: FixPlan) -> list[str]:
    """Existing files the plan would edit that have uncommitted changes (warn before applying)."""
    existing = [c.path for c in plan.changes if not c.new]
    if not existing:
        return []
    in_git, dirty = git_state(plan.root, existing)
    return sorted(p for p in existing if p in dirty) if in_git else []


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _backup_path(path: Path) -> Path:
    candidate = path.with_name(path.name + ".orig")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.orig.{n}")
        n += 1
    return candidate


def apply_fixes(plan: FixPlan) -> ApplyReport:
    """Write the plan. Files not tracked-and-clean in git get a `<file>.orig` backup first.
    A change is skipped (listed in `skipped`) when the file changed since the plan or when its
    new text does not parse (`parses`: Python, TOML, JSON), however the plan was made."""
    report = ApplyReport()
    existing = [c.path for c in plan.changes if not c.new]
    in_git, dirty = git_state(plan.root, existing) if existing else (False, set())
    for ch in plan.changes:
        path = plan.root / ch.path
        current: str | None
        try:
            with path.open(encoding="utf-8", newline="") as fh:
                current = fh.read()
        except FileNotFoundError:
            current = None
        except (OSError, UnicodeDecodeError):
            report.skipped.append(ch.path)
            continue
        if current != ch.before:
            report.skipped.append(ch.path)  # changed since the plan: never clobber
            continue
        if breaks(ch.path, ch.before, ch.after):
            report.skipped.append(ch.path)  # a plan edited after planning: never break code
            continue
        if current is not None and (not in_git or ch.path in dirty):
            backup = _backup_path(path)
            _atomic_write(backup, current)
            report.backups.append(str(backup.relative_to(plan.root)))
        _atomic_write(path, ch.after)
        report.written.append(ch.path)
    return report
