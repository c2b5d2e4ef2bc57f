"""The six shared cases from public bug reports (../shared/cases/*/expected.md), each a kind of
fault: the fixture under tests/scan/cases/<case>/ is the report's input, and each test asserts
the outcome the report expects, plus a variant of the same kind where one is cheap to make.
Placeholder lockfiles stay placeholders: nothing here builds the apps."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from cockpit.cli import main
from cockpit.generate import artifacts
from cockpit.scan import scan
from cockpit.scan.fixes import plan_fixes

CASES = Path(__file__).parent / "cases"


def copy_case(tmp_path: Path, name: str) -> Path:
    dest = tmp_path / name
    shutil.copytree(CASES / name, dest)
    return dest


def dockerfile(root: Path) -> str:
    return artifacts("dockerfile", root)[0].content


# ------------------------------------------------------------------------ dockerfile-expose-port


def test_own_dockerfile_expose_is_the_port_in_scan_init_and_every_generator(
        tmp_path: Path) -> None:
    app = copy_case(tmp_path, "dockerfile-expose-port")
    result = scan(app)
    assert result.stack == "unknown" and result.has_dockerfile
    assert result.port == 4000
    assert result.health_path is None
    guess = [f for f in result.findings if f.id == "no-health-endpoint"]
    assert len(guess) == 1 and guess[0].severity == "info" and "guess" in guess[0].message
    assert not result.errors

    assert main(["init", str(app), "--provider", "fly"]) == 0
    config = tomllib.loads((app / "cockpit.toml").read_text())
    assert config["app"]["port"] == 4000
    init_health = config["app"]["health_path"]

    fly = tomllib.loads(artifacts("fly", app)[0].content)
    assert fly["http_service"]["internal_port"] == 4000
    assert fly["env"]["PORT"] == "4000"
    # init and generate agree on the one guessed path, and fly.toml says it is a guess
    assert fly["http_service"]["checks"][0]["path"] == init_health
    assert "a guess" in artifacts("fly", app)[0].content
    for kind in ("compose", "kubernetes", "helm"):
        text = "".join(a.content for a in artifacts(kind, app))
        assert "4000" in text, kind
        assert "8000" not in text, kind


def test_generate_without_config_uses_the_same_default_health_path(tmp_path: Path) -> None:
    app = copy_case(tmp_path, "dockerfile-expose-port")
    fly = tomllib.loads(artifacts("fly", app)[0].content)
    assert main(["init", str(app), "--provider", "fly"]) == 0
    config = tomllib.loads((app / "cockpit.toml").read_text())
    assert fly["http_service"]["checks"][0]["path"] == config["app"]["health_path"]
    assert fly["http_service"]["internal_port"] == config["app"]["port"] == 4000


@pytest.mark.parametrize(("expose", "port"), [
    ("EXPOSE 4000", 4000),
    ("EXPOSE 5000/tcp 9090", 5000),
    ("ENV PORT=7000\nEXPOSE $PORT", 7000),
    ("ARG PORT=7100\nEXPOSE ${PORT}", 7100),
])
def test_the_last_stage_expose_wins_in_any_form(tmp_path: Path, expose: str, port: int) -> None:
    app = copy_case(tmp_path, "dockerfile-expose-port")
    (app / "Dockerfile").write_text(
        "FROM rust:1.83 AS build\nEXPOSE 1234\nRUN cargo build --release\n\n"
        f"FROM debian:bookworm-slim\nUSER 10001\n{expose}\nCMD [\"pinger\"]\n")
    assert scan(app).port == port


def test_own_dockerfile_with_a_literal_base_image_is_reported_as_a_pull(tmp_path: Path) -> None:
    app = copy_case(tmp_path, "dockerfile-expose-port")
    found = [f for f in scan(app).findings if f.id == "official-base-image"]
    assert len(found) == 1 and found[0].severity == "info"
    assert "rust:1.83" in found[0].message and "debian:bookworm-slim" in found[0].message


# ----------------------------------------------------------------------------- go-cmd-multi


def test_go_builds_the_cmd_package_that_serves_http() -> None:
    result = scan(CASES / "go-cmd-multi")
    assert result.build_command is not None and result.build_command.endswith("./cmd/server")
    assert result.entry_file == "cmd/server/main.go"
    assert result.port == 8080 and result.health_path == "/healthz"
    assert not [f for f in result.findings if f.id == "ambiguous-entry"]
    text = dockerfile(CASES / "go-cmd-multi")
    assert "go build -ldflags='-s -w' -o /out/server ./cmd/server" in text
    assert "./cmd/migrate" not in text


def test_several_serving_cmd_packages_are_a_warning_naming_them(tmp_path: Path) -> None:
    app = copy_case(tmp_path, "go-cmd-multi")
    (app / "cmd/admin").mkdir()
    (app / "cmd/admin/main.go").write_text(
        'package main\n\nimport "net/http"\n\nfunc main() {\n'
        '\thttp.ListenAndServe(":9000", nil)\n}\n')
    result = scan(app)
    warned = [f for f in result.findings if f.id == "ambiguous-entry"]
    assert len(warned) == 1 and warned[0].severity == "warning"
    assert "cmd/admin" in warned[0].message and "cmd/server" in warned[0].message
    # the conventional name wins over the alphabetically first one, and the warning says so
    assert result.build_command.endswith("./cmd/server")
    assert "./cmd/server" in warned[0].message


# ----------------------------------------------------------------------------- nextjs-standalone


def test_nextjs_standalone_runs_the_traced_server(tmp_path: Path) -> None:
    result = scan(CASES / "nextjs-standalone")
    assert result.framework == "nextjs"
    assert result.start_command == "node .next/standalone/server.js"
    lines = dockerfile(CASES / "nextjs-standalone").splitlines()
    assert "COPY --from=build /app/.next/standalone ./" in lines
    assert "COPY --from=build /app/.next/static ./.next/static" in lines
    assert not any("AS deps" in ln or "node_modules" in ln for ln in lines if ln[:4] in
                   ("FROM", "COPY"))
    assert lines[-1] == 'CMD ["node", "server.js"]'
    env = next(ln for ln in lines if ln.startswith("ENV NODE_ENV"))
    assert "HOSTNAME=0.0.0.0" in env and "PORT=3000" in env
    # public/ is copied when the app has one
    app = copy_case(tmp_path, "nextjs-standalone")
    (app / "public").mkdir()
    (app / "public/robots.txt").write_text("User-agent: *\n")
    assert "COPY --from=build /app/public ./public" in dockerfile(app)


@pytest.mark.parametrize("config", ["next.config.js", "next.config.ts"])
def test_standalone_is_read_from_every_config_name(tmp_path: Path, config: str) -> None:
    app = copy_case(tmp_path, "nextjs-standalone")
    (app / "next.config.mjs").unlink()
    (app / config).write_text("module.exports = {\n  output: 'standalone',\n};\n")
    assert 'CMD ["node", "server.js"]' in dockerfile(app)


def test_nextjs_without_standalone_keeps_next_start(tmp_path: Path) -> None:
    app = copy_case(tmp_path, "nextjs-standalone")
    (app / "next.config.mjs").write_text("export default {};\n")
    text = dockerfile(app)
    assert "node_modules/.bin/next" in text and ".next/standalone" not in text


# ----------------------------------------------------------------------------- pnpm-monorepo


def test_pnpm_workspace_root_gets_filter_aware_commands() -> None:
    result = scan(CASES / "pnpm-monorepo")
    assert result.package_manager == "pnpm"
    assert result.install_command == "pnpm install --frozen-lockfile"
    assert result.build_command is not None
    assert result.build_command.startswith("pnpm --filter @acme/api")
    assert result.build_command.endswith(" build")
    assert result.start_command == "node apps/api/dist/app.js"
    assert result.port == 4000 and result.health_path == "/health"
    lines = dockerfile(CASES / "pnpm-monorepo").splitlines()
    copy_all = lines.index("COPY . .")
    install = lines.index("RUN pnpm install --frozen-lockfile")
    assert copy_all < install  # every workspace package.json takes part in the install
    assert f"RUN {result.build_command}" in lines
    assert lines[-1] == 'CMD ["node", "apps/api/dist/app.js"]'
    # pnpm comes from the build image or npm, not from corepack alone
    assert not any(ln.strip() == "RUN corepack enable" for ln in lines)
    assert any("npm install -g pnpm@9.15.0" in ln for ln in lines)


def test_workspace_with_several_deployable_packages_is_an_error_naming_them(
        tmp_path: Path) -> None:
    app = copy_case(tmp_path, "pnpm-monorepo")
    (app / "apps/worker/src").mkdir(parents=True)
    (app / "apps/worker/package.json").write_text(json.dumps(
        {"name": "@acme/worker", "scripts": {"start": "node src/worker.js"}}))
    (app / "apps/worker/src/worker.js").write_text("setInterval(() => {}, 1000);\n")
    result = scan(app)
    assert result.start_command is None
    errors = [f for f in result.errors if f.id == "ambiguous-entry"]
    assert len(errors) == 1
    assert "apps/api" in errors[0].message and "apps/worker" in errors[0].message


@pytest.mark.parametrize("layout", ["pnpm", "npm"])
def test_a_workspace_never_passes_with_no_start_command(tmp_path: Path, layout: str) -> None:
    app = copy_case(tmp_path, "pnpm-monorepo")
    api = json.loads((app / "apps/api/package.json").read_text())
    del api["scripts"]["start"]
    api["dependencies"].pop("express")
    (app / "apps/api/package.json").write_text(json.dumps(api))
    if layout == "npm":  # npm/yarn workspaces: the `workspaces` key instead of the yaml
        (app / "pnpm-workspace.yaml").unlink()
        (app / "pnpm-lock.yaml").unlink()
        root = json.loads((app / "package.json").read_text())
        root["workspaces"] = ["apps/*", "packages/*"]
        (app / "package.json").write_text(json.dumps(root))
    result = scan(app)
    assert result.start_command is None
    assert [f for f in result.errors if f.id == "ambiguous-entry"]


# ----------------------------------------------------------------------------- vite-firebase-apikey


def test_firebase_web_key_in_client_code_is_not_an_error(tmp_path: Path) -> None:
    app = copy_case(tmp_path, "vite-firebase-apikey")
    result = scan(app)
    assert result.framework == "vite"
    assert not result.errors
    assert not [f for f in result.findings if f.id == "hardcoded-secret"]
    notes = [f for f in result.findings if f.path == "src/firebase.js"]
    assert all(f.severity == "info" for f in notes)
    plan = plan_fixes(app, result)
    # --fix never rewrites the browser config into process.env (undefined in a Vite bundle)
    assert "src/firebase.js" not in [c.path for c in plan.changes]
    assert not any("process.env" in c.after for c in plan.changes if c.path.startswith("src/"))
    assert "AIzaSyD3mXq7Lr9Tn2Vb8Kp4Wc6Yh1Jf0Gs5Ua2" in (app / "src/firebase.js").read_text()


# ----------------------------------------------------------------------------- vite-outdir-flag


def test_vite_outdir_flag_in_the_build_script_is_what_gets_copied() -> None:
    result = scan(CASES / "vite-outdir-flag")
    assert result.static_dir == "build"
    assert "COPY --from=build /app/build /srv" in dockerfile(CASES / "vite-outdir-flag")


@pytest.mark.parametrize(("build", "config", "expected"), [
    ("tsc && vite build --outDir=public_html", None, "public_html"),
    ("vite build --outDir ./out/ --emptyOutDir", "build: { outDir: 'www' }", "out"),
    ("vite build", "build: { outDir: 'www' }", "www"),
    ("npm run build:client", None, "client-dist"),
    ("vite build", None, "dist"),
])
def test_vite_outdir_order_flag_then_config_then_dist(
        tmp_path: Path, build: str, config: str | None, expected: str) -> None:
    app = copy_case(tmp_path, "vite-outdir-flag")
    pkg = json.loads((app / "package.json").read_text())
    pkg["scripts"]["build"] = build
    pkg["scripts"]["build:client"] = "vite build --outDir client-dist"
    (app / "package.json").write_text(json.dumps(pkg))
    if config:
        (app / "vite.config.ts").write_text(
            'import { defineConfig } from "vite";\n\nexport default defineConfig({\n'
            f"  {config},\n}});\n")
    assert scan(app).static_dir == expected
    assert f"COPY --from=build /app/{expected} /srv" in dockerfile(app)


def test_a_workspace_package_scanned_alone_points_at_the_workspace_root() -> None:
    result = scan(CASES / "pnpm-monorepo/apps/api")
    found = [f for f in result.findings if f.id == "ambiguous-entry"]
    # it links @acme/types with workspace:*, so it cannot be built alone
    assert len(found) == 1 and found[0].severity == "error"
    assert "../.." in found[0].message and "@acme/types" in found[0].message
    assert not [f for f in result.findings if f.id == "no-lockfile"]  # the lock is the root's


@pytest.mark.parametrize("kind", ["next", "vite"])
def test_workspace_web_package_runs_from_its_folder(tmp_path: Path, kind: str) -> None:
    app = copy_case(tmp_path, "pnpm-monorepo")
    shutil.rmtree(app / "apps/api")
    web = app / "apps/web"
    web.mkdir(parents=True)
    if kind == "next":
        pkg = {"name": "@acme/web", "scripts": {"build": "next build", "start": "next start"},
               "dependencies": {"next": "15.1.0", "@acme/types": "workspace:*"}}
        (web / "app").mkdir()
        (web / "app/page.jsx").write_text("export default function P() { return null; }\n")
    else:
        pkg = {"name": "@acme/web", "scripts": {"build": "vite build --outDir site"},
               "devDependencies": {"vite": "6.0.5"}}
        (web / "index.html").write_text("<div id=app></div>")
    (web / "package.json").write_text(json.dumps(pkg))
    result = scan(app)
    assert not result.errors
    assert result.build_command == "pnpm --filter @acme/web... build"
    lines = dockerfile(app).splitlines()
    assert "RUN pnpm --filter @acme/web... build" in lines
    if kind == "next":
        assert lines[-1] == ('CMD ["sh", "-c", '
                             '"cd apps/web && exec node_modules/.bin/next start"]')
    else:
        assert result.static_dir == "apps/web/site"
        assert "COPY --from=build /app/apps/web/site /srv" in lines


def test_workspace_package_data_dirs_are_under_its_folder(tmp_path: Path) -> None:
    app = copy_case(tmp_path, "pnpm-monorepo")
    code = (app / "apps/api/src/app.ts").read_text()
    (app / "apps/api/src/app.ts").write_text(
        "import path from 'path';\nimport multer from 'multer';\n"
        "const upload = multer({ dest: 'uploads/' });\n"
        "const files = multer({ dest: path.join(__dirname, '..', 'files') });\n" + code)
    # `node apps/api/dist/app.js` runs from the workspace root: 'uploads/' is the root's,
    # __dirname paths are the package's
    assert scan(app).data_dirs == ["apps/api/files", "uploads"]
    assert "chown 10001:10001 /app/apps/api/files /app/uploads" in dockerfile(app)
