"""One read of the project tree: files, texts, dependency manifests, start declarations.

Every rule reads from a `Project` so each file is read once and parsed once per scan.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cockpit.scan.files import Tree, is_scannable, walk

PY_EXT = (".py",)
JS_EXT = (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".jsx", ".tsx")
GO_EXT = (".go",)
RB_EXT = (".rb",)
PHP_EXT = (".php",)
CODE_EXT = PY_EXT + JS_EXT + GO_EXT + RB_EXT + PHP_EXT

_TEST_PATH = re.compile(
    r"(?:^|/)(?:tests?|__tests__|spec|specs|e2e|cypress|fixtures|testdata|examples?|docs?|"
    r"scripts|migrations)/|(?:^|/)(?:test_[^/]*|[^/]*_test\.(?:py|go)|conftest\.py|"
    r"[^/]*\.(?:test|spec)\.[jt]sx?)$"
)
_REQ_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")


def norm_dep(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Declared:
    """A start or release command declared by the project (Procfile, Dockerfile, scripts)."""

    command: str
    path: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class DockerfileInfo:
    path: str
    text: str
    lines: list[str]
    stages: list[tuple[int, str]] = field(default_factory=list)  # (line, image) of each FROM
    final_users: list[tuple[int, str]] = field(default_factory=list)  # USER in last stage
    cmd: Declared | None = None
    entrypoint: Declared | None = None
    copies_context: int | None = None  # line of `COPY . ...`
    expose: list[tuple[int, int]] = field(default_factory=list)  # (line, port) in last stage
    top_args: dict[str, str] = field(default_factory=dict)  # ARG NAME=default before 1st FROM

    @property
    def exposed_port(self) -> int | None:
        """The first port the last stage EXPOSEs (what `fly launch` reads), else None."""
        return self.expose[0][1] if self.expose else None


class Project:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.tree: Tree = walk(self.root)
        self._texts: dict[str, str | None] = {}

    # ------------------------------------------------------------------ files
    def text(self, rel: str) -> str | None:
        if rel not in self._texts:
            self._texts[rel] = self.tree.read(rel) if self.tree.has(rel) else None
        return self._texts[rel]

    def has(self, rel: str) -> bool:
        return self.tree.has(rel)

    def has_dir(self, rel: str) -> bool:
        return rel in self.tree.dirs

    @cached_property
    def scannable(self) -> list[str]:
        return [f for f in self.tree.files if is_scannable(f)]

    @cached_property
    def code_files(self) -> list[str]:
        return [f for f in self.scannable if f.endswith(CODE_EXT) and not f.endswith(".d.ts")]

    @cached_property
    def app_code(self) -> list[str]:
        """Code that runs in production: not tests, fixtures, docs, scripts or migrations."""
        return [f for f in self.code_files if not _TEST_PATH.search(f)]

    def files_with(self, ext: tuple[str, ...]) -> list[str]:
        return [f for f in self.app_code if f.endswith(ext)]

    @staticmethod
    def line_of(text: str, offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    # ------------------------------------------------------------------ python
    @cached_property
    def py_deps(self) -> dict[str, tuple[str, int]]:
        """normalized dependency name -> (file, line) over requirements, pyproject, Pipfile."""
        deps: dict[str, tuple[str, int]] = {}
        for rel in self.requirement_closure:
            if rel in self.constraint_files:
                continue
            text = self.text(rel) or ""
            for i, line in enumerate(text.splitlines(), start=1):
                line = line.split("#", 1)[0].strip()
                if not line or line.startswith("-"):
                    continue
                m = _REQ_LINE.match(line)
                if m:
                    deps.setdefault(norm_dep(m.group(1)), (rel, i))
                    for extra in (m.group(2) or "").strip("[]").split(","):
                        if extra.strip():
                            deps.setdefault(norm_dep(f"{m.group(1)}[{extra.strip()}]"), (rel, i))
        data = self.pyproject
        if data:
            text = self.text("pyproject.toml") or ""
            names = list(data.get("project", {}).get("dependencies", []) or [])
            poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {}) or {}
            names += [n for n in poetry if n.lower() != "python"]
            for raw in names:
                if not isinstance(raw, str):
                    continue
                m = _REQ_LINE.match(raw)
                if m:
                    name = m.group(1)
                    idx = text.find(name)
                    deps.setdefault(
                        norm_dep(name),
                        ("pyproject.toml", self.line_of(text, idx) if idx >= 0 else 1),
                    )
        pipfile = self._toml("Pipfile")
        if pipfile:
            for name in pipfile.get("packages") or {}:
                deps.setdefault(norm_dep(name), ("Pipfile", 1))
        return deps

    @cached_property
    def requirement_files(self) -> list[str]:
        """Requirement files present, the one a production build installs first: the root
        requirements.txt (Heroku's convention; it often `-r`s a production file), else
        requirements/production.txt or prod.txt, else base/common, else requirements.in."""
        names = [
            "requirements.txt",
            "requirements/production.txt",
            "requirements/prod.txt",
            "requirements/base.txt",
            "requirements/common.txt",
            "requirements.in",
        ]
        return [n for n in names if self.has(n)]

    @cached_property
    def requirement_closure(self) -> list[str]:
        """The first requirement file and every file it includes with `-r`/`--requirement`
        or `-c`/`--constraint` (paths relative to the including file), in include order,
        each once: what a build must copy. Empty when no file is present; an include that
        does not exist is skipped. `constraint_files` says which only constrain."""
        if not self.requirement_files:
            return []
        out: list[str] = []
        todo = [(self.requirement_files[0], False)]
        while todo:
            rel, constraint = todo.pop(0)
            if rel in out or not self.has(rel):
                continue
            out.append(rel)
            if constraint:
                self.constraint_files.add(rel)
            base = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
            for m in re.finditer(
                r"(?m)^\s*(-r|--requirement|-c|--constraint)[ =]?\s*(\S+)", self.text(rel) or ""
            ):
                todo.append((_normpath(base + m.group(2)), constraint or m.group(1) in ("-c",
                             "--constraint")))
        return out

    @cached_property
    def constraint_files(self) -> set[str]:
        """Files of `requirement_closure` reached only through `-c`: pins, not dependencies."""
        return set()

    @cached_property
    def pyproject(self) -> dict:
        return self._toml("pyproject.toml")

    def _toml(self, rel: str) -> dict:
        text = self.text(rel)
        if not text:
            return {}
        try:
            return tomllib.loads(text)
        except (tomllib.TOMLDecodeError, ValueError):
            return {}

    def has_py_dep(self, *names: str) -> bool:
        return any(norm_dep(n) in self.py_deps for n in names)

    # ------------------------------------------------------------------ node
    @cached_property
    def package_json(self) -> dict:
        text = self.text("package.json")
        if not text:
            return {}
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @cached_property
    def node_deps(self) -> set[str]:
        pkg = self.package_json
        out: set[str] = set()
        for key in ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies"):
            section = pkg.get(key)
            if isinstance(section, dict):
                out.update(section)
        return out

    @cached_property
    def node_prod_deps(self) -> set[str]:
        section = self.package_json.get("dependencies")
        return set(section) if isinstance(section, dict) else set()

    @cached_property
    def scripts(self) -> dict[str, str]:
        section = self.package_json.get("scripts")
        if not isinstance(section, dict):
            return {}
        return {k: v for k, v in section.items() if isinstance(v, str)}

    def script_line(self, name: str) -> int:
        text = self.text("package.json") or ""
        m = re.search(r'"' + re.escape(name) + r'"\s*:', text)
        return self.line_of(text, m.start()) if m else 1

    def json_key_line(self, rel: str, key: str) -> int:
        text = self.text(rel) or ""
        m = re.search(r'"' + re.escape(key) + r'"\s*:', text)
        return self.line_of(text, m.start()) if m else 1

    # ------------------------------------------------------------------ declarations
    @cached_property
    def procfile(self) -> dict[str, Declared]:
        text = self.text("Procfile")
        out: dict[str, Declared] = {}
        if not text:
            return out
        for i, line in enumerate(text.splitlines(), start=1):
            m = re.match(r"^\s*([A-Za-z0-9_-]+)\s*:\s*(.+?)\s*$", line)
            if m:
                out[m.group(1)] = Declared(m.group(2), "Procfile", i)
        return out

    @cached_property
    def dockerfile(self) -> DockerfileInfo | None:
        rel = (
            "Dockerfile"
            if self.has("Dockerfile")
            else ("dockerfile" if self.has("dockerfile") else None)
        )
        if rel is None:
            return None
        text = self.text(rel) or ""
        info = DockerfileInfo(rel, text, text.splitlines())
        logical: list[tuple[int, str]] = []
        buf, start = "", 0
        for i, line in enumerate(info.lines, start=1):
            stripped = line.strip()
            if not buf and (not stripped or stripped.startswith("#")):
                continue
            if not buf:
                start = i
            if stripped.endswith("\\"):
                buf += stripped[:-1] + " "
                continue
            buf += stripped
            logical.append((start, buf))
            buf = ""
        if buf:
            logical.append((start, buf))
        values: dict[str, str] = {}  # ARG/ENV defaults of the current stage, for EXPOSE $PORT
        for line_no, instr in logical:
            word, _, rest = instr.partition(" ")
            word = word.upper()
            rest = rest.strip()
            if word == "FROM":
                image = [t for t in rest.split() if not t.startswith("--")]
                info.stages.append((line_no, image[0] if image else ""))
                info.final_users = []
                info.cmd = info.entrypoint = None
                info.expose = []
                values = {}
            elif word in ("ARG", "ENV"):
                for name, value in _assignments(rest):
                    values[name] = value
                    if word == "ARG" and not info.stages:
                        info.top_args[name] = value
            elif word == "EXPOSE":
                for token in rest.split():
                    token = token.split("/")[0]
                    var = re.fullmatch(r"\$\{?(\w+)(?::-(\d+))?\}?", token)
                    if var:
                        token = values.get(var.group(1)) or var.group(2) or ""
                    if token.isdigit() and 0 < int(token) < 65536:
                        info.expose.append((line_no, int(token)))
            elif word == "USER":
                info.final_users.append((line_no, rest))
            elif word == "CMD":
                info.cmd = Declared(_exec_form(rest), rel, line_no)
            elif word == "ENTRYPOINT":
                info.entrypoint = Declared(_exec_form(rest), rel, line_no)
            elif word in ("COPY", "ADD") and info.copies_context is None:
                args = [t for t in rest.split() if not t.startswith("--")]
                if len(args) >= 2 and any(a in (".", "./") for a in args[:-1]):
                    info.copies_context = line_no
        return info

    @cached_property
    def declared_start(self) -> Declared | None:
        """What the project says starts it in production: Procfile web, else Dockerfile CMD."""
        if "web" in self.procfile:
            return self.procfile["web"]
        df = self.dockerfile
        if df and (df.cmd or df.entrypoint):
            parts = [d for d in (df.entrypoint, df.cmd) if d]
            return Declared(" ".join(p.command for p in parts), df.path, parts[-1].line)
        return None

    @cached_property
    def config_secret_names(self) -> set[str]:
        data = self._toml("cockpit.toml")
        names: set[str] = set()
        for value in (data.get("secrets") or {}).values():
            if isinstance(value, list):
                names.update(v for v in value if isinstance(v, str))
        build_args = (data.get("app") or {}).get("build_args") or {}
        if isinstance(build_args, dict):
            names.update(build_args)
        return names

    @property
    def config_env_names(self) -> set[str]:
        """Plain configuration cockpit.toml declares: `[app.env]` and every
        `[environments.<name>.env]` (names only; the values are not secrets but are not read)."""
        data = self._toml("cockpit.toml")
        tables = [(data.get("app") or {}).get("env")]
        tables += [(e or {}).get("env") for e in (data.get("environments") or {}).values()
                   if isinstance(e, dict)]
        return {k for t in tables if isinstance(t, dict) for k in t}


def _assignments(rest: str) -> list[tuple[str, str]]:
    """`NAME=value NAME2="v"` (or the legacy `NAME value`) of an ARG/ENV line; "" if none."""
    try:
        import shlex

        tokens = shlex.split(rest)
    except ValueError:
        tokens = rest.split()
    if len(tokens) >= 2 and "=" not in tokens[0]:
        return [(tokens[0], " ".join(tokens[1:]))]
    out = []
    for token in tokens:
        name, _, value = token.partition("=")
        if re.fullmatch(r"[A-Za-z_]\w*", name):
            out.append((name, value))
    return out


def _normpath(rel: str) -> str:
    """`requirements/../x.txt` -> `x.txt` (a project-relative path, posix separators)."""
    import posixpath

    return posixpath.normpath(rel)


def _exec_form(rest: str) -> str:
    """The command a CMD runs, with a `sh -c "exec ..."` wrapper taken off."""
    if rest.startswith("["):
        try:
            parts = json.loads(rest)
            if isinstance(parts, list):
                parts = [str(p) for p in parts]
                if len(parts) == 3 and parts[0] in ("sh", "/bin/sh", "bash", "/bin/bash") \
                        and parts[1] == "-c":
                    inner = parts[2].strip()
                    return inner[5:] if inner.startswith("exec ") else inner
                return " ".join(parts)
        except (json.JSONDecodeError, ValueError):
            pass
    return rest
