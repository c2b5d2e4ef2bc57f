"""Generated Dockerfiles for Node, Go and static sites: the Node major the project pins, the
image ARGs of TEAM.md interface 1, a HEALTHCHECK only on a route the app has, and an app's own
Dockerfile used as it is."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cockpit.generate import artifacts, spec_for
from cockpit.scan import scan
from cockpit.scan.detect import DEFAULT_HEALTH_PATH, NODE_LTS, node_major

EXPRESS = """const express = require('express');
const app = express();
app.get('/', (req, res) => res.send('hi'));
app.listen(process.env.PORT || 3000);
"""


def express_app(root: Path, engines: str | None = None, health: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    pkg: dict = {"name": "shop", "scripts": {"start": "node server.js"},
                 "dependencies": {"express": "4.21.2"}}
    if engines:
        pkg["engines"] = {"node": engines}
    (root / "package.json").write_text(json.dumps(pkg))
    (root / "package-lock.json").write_text('{"lockfileVersion": 3, "packages": {}}')
    code = EXPRESS
    if health:
        code = code.replace("app.get('/',", "app.get('/healthz', (req, res) => res.send('ok'));\n"
                                           "app.get('/',")
    (root / "server.js").write_text(code)
    return root


def dockerfile(root: Path) -> str:
    return artifacts("dockerfile", root)[0].content


def from_args(text: str) -> dict[str, str]:
    """ARG NAME=default lines before the first FROM."""
    head = text.split("\nFROM ", 1)[0]
    return dict(re.findall(r"(?m)^ARG (\w+)=(\S+)$", head))


@pytest.mark.parametrize(("files", "major", "source"), [
    ({}, NODE_LTS, "default"),
    ({"engines": ">=18"}, NODE_LTS, "package.json engines.node"),
    ({"engines": "^20.11"}, 20, "package.json engines.node"),
    ({"engines": "18.x || 22.x"}, 22, "package.json engines.node"),
    ({"engines": ">=18 <23"}, 22, "package.json engines.node"),
    ({".nvmrc": "v22.11.0\n"}, 22, ".nvmrc"),
    ({".nvmrc": "lts/iron\n"}, 20, ".nvmrc"),
    ({".node-version": "24\n"}, 24, ".node-version"),
    # a pin the engines range rejects loses to the range
    ({".nvmrc": "18\n", "engines": ">=20"}, NODE_LTS, "package.json engines.node"),
])
def test_node_major_from_engines_nvmrc_node_version(
        tmp_path: Path, files: dict[str, str], major: int, source: str) -> None:
    app = express_app(tmp_path / "app", engines=files.get("engines"))
    for name in (".nvmrc", ".node-version"):
        if name in files:
            (app / name).write_text(files[name])
    assert node_major(app) == (major, source)
    args = from_args(dockerfile(app))
    assert args["BUILD_IMAGE"] == args["BASE_IMAGE"] == f"node:{major}-bookworm-slim"


def test_default_node_is_a_supported_lts_not_node_20() -> None:
    assert NODE_LTS % 2 == 0 and NODE_LTS > 20


@pytest.mark.parametrize("kind", ["express", "vite", "next", "static", "go"])
def test_every_from_names_an_image_arg_declared_before_it(tmp_path: Path, kind: str) -> None:
    app = tmp_path / kind
    if kind == "express":
        express_app(app)
    elif kind == "vite":
        app.mkdir()
        (app / "package.json").write_text(json.dumps(
            {"scripts": {"build": "vite build"}, "devDependencies": {"vite": "6.0.5"}}))
        (app / "index.html").write_text("<div id=app></div>")
    elif kind == "next":
        app.mkdir()
        (app / "package.json").write_text(json.dumps(
            {"scripts": {"build": "next build", "start": "next start"},
             "dependencies": {"next": "15.1.0"}}))
        (app / "app").mkdir()
        (app / "app/page.jsx").write_text("export default function P() { return null; }\n")
    elif kind == "static":
        app.mkdir()
        (app / "index.html").write_text("<h1>hello</h1>")
    else:
        app.mkdir()
        (app / "go.mod").write_text("module example.com/x\n\ngo 1.22\n")
        (app / "main.go").write_text('package main\n\nimport "net/http"\n\nfunc main() '
                                     '{ http.ListenAndServe(":8080", nil) }\n')
    text = dockerfile(app)
    args = from_args(text)
    froms = re.findall(r"(?m)^FROM (\S+)", text)
    assert froms and all(re.fullmatch(r"\$\{(\w+)\}", f) for f in froms), froms
    assert {f[2:-1] for f in froms} <= set(args)
    assert set(args) <= {"BUILD_IMAGE", "BASE_IMAGE", "CADDY_IMAGE"}
    assert "USER 10001:10001" in text
    assert "# syntax" not in text and "--mount" not in text
    assert "corepack enable" not in text


def test_healthcheck_only_on_a_route_the_app_has(tmp_path: Path) -> None:
    with_route = dockerfile(express_app(tmp_path / "a", health=True))
    assert re.search(r"(?m)^HEALTHCHECK", with_route) and "/healthz" in with_route
    bare = express_app(tmp_path / "b", health=False)
    text = dockerfile(bare)
    assert not re.search(r"(?m)^HEALTHCHECK", text)
    # the deploy gate still has a path to probe, the same default everywhere
    assert spec_for(bare).health_path == DEFAULT_HEALTH_PATH
    assert f"probes {DEFAULT_HEALTH_PATH}" in text


def test_static_site_is_served_by_caddy_with_its_health_route(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<h1>hello</h1>")
    (tmp_path / "about.html").write_text("<h1>about</h1>")
    result = scan(tmp_path)
    assert result.stack == "static" and result.static_dir == "."
    text = dockerfile(tmp_path)
    assert re.findall(r"(?m)^FROM (\S+)", text) == ["${CADDY_IMAGE}"]
    assert "COPY . /srv" in text
    assert "handle /health {" in text and "/health" in text.split("HEALTHCHECK", 1)[1]


def test_go_vendored_modules_download_nothing(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text(
        "module example.com/x\n\ngo 1.22\n\nrequire github.com/go-chi/chi/v5 v5.1.0\n")
    (tmp_path / "go.sum").write_text("github.com/go-chi/chi/v5 v5.1.0 h1:x=\n")
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor/modules.txt").write_text("# github.com/go-chi/chi/v5 v5.1.0\n")
    (tmp_path / "main.go").write_text('package main\n\nimport "net/http"\n\nfunc main() '
                                      '{ http.ListenAndServe(":8080", nil) }\n')
    text = dockerfile(tmp_path)
    assert "go mod download" not in text
    assert "GOTOOLCHAIN=local" in text


def test_go_without_go_sum_still_downloads_and_the_copy_tolerates_it(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/x\n\ngo 1.23\n")
    (tmp_path / "main.go").write_text('package main\n\nimport "net/http"\n\nfunc main() '
                                      '{ http.ListenAndServe(":8080", nil) }\n')
    text = dockerfile(tmp_path)
    assert "COPY go.mod go.sum* ./" in text  # the glob matches nothing: still a valid COPY
    assert "RUN go mod download && go mod verify" in text
    assert from_args(text)["BUILD_IMAGE"] == "golang:1.23-bookworm"


@pytest.mark.parametrize(("first_line", "reported"), [
    ("FROM node:20", True),
    ("ARG BASE_IMAGE=node:20\nFROM ${BASE_IMAGE}", False),
])
def test_own_dockerfile_is_used_and_a_literal_base_is_reported(
        tmp_path: Path, first_line: str, reported: bool) -> None:
    express_app(tmp_path)
    (tmp_path / ".dockerignore").write_text("node_modules\n")
    (tmp_path / "Dockerfile").write_text(
        f"{first_line}\nWORKDIR /app\nCOPY . .\nRUN npm ci\nUSER 10001\nEXPOSE 8080\n"
        'CMD ["node", "server.js"]\n')
    result = scan(tmp_path)
    assert result.has_dockerfile
    assert result.port == 8080  # the image's EXPOSE, not the code's fallback 3000
    assert result.start_command == "node server.js"
    found = [f for f in result.findings if f.id == "official-base-image"]
    assert bool(found) == reported
    if found:
        assert found[0].severity == "info" and "node:20" in found[0].message
        assert found[0].where == "Dockerfile:1"
    assert not result.errors


def test_node_data_dirs_are_owned_by_the_runtime_user_and_the_code_is_not(
        tmp_path: Path) -> None:
    express_app(tmp_path)
    (tmp_path / "server.js").write_text(
        "const express = require('express');\n"
        "const path = require('path');\n"
        "const multer = require('multer');\n"
        "const Database = require('better-sqlite3');\n"
        "const upload = multer({ dest: path.join(__dirname, 'public', 'uploads') });\n"
        "const db = new Database('data/app.db');\n"
        "const cache = new Database('cache.db');\n"
        "const mem = new Database(':memory:');\n"
        "const app = express();\n"
        "app.get('/healthz', (req, res) => res.send('ok'));\n"
        "app.post('/', upload.single('f'), (req, res) => res.send('ok'));\n"
        "app.listen(process.env.PORT || 3000);\n")
    result = scan(tmp_path)
    assert result.data_dirs == ["data", "public/uploads"]
    text = dockerfile(tmp_path)
    assert ("RUN mkdir -p /app/data /app/public/uploads "
            "&& chown 10001:10001 /app/data /app/public/uploads") in text
    assert "RUN chown 10001:10001 /app\n" in text  # cache.db is created in the app root
    assert "chown -R" not in text
    runtime = text[text.index("AS runtime"):]
    assert runtime.index("chown") < runtime.index("USER 10001:10001")


def test_go_port_is_the_default_of_the_port_variable_not_another_one(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/x\n\ngo 1.22\n")
    (tmp_path / "main.go").write_text(
        'package main\n\nimport (\n\t"net/http"\n\t"os"\n)\n\nfunc main() {\n'
        '\tdbPort := "5432"\n\t_ = dbPort\n'
        '\tport := os.Getenv("PORT")\n\tif port == "" {\n\t\tport = "9090"\n\t}\n'
        '\thttp.ListenAndServe(":"+port, nil)\n}\n')
    result = scan(tmp_path)
    assert result.port == 9090
    assert "EXPOSE 9090" in dockerfile(tmp_path)


def test_generate_all_keeps_the_projects_own_dockerfile(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from cockpit.cli import main

    express_app(tmp_path)
    own = ('ARG BASE_IMAGE=node:22-bookworm-slim\nFROM ${BASE_IMAGE}\nWORKDIR /app\nCOPY . .\n'
           'RUN npm ci\nUSER 10001\nEXPOSE 8080\nCMD ["node", "server.js"]\n')
    (tmp_path / "Dockerfile").write_text(own)
    assert "Dockerfile" not in [a.path for a in artifacts("all", tmp_path)]
    assert main(["generate", "--dir", str(tmp_path), "--yes", "--json"]) == 0
    assert (tmp_path / "Dockerfile").read_text() == own
    assert "own Dockerfile" in capsys.readouterr().out
    # the artifacts it did write use the image's port
    assert "8080" in (tmp_path / "compose.yaml").read_text()
    # asked for by name, a generated one is still offered
    assert artifacts("dockerfile", tmp_path)[0].content.startswith("# Generated by")


def test_start_with_a_dev_only_tool_keeps_it_and_nest_uses_start_prod(tmp_path: Path) -> None:
    tsx = express_app(tmp_path / "tsx")
    pkg = json.loads((tsx / "package.json").read_text())
    pkg["scripts"]["start"] = "tsx src/server.ts"
    pkg["devDependencies"] = {"tsx": "4.19.2"}
    (tsx / "package.json").write_text(json.dumps(pkg))
    text = dockerfile(tsx)
    assert "AS deps" not in text and "--omit=dev" not in text
    assert 'CMD ["node_modules/.bin/tsx", "src/server.ts"]' in text

    nest = express_app(tmp_path / "nest")
    pkg = json.loads((nest / "package.json").read_text())
    pkg["scripts"] = {"build": "nest build", "start": "nest start",
                      "start:prod": "node dist/main"}
    pkg["dependencies"] = {"@nestjs/core": "10.4.15"}
    pkg["devDependencies"] = {"@nestjs/cli": "10.4.9"}
    (nest / "package.json").write_text(json.dumps(pkg))
    assert scan(nest).start_command == "node dist/main"
    text = dockerfile(nest)
    assert 'CMD ["node", "dist/main"]' in text and "RUN npm ci --omit=dev" in text


@pytest.mark.parametrize("linker", [None, "node-modules"])
def test_yarn_berry_installs_through_corepack_and_runs_its_linker(
        tmp_path: Path, linker: str | None) -> None:
    express_app(tmp_path)
    (tmp_path / "package-lock.json").unlink()
    (tmp_path / "yarn.lock").write_text("__metadata:\n  version: 8\n")
    pkg = json.loads((tmp_path / "package.json").read_text())
    pkg["packageManager"] = "yarn@4.5.3"
    (tmp_path / "package.json").write_text(json.dumps(pkg))
    if linker:
        (tmp_path / ".yarnrc.yml").write_text(f"nodeLinker: {linker}\n")
    text = dockerfile(tmp_path)
    assert "RUN corepack enable" in text and "RUN yarn install --immutable" in text
    assert scan(tmp_path).install_command == "yarn install --immutable"
    assert "--frozen-lockfile" not in text and "yarn@1" not in text
    assert text.index("COPY . .") < text.index("RUN yarn install --immutable")
    assert ("NODE_OPTIONS=--require=/app/.pnp.cjs" in text) == (linker is None)
    assert 'CMD ["node", "server.js"]' in text
