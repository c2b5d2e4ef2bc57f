"""The project tree as the scanner sees it: what git would commit, minus vendored and lock files.

`.gitignore` files inside the scanned tree are honoured with git's rules (anchoring, `**`,
negation, directory-only patterns, an excluded directory is never entered). Dependency and
build directories are skipped even without a `.gitignore`, because scanning them is slow and
every hit in them is a false positive. Nothing here writes or runs anything.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Never entered, ignored or not: dependency trees, caches, build output of frameworks.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "bower_components",
        "jspm_packages",
        "vendor",
        ".venv",
        "venv",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        "site-packages",
        ".next",
        ".nuxt",
        ".svelte-kit",
        ".turbo",
        ".parcel-cache",
        ".cache",
        ".terraform",
        ".gradle",
        ".idea",
        ".vscode",
        ".eggs",
        ".yarn",
        ".pnpm-store",
        ".serverless",
        ".vercel",
        ".netlify",
        ".fly",
    }
)
LOCK_FILES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lock",
        "bun.lockb",
        "poetry.lock",
        "uv.lock",
        "Pipfile.lock",
        "pdm.lock",
        "go.sum",
        "Gemfile.lock",
        "composer.lock",
        "Cargo.lock",
        "mix.lock",
        "packages.lock.json",
    }
)
BINARY_EXT = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".webp",
        ".ico",
        ".bmp",
        ".tiff",
        ".svgz",
        ".avif",
        ".woff",
        ".woff2",
        ".ttf",
        ".otf",
        ".eot",
        ".zip",
        ".gz",
        ".tgz",
        ".bz2",
        ".xz",
        ".7z",
        ".tar",
        ".rar",
        ".jar",
        ".war",
        ".class",
        ".so",
        ".dylib",
        ".dll",
        ".exe",
        ".o",
        ".a",
        ".pyc",
        ".pyo",
        ".whl",
        ".pdf",
        ".mp3",
        ".mp4",
        ".mov",
        ".avi",
        ".webm",
        ".wav",
        ".ogg",
        ".sqlite",
        ".sqlite3",
        ".db",
        ".wasm",
        ".psd",
        ".bin",
        ".dat",
        ".pickle",
        ".pkl",
        ".npy",
        ".parquet",
        ".map",
    }
)
MAX_BYTES = 1_000_000


@dataclass
class _Rule:
    base: str  # directory (relative, "" for root) holding the .gitignore
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _translate(pattern: str) -> str:
    """A gitignore glob (already stripped of `!`, trailing `/` and anchoring) to a regex."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == n:
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 2)
            if j == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : j].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j + 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def parse_gitignore(text: str, base: str = "") -> list[_Rule]:
    rules: list[_Rule] = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if not line or line.startswith("#"):
            continue
        if not line.endswith("\\ "):
            line = line.rstrip(" ")
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        elif line.startswith("\\!") or line.startswith("\\#"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        body = _translate(line)
        regex = f"^{body}$" if anchored else f"^(?:.*/)?{body}$"
        try:
            rules.append(_Rule(base, re.compile(regex, re.DOTALL), negate, dir_only))
        except re.error:
            continue
    return rules


@dataclass
class Tree:
    """Files under a root, relative paths with `/`, plus the directories that exist."""

    root: Path
    files: list[str] = field(default_factory=list)
    dirs: set[str] = field(default_factory=set)
    ignored_files: set[str] = field(default_factory=set)  # top-level ignored names (e.g. .env)

    def has(self, rel: str) -> bool:
        return rel in self._fileset

    @property
    def _fileset(self) -> set[str]:
        cached = self.__dict__.get("_fs")
        if cached is None:
            cached = self.__dict__["_fs"] = set(self.files)
        return cached

    def read(self, rel: str) -> str | None:
        return read_text(os.path.join(self.root, rel))

    def glob_names(self, name: str) -> Iterator[str]:
        for rel in self.files:
            if rel == name or rel.endswith("/" + name):
                yield rel


def read_text(path: Path | str) -> str | None:
    """Text of a file, or None for binaries, unreadable and oversized files."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_BYTES or b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def _ignored(rules: list[_Rule], rel: str, is_dir: bool) -> bool:
    for rule in reversed(rules):
        if rule.dir_only and not is_dir:
            continue
        if rule.base:
            if not rel.startswith(rule.base + "/"):
                continue
            sub = rel[len(rule.base) + 1 :]
        else:
            sub = rel
        if rule.regex.match(sub):
            return not rule.negate
    return False


def walk(root: Path | str) -> Tree:
    """List the tree without following symlinked directories (no loops, no escaping root)."""
    root = Path(root)
    tree = Tree(root=root)
    stack: list[tuple[str, list[_Rule]]] = [("", [])]
    while stack:
        rel_dir, inherited = stack.pop()
        abs_dir = root / rel_dir if rel_dir else root
        try:
            entries = list(os.scandir(abs_dir))
        except OSError:
            continue
        rules = inherited
        for entry in entries:
            if entry.name == ".gitignore" and entry.is_file():
                text = read_text(entry.path)
                if text:
                    rules = inherited + parse_gitignore(text, rel_dir)
                break
        subdirs: list[str] = []
        for entry in entries:
            name = entry.name
            rel = f"{rel_dir}/{name}" if rel_dir else name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if name in SKIP_DIRS or (rules and _ignored(rules, rel, True)):
                    continue
                if os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
                    continue  # a virtualenv under any name
                tree.dirs.add(rel)
                subdirs.append(rel)
            elif entry.is_file(follow_symlinks=False):
                if rules and _ignored(rules, rel, False):
                    if not rel_dir:
                        tree.ignored_files.add(name)
                    continue
                tree.files.append(rel)
        for sub in sorted(subdirs, reverse=True):
            stack.append((sub, rules))
    tree.files.sort()
    return tree


def is_scannable(rel: str) -> bool:
    """Worth reading for code patterns and secrets: not a lock file, not a binary, not minified."""
    name = rel.rsplit("/", 1)[-1]
    if name in LOCK_FILES:
        return False
    dot = name.rfind(".")
    ext = name[dot:].lower() if dot > 0 else ""
    if ext in BINARY_EXT:
        return False
    return not name.endswith((".min.js", ".min.css", ".bundle.js", ".chunk.js", ".orig", ".rej",
                              ".bak", "~", ".swp"))
