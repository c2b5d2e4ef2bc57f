"""`cockpit.toml`: read with tomlkit (comments and order survive a round trip), validated into
typed models, written atomically with a `.bak` of the previous file.

Every error names file, line, column and key, and says what was expected:

    cockpit.toml:7:11: environments.prod.port: expected an integer 1-65535, got "80a"

A file that does not load is never overwritten.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cockpit.errors import ConfigError
from cockpit.models import stable_hash

FILENAME = "cockpit.toml"
NAME_RE = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"


def _expect(text: str) -> dict[str, Any]:
    return {"json_schema_extra": {"expect": text}}


class AppConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(pattern=NAME_RE, **_expect("a lowercase name (a-z, 0-9, '-'), 1-40 chars"))
    context: str = Field(".", min_length=1, **_expect("a directory path relative to cockpit.toml"))
    dockerfile: str = Field("Dockerfile", min_length=1, **_expect("a file path"))
    port: int = Field(8000, ge=1, le=65535, **_expect("an integer 1-65535"))
    health_path: str = Field("/up", pattern=r"^/[^\s]*$", **_expect("a path starting with '/'"))
    build_args: dict[str, str] = Field(default_factory=dict, **_expect("a table of strings"))
    release_command: str | None = Field(
        None, min_length=1,
        **_expect("one shell command run once per release before traffic moves (sh -c)"),
    )
    env: dict[str, str] = Field(
        default_factory=dict, **_expect("a table of plain configuration strings (not secrets)")
    )
    volumes: dict[str, str] = Field(
        default_factory=dict,
        **_expect("a table of volume name -> absolute path in the container"),
    )


class GateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    count: int = Field(3, ge=1, le=100, **_expect("an integer 1-100"))
    interval: float = Field(0.5, gt=0, le=60, **_expect("a number of seconds, 0-60"))
    timeout: float = Field(5.0, gt=0, le=120, **_expect("a number of seconds, 0-120"))
    deadline: float = Field(60.0, gt=0, le=3600, **_expect("a number of seconds, 0-3600"))
    # fail fast (cockpit.gate): this many 5xx answers in a row, once start_period is over
    start_period: float = Field(5.0, ge=0, le=3600, **_expect("a number of seconds, 0-3600"))
    fail_streak: int = Field(5, ge=1, le=1000, **_expect("an integer 1-1000"))


class WatchConfig(BaseModel):
    """`[environments.<env>.watch]`: the watch window after every switch (cockpit.watch)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    seconds: float = Field(60.0, ge=0, le=3600, **_expect("a number of seconds, 0-3600"))
    max_5xx_ratio: float = Field(0.05, ge=0, le=1, **_expect("a ratio 0-1, e.g. 0.05"))
    max_p95_ms: float | None = Field(None, gt=0, le=600000,
                                     **_expect("milliseconds, e.g. 800 (default: 3x the "
                                               "previous release's p95, at least 500)"))
    min_requests: int = Field(10, ge=1, le=1000000, **_expect("an integer >= 1"))


class EnvironmentConfig(BaseModel):
    """Keys every environment has; the rest of the table belongs to its provider."""

    model_config = ConfigDict(extra="forbid", strict=True)

    provider: str = Field(min_length=1, **_expect("a provider name such as 'vps'"))
    domain: str | None = Field(
        None, max_length=253, pattern=r"^([a-zA-Z0-9-]{1,63}\.)*[a-zA-Z0-9-]{1,63}$",
        **_expect("a DNS name like app.example.com"),
    )
    # braces, backticks and backslashes: Caddy reads them as placeholders ({$VAR} is replaced by
    # its environment) and quotes; cockpit writes these keys into the edge's Caddyfile
    acme_ca: str | None = Field(None, pattern=r"^https?://[^\s{}`\\\"]+$",
                                **_expect("an ACME directory URL"))
    acme_ca_root: str | None = Field(None, pattern=r"^[^{}`\\]+$",
                                     **_expect("a path to a PEM file"))
    acme_email: str | None = Field(None, pattern=r"^[^@\s{}`\\\"]+@[^@\s{}`\\\"]+$",
                                   **_expect("an email"))
    replicas: int = Field(1, ge=1, le=100, **_expect("an integer 1-100"))
    secret_scope: str | None = Field(None, min_length=1, **_expect("a keyring scope name"))
    protected: bool | None = Field(None, **_expect("true or false"))
    gate: GateConfig = Field(default_factory=GateConfig, **_expect("a table"))
    watch: WatchConfig = Field(default_factory=WatchConfig, **_expect("a table"))
    env: dict[str, str] = Field(
        default_factory=dict,
        **_expect("a table of plain configuration strings (not secrets); over [app.env]"),
    )

    COMMON_KEYS: frozenset[str] = frozenset()  # filled below


EnvironmentConfig.COMMON_KEYS = frozenset(EnvironmentConfig.model_fields)


@dataclass
class Environment:
    """One resolved environment: common keys, validated provider settings, secret names."""

    name: str
    common: EnvironmentConfig
    settings: Any  # the provider's ProviderSettings model
    secret_names: list[str]
    app: AppConfig
    # `[accessories.*]` (cockpit.accessories.AccessoryConfig by name), the same for every
    # environment; each environment runs its own instance
    accessories: dict[str, Any] = field(default_factory=dict)

    @property
    def provider(self) -> str:
        return self.common.provider

    @property
    def domain(self) -> str | None:
        return self.common.domain

    @property
    def gate(self) -> GateConfig:
        return self.common.gate

    @property
    def watch(self) -> WatchConfig:
        return self.common.watch

    @property
    def plain_env(self) -> dict[str, str]:
        """The environment's plain configuration: `[app.env]` overlaid by
        `[environments.<name>.env]` (name -> value, sorted by name). Never secrets: a name
        that is also a secret of this environment is refused when the file loads."""
        merged = {**self.app.env, **self.common.env}
        return {k: merged[k] for k in sorted(merged)}

    @property
    def volumes(self) -> dict[str, str]:
        """`[app.volumes]`: volume name -> absolute path in the container (same for every
        environment; each environment gets its own volume on its host)."""
        return dict(self.app.volumes)

    @property
    def release_command(self) -> str | None:
        """`[app] release_command`: one shell command run with `sh -c` in a one-off container
        of the new image before traffic moves (once per deploy and per promote)."""
        return self.app.release_command

    @property
    def secret_scope(self) -> str:
        return self.common.secret_scope or f"{self.app.name}:{self.name}"

    @property
    def protected(self) -> bool:
        """Prod-like: actions need the typed environment name. Default: named prod/production."""
        if self.common.protected is not None:
            return self.common.protected
        return self.name in ("prod", "production")

    @property
    def config_hash(self) -> str:
        """What a release runs with: app, environment and provider keys, secret names. How
        cockpit reaches the target (the provider's access keys) and gates it are left out."""
        access = getattr(type(self.settings), "access_keys", frozenset)()
        # keys added later count only when set, so an unchanged file keeps its hash
        later = {"release_command", "env", "volumes"}
        app = {k: v for k, v in self.app.model_dump().items() if k not in later or v}
        common = {k: v for k, v in self.common.model_dump(
                      exclude={"gate", "watch", "secret_scope"}).items() if k != "env" or v}
        return stable_hash(
            {
                "app": app,
                "env": common,
                "settings": self.settings.model_dump(exclude=set(access)),
                "secrets": sorted(self.secret_names),
                **({"accessories": {n: {k: v for k, v in a.model_dump().items()
                                        if k not in ("external", "storage", "url_scheme")
                                        or v}
                                    for n, a in self.accessories.items()}}
                   if self.accessories else {}),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.common.model_dump(),
            "env": self.plain_env,
            "volumes": self.volumes,
            "release_command": self.release_command,
            "settings": self.settings.model_dump(),
            "secrets": list(self.secret_names),
            "secret_scope": self.secret_scope,
            "protected": self.protected,
            "config_hash": self.config_hash,
            "accessories": {n: a.model_dump() for n, a in self.accessories.items()},
        }


@dataclass
class Config:
    path: Path
    app: AppConfig
    environments: dict[str, Environment]
    text: str
    doc: Any = field(repr=False, default=None)  # tomlkit document, for writes

    @property
    def root(self) -> Path:
        return self.path.parent

    def env(self, name: str) -> Environment:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(self.environments) or "none"
            raise ConfigError(
                f"no environment {name!r} in {self.path.name} (known: {known})",
                hint=f"add [environments.{name}] to {self.path.name}",
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "app": self.app.model_dump(),
            "environments": {n: e.to_dict() for n, e in self.environments.items()},
        }


# --------------------------------------------------------------------------- locating keys


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEYPART = r"""(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)"""
_KEYLINE = re.compile(rf"^(\s*)({_KEYPART}(?:\s*\.\s*{_KEYPART})*)\s*=\s*")


def _split_key(raw: str) -> list[str]:
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_-]+)", raw)
    return [a or b or c for a, b, c in parts]


def locate(text: str, path: list[str]) -> tuple[int, int]:
    """Best (line, column), 1-based, for a dotted key path in TOML source.

    Exact `key = value` lines give the column of the value; otherwise the deepest table header
    or key that is a prefix of the path; otherwise line 1.
    """
    best: tuple[int, tuple[int, int]] = (0, (1, 1))
    table: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header and "=" not in line.split("]")[0]:
            table = _split_key(header.group(1))
            depth = _prefix_len(table, path)
            if depth == len(table) and depth > best[0]:
                best = (depth, (lineno, line.index("[") + 1))
            continue
        keyline = _KEYLINE.match(line)
        if not keyline:
            continue
        full = table + _split_key(keyline.group(2))
        depth = _prefix_len(full, path)
        if depth != len(full) or depth <= best[0]:
            continue
        col = keyline.end() + 1
        if depth < len(path):  # inline table: look for the rest inside the value
            rest = line[keyline.end():]
            m = re.search(r"(?<![A-Za-z0-9_-])" + re.escape(path[-1]) + r"\s*=\s*", rest)
            if m:
                col = keyline.end() + m.end() + 1
                depth = len(path)
        best = (depth, (lineno, col))
    return best[1]


def _prefix_len(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


# --------------------------------------------------------------------------- loading


def find(start: Path | None = None) -> Path:
    """The cockpit.toml in `start` or its parents (like git finds .git)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / FILENAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {FILENAME} in {here} or its parents", hint="run `cockpit init` to write one"
    )


def load(path: Path | str | None = None) -> Config:
    path = Path(path) if path else find()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist",
                          hint="run `cockpit init` to write one") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return loads(text, path)


def loads(text: str, path: Path | str = FILENAME) -> Config:
    import tomlkit
    from tomlkit.exceptions import ParseError

    path = Path(path)
    label = path.name
    try:
        doc = tomlkit.parse(text)
    except ParseError as exc:
        msg = str(exc).split(" at line ")[0]
        where = f"{label}:{max(exc.line, 1)}:{exc.col + 1}"  # tomlkit's column is 0-based
        raise ConfigError(f"invalid TOML: {msg}", where=where) from None
    except Exception as exc:  # tomlkit raises a few non-ParseError types on odd input
        raise ConfigError(f"invalid TOML: {exc}", where=f"{label}:1:1") from None
    data = doc.unwrap()
    return _validate(data, text, path, doc)


def _err(text: str, label: str, path: list[str], message: str) -> ConfigError:
    line, col = locate(text, path)
    key = ".".join(path) if path else "(top level)"
    return ConfigError(f"{key}: {message}", where=f"{label}:{line}:{col}")


def _validate(data: dict[str, Any], text: str, path: Path, doc: Any) -> Config:
    from cockpit.plugins import provider_class

    label = path.name
    _check_controls(data, text, label, [])
    unknown = set(data) - {"app", "environments", "secrets", "accessories"}
    if unknown:
        key = sorted(unknown)[0]
        raise _err(text, label, [key], "unknown table; expected [app], [environments.*], "
                   "[accessories.*], [secrets]")
    if not isinstance(data.get("app"), dict):
        raise _err(text, label, ["app"], "expected an [app] table with at least `name`")
    app = _model(AppConfig, data["app"], text, label, ["app"])

    envs_raw = data.get("environments", {})
    if not isinstance(envs_raw, dict):
        raise _err(text, label, ["environments"], "expected tables [environments.<name>]")
    secrets_raw = data.get("secrets", {})
    if not isinstance(secrets_raw, dict):
        raise _err(text, label, ["secrets"], "expected a [secrets] table of name lists")

    environments: dict[str, Environment] = {}
    for name, raw in envs_raw.items():
        where = ["environments", name]
        if not re.match(NAME_RE, name):
            raise _err(text, label, where, "environment names are lowercase a-z, 0-9 and '-'")
        if not isinstance(raw, dict):
            raise _err(text, label, where, "expected a table")
        common_raw = {k: v for k, v in raw.items() if k in EnvironmentConfig.COMMON_KEYS}
        extra_raw = {k: v for k, v in raw.items() if k not in EnvironmentConfig.COMMON_KEYS}
        if "provider" not in raw:
            raise _err(text, label, where, "missing key `provider` (e.g. provider = \"vps\")")
        common = _model(EnvironmentConfig, common_raw, text, label, where)
        try:
            cls = provider_class(common.provider)
        except ConfigError as exc:
            raise _err(text, label, [*where, "provider"], exc.what) from None
        settings = _model(cls.settings_model, extra_raw, text, label, where,
                          also=sorted(EnvironmentConfig.COMMON_KEYS))
        names = secrets_raw.get(name, [])
        if not isinstance(names, list) or not all(
            isinstance(n, str) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", n) for n in names
        ):
            raise _err(
                text, label, ["secrets", name],
                "expected a list of environment variable names like [\"SECRET_KEY\"]",
            )
        if len(set(names)) != len(names):
            raise _err(text, label, ["secrets", name], "a secret name is listed twice")
        environments[name] = Environment(name, common, settings, list(names), app)

    for name in secrets_raw:
        if name not in environments:
            raise _err(text, label, ["secrets", name], f"no environment named {name!r}")

    from cockpit import accessories

    accessories.load(data, environments, secrets_raw, text, label)
    _check_plain(app, environments, data, text, label)
    _check_separation(environments, text, label)
    return Config(path=path, app=app, environments=environments, text=text, doc=doc)


# Any C0 control (newline, CR, NUL, tab, ESC ...), DEL and C1, and the Unicode line separators.
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_NAMES = {"\n": "a newline", "\r": "a carriage return", "\x00": "a NUL",
                  "\t": "a tab", "\x1b": "an escape (ESC)"}


def _check_controls(value: Any, text: str, label: str, path: list[str]) -> None:
    """Refuse a control character in any key or string value of the file, with file:line:key.

    Values reach generated files line by line (the Caddyfile, env files, HAProxy's config, shell
    commands): a newline in `acme_ca` once added an `import` to the Caddyfile. Only a tab is
    allowed, and only in a plain configuration value (`[app.env]`, `[environments.<env>.env]`),
    which an env file holds as it is.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            key = str(key)
            bad = CONTROL_RE.search(key)
            if bad:
                import json

                raise _err(text, label, path or [key], f"the key {json.dumps(key)} holds "
                           f"{_control_name(bad.group())}; keys are plain text")
            _check_controls(item, text, label, [*path, key])
    elif isinstance(value, list):
        for item in value:
            _check_controls(item, text, label, path)
    elif isinstance(value, str):
        in_env = len(path) >= 2 and path[-2] == "env" and path[0] in ("app", "environments")
        for bad in CONTROL_RE.finditer(value):
            if bad.group() == "\t" and in_env:
                continue
            found = f"{_control_name(bad.group())} at character {bad.start() + 1}"
            if in_env:
                raise _err(text, label, path, "a value must be one line (env files hold one "
                           f"line per variable) without control characters; got "
                           f"{_show(value)} ({found})")
            raise _err(text, label, path, (
                f"expected one line of text without control characters, got {_show(value)} "
                f"({found}); values are written into generated files line by line, where it "
                "could start a line of its own"))


def _control_name(char: str) -> str:
    return _CONTROL_NAMES.get(char, f"the control character U+{ord(char):04X}")


ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
VOLUME_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
# set by cockpit on every provider: a value in cockpit.toml would be overridden or break it
RESERVED_ENV = {"PORT": "cockpit sets it from [app] port", "COCKPIT_RELEASE": "cockpit sets it",
                "COCKPIT_ENV": "cockpit sets it"}


def _check_plain(app: AppConfig, envs: dict[str, Environment], data: dict[str, Any],
                 text: str, label: str) -> None:
    """`[app.env]`, `[environments.*.env]` and `[app.volumes]`: names, values, no secrets."""
    tables: list[tuple[list[str], dict[str, str]]] = [(["app", "env"], app.env)]
    tables += [(["environments", e.name, "env"], e.common.env) for e in envs.values()]
    for where, table in tables:
        for key, value in table.items():
            path = [*where, key]
            if not ENV_NAME_RE.match(key):
                raise _err(text, label, path, "expected an environment variable name "
                           "(letters, digits and '_', not starting with a digit)")
            if key in RESERVED_ENV:
                raise _err(text, label, path, f"{key} is reserved: {RESERVED_ENV[key]}")
            if "\n" in value or "\r" in value or "\0" in value:
                raise _err(text, label, path, "a value must be one line (env files hold one "
                           "line per variable)")
            owners = [e for e in envs.values() if (where[0] == "app" or e.name == where[1])
                      and key in e.secret_names]
            if owners:
                raise _err(text, label, path,
                           f"{key} is also a secret of environment {owners[0].name!r}; plain "
                           "configuration is written in cockpit.toml, secrets only in the "
                           f"keyring: remove it from one of [secrets].{owners[0].name} or here")
    for name, target in app.volumes.items():
        path = ["app", "volumes", name]
        if not VOLUME_NAME_RE.match(name):
            raise _err(text, label, path, "expected a volume name (lowercase a-z, 0-9, "
                       "'_', '.', '-', up to 63 chars)")
        if not target.startswith("/") or target == "/" or any(
                part in ("..", ".") for part in target.split("/")) or ":" in target:
            raise _err(text, label, path, f"expected an absolute path in the container like "
                       f"\"/app/{name}\", got {_show(target)}")
    mounts = list(app.volumes.values())
    for name, target in app.volumes.items():
        if mounts.count(target) > 1:
            raise _err(text, label, ["app", "volumes", name],
                       f"path {target} is mounted by two volumes")
    if app.volumes:
        for env in envs.values():
            if env.provider != "vps":
                raise _err(text, label, ["environments", env.name, "provider"],
                           f"volumes need provider vps: environment {env.name!r} uses "
                           f"{env.provider!r}, where [app.volumes] are not supported yet "
                           "(remove [app.volumes] or keep the app's data in a database)")


def _check_separation(envs: dict[str, Environment], text: str, label: str) -> None:
    """Staging and prod must not share anything that would let one break the other."""
    seen: dict[tuple[str, str], str] = {}
    for env in envs.values():
        claims: dict[str, tuple[str, Any]] = {"secret_scope": ("secret scope", env.secret_scope)}
        if env.domain:
            claims["domain"] = ("domain", env.domain.lower())
        claims.update(env.settings.exclusive(env.app.name, env.name))
        for key, (what, value) in claims.items():
            if value is None:
                continue
            mark = (what, str(value))
            if mark in seen:
                raise _err(
                    text, label, ["environments", env.name, key],
                    f"{what} {value!r} is also used by environment {seen[mark]!r}; "
                    "environments must not share resources",
                )
            seen[mark] = env.name


def _model(model: type[BaseModel], raw: dict[str, Any], text: str, label: str, where: list[str],
           also: list[str] | None = None):
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"]]
        raise _err(text, label, [*where, *loc], _describe(model, first, also or [])) from None


def _describe(model: type[BaseModel], error: Any, also: list[str]) -> str:
    loc = list(error["loc"])
    if error["type"] == "extra_forbidden":
        names = _fields_at(model, loc[:-1]) + (also if len(loc) == 1 else [])
        known = ", ".join(names) or "none"
        return f"unknown key; expected one of: {known}"
    if error["type"] == "missing":
        return "missing required key"
    if error["type"] == "value_error":  # a model's own check: its message says what and why
        return str(error["msg"]).removeprefix("Value error, ")
    expect = _expectation(model, loc) or error["msg"].lower().removeprefix("input should be ")
    return f"expected {expect}, got {_show(error.get('input'))}"


def _show(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _field_at(model: type[BaseModel], loc: list[Any]):
    current: Any = model
    info = None
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return info
        info = current.model_fields.get(str(part))
        if info is None:
            return None
        current = info.annotation
    return info


def _fields_at(model: type[BaseModel], loc: list[Any]) -> list[str]:
    if not loc:
        return list(model.model_fields)
    info = _field_at(model, loc)
    ann = getattr(info, "annotation", None)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return list(ann.model_fields)
    return []


def _expectation(model: type[BaseModel], loc: list[Any]) -> str | None:
    info = _field_at(model, loc)
    extra = getattr(info, "json_schema_extra", None)
    if isinstance(extra, dict):
        return extra.get("expect")  # type: ignore[return-value]
    return None


# --------------------------------------------------------------------------- writing


def write_atomic(path: Path, text: str) -> None:
    """Temp file + fsync + rename, keeping the previous file as `<name>.bak`."""
    path = Path(path)
    if path.exists():
        shutil.copy2(path, path.with_name(path.name + ".bak"))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save(config: Config, doc: Any | None = None) -> Config:
    """Write a (possibly edited) tomlkit document back; validated first, so no broken writes."""
    import tomlkit

    text = tomlkit.dumps(doc if doc is not None else config.doc)
    new = loads(text, config.path)  # raises before anything is written
    write_atomic(config.path, text)
    return new


def edit(path: Path, change) -> Config:
    """Load, apply `change(doc)` to the tomlkit document, validate, write atomically."""
    config = load(path)
    change(config.doc)
    return save(config)


def env_url(env) -> str | None:
    """The environment's public URL, "https://<domain>" (":<https_port>" when the provider
    serves HTTPS on another port than 443, as the lab's edge does), or None without a domain.
    `env` is a cockpit.config.Environment; the port is its provider's `https_port` setting."""
    if not env.domain:
        return None
    port = getattr(env.settings, "https_port", None)
    return f"https://{env.domain}" + (f":{port}" if port and port != 443 else "")
