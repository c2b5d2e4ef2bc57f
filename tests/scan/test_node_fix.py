"""scan --fix on Node code: GET /health goes where the app registers its routes, a port fix
keeps `process.env.PORT || N`, and a change to a .js/.mjs/.cjs/.ts file is written only when
`node --check` accepts the result (real node, no mock)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cockpit.scan import scan
from cockpit.scan.fixes import apply_fixes, node_check, parses, plan_fixes

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node on PATH")


def write(root: Path, files: dict[str, str], module: bool = False) -> Path:
    pkg = {"name": "app", "scripts": {"start": "node server.js"},
           "dependencies": {"express": "4.21.2"}}
    if module:
        pkg["type"] = "module"
    (root / "package.json").write_text(json.dumps(pkg))
    (root / "package-lock.json").write_text('{"lockfileVersion": 3, "packages": {}}')
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def fix(root: Path) -> None:
    apply_fixes(plan_fixes(root))


def node_ok(path: Path) -> bool:
    return subprocess.run(["node", "--check", str(path)], capture_output=True).returncode == 0


def test_health_goes_before_the_first_route_on_the_app(tmp_path: Path) -> None:
    write(tmp_path, {"server.js": (
        "const express = require('express');\n"
        "const app = express();\n"
        "\n"
        "app.use(express.json());\n"
        "app.get('/', (req, res) => res.send('hi'));\n"
        "app.listen(process.env.PORT || 3000);\n")})
    fix(tmp_path)
    lines = (tmp_path / "server.js").read_text().splitlines()
    at = lines.index("app.get('/health', (req, res) => res.json({ status: 'ok' }));")
    assert lines[at + 1] == "app.use(express.json());"
    assert node_ok(tmp_path / "server.js")
    assert scan(tmp_path).health_path == "/health"


def test_health_in_a_factory_and_an_app_built_in_another_file(tmp_path: Path) -> None:
    write(tmp_path, {
        "server.js": "const app = require('./app');\napp.listen(process.env.PORT || 3000);\n",
        "app.js": ("const express = require('express');\n"
                   "const app = express()\n"
                   "  .use(express.json());\n"
                   "\n"
                   "module.exports = app;\n")})
    fix(tmp_path)
    text = (tmp_path / "app.js").read_text()
    assert "  .use(express.json());\napp.get('/health'" in text  # after the chain, not inside
    assert node_ok(tmp_path / "app.js")


def test_health_inside_create_app_of_an_es_module(tmp_path: Path) -> None:
    write(tmp_path, {"server.js": (
        "import express from 'express';\n"
        "\n"
        "export function createApp() {\n"
        "  const app = express();\n"
        "  app.use(express.json());\n"
        "  return app;\n"
        "}\n"
        "createApp().listen(process.env.PORT || 3000);\n")}, module=True)
    fix(tmp_path)
    text = (tmp_path / "server.js").read_text()
    assert ("  const app = express();\n"
            "  app.get('/health', (req, res) => res.json({ status: 'ok' }));\n"
            "  app.use(express.json());\n") in text
    assert node_check("server.js", text) is None


def test_health_on_a_root_mounted_router_when_no_app_object_is_named(tmp_path: Path) -> None:
    write(tmp_path, {
        "server.js": ("const express = require('express');\n"
                      "const routes = require('./routes');\n"
                      "express().use(routes).listen(process.env.PORT || 3000);\n"),
        "routes.js": ("const { Router } = require('express');\n"
                      "const router = Router();\n"
                      "router.get('/items', (req, res) => res.json([]));\n"
                      "module.exports = router;\n")})
    fix(tmp_path)
    text = (tmp_path / "routes.js").read_text()
    assert "router.get('/health', (req, res) => res.json({ status: 'ok' }));\n" \
           "router.get('/items'" in text
    assert node_ok(tmp_path / "routes.js")


def test_port_fix_keeps_process_env_port_or_the_literal(tmp_path: Path) -> None:
    write(tmp_path, {"server.js": (
        "const express = require('express');\n"
        "const app = express();\n"
        "app.get('/health', (req, res) => res.send('ok'));\n"
        "app.listen(8080, 'localhost', () => console.log('up'));\n")})
    fix(tmp_path)
    text = (tmp_path / "server.js").read_text()
    assert "app.listen(process.env.PORT || 8080, () => console.log('up'));" in text
    assert node_ok(tmp_path / "server.js")


def test_node_check_is_the_gate_for_javascript() -> None:
    assert node_check("a.js", "const a = 1;\n") is None
    assert node_check("a.js", "import x from 'y';\nexport default x;\n") is None  # ESM in .js
    assert node_check("a.cjs", "import x from 'y';\n") is not None  # .cjs is CommonJS only
    assert node_check("a.js", "app.get('/health', (req, res) => {\n") is not None
    assert not parses("src/server.js", "const = ;\n")
    assert parses("src/server.mjs", "export const a = 1;\n")


def test_a_fix_that_would_not_parse_is_not_written(tmp_path: Path) -> None:
    # the regex-level port fix applies to this line, but the file is already not valid
    # JavaScript (a stray brace): the result fails node --check, so nothing is written
    source = ("const express = require('express');\n"
              "const app = express();\n"
              "app.get('/health', (req, res) => res.send('ok'));\n"
              "app.listen(3000, 'localhost');\n"
              "}\n")
    write(tmp_path, {"server.js": source})
    plan = plan_fixes(tmp_path)
    assert "server.js" not in [c.path for c in plan.changes]
    assert not [k for k in plan.fixed if "server.js" in k]
    apply_fixes(plan)
    assert (tmp_path / "server.js").read_text() == source


def test_typescript_is_checked_with_type_stripping_or_not_written(tmp_path: Path) -> None:
    source = ("import express from 'express';\n"
              "const app = express();\n"
              "app.get('/', (_req, res) => res.send('hi'));\n"
              "const port: number = Number(process.env.PORT) || 3000;\n"
              "app.listen(port);\n")
    write(tmp_path, {"src/server.ts": source})
    pkg = json.loads((tmp_path / "package.json").read_text())
    pkg["scripts"]["start"] = "node dist/server.js"
    pkg["scripts"]["build"] = "tsc"
    (tmp_path / "package.json").write_text(json.dumps(pkg))
    plan = plan_fixes(tmp_path)
    changed = {c.path: c.after for c in plan.changes}
    strips = node_check("x.ts", "const n: number = 1;\n") is None
    if strips:
        assert "app.get('/health'" in changed["src/server.ts"]
        assert node_check("src/server.ts", changed["src/server.ts"]) is None
    else:
        # this node cannot check TypeScript: the health fix stays a manual step
        assert "src/server.ts" not in changed
        assert "no-health-endpoint" in [f.id for f in plan.manual]
        assert "TypeScript" in (node_check("x.ts", "const n: number = 1;\n") or "")
