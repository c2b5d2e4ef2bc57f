"""Go apps: GET /health goes on the app's ServeMux and the result passes `gofmt -e` and
`go vet`; variables read only by main packages that are not deployed (cmd/migrate, cmd/worker)
are not the deployed app's configuration."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cockpit.scan import scan
from cockpit.scan.fixes import apply_fixes, go_check, plan_fixes

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "apps"


def test_health_route_goes_on_the_serve_mux_and_vets(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(CORPUS / "go-multi-cmd", app)
    plan = plan_fixes(app)
    assert "no-health-endpoint cmd/api/main.go:1" in plan.fixed
    apply_fixes(plan)
    web = (app / "internal/web/web.go").read_text()
    mux_line = web.index("mux := http.NewServeMux()")
    assert web.index('mux.HandleFunc("/health"') > mux_line
    assert web.index('mux.HandleFunc("/health"') < web.index('mux.HandleFunc("/",')
    subprocess.run(["go", "vet", "./..."], cwd=app, check=True, capture_output=True, timeout=300,
                   env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GOFLAGS": "-mod=mod",
                        "GOTOOLCHAIN": "local", "GOCACHE": str(tmp_path / "cache")})
    assert scan(app).health_path == "/health"


def test_go_check_refuses_what_does_not_parse() -> None:
    assert go_check("x.go", "package main\n\nfunc main() {}\n") is None
    assert go_check("x.go", "package main\n\nfunc main() {\n") is not None


def test_variables_of_entry_points_that_are_not_deployed_are_left_out() -> None:
    result = scan(CORPUS / "case-go-cmd-multi")  # DATABASE_URL is read by cmd/migrate only
    assert result.entry_file == "cmd/server/main.go"
    assert [v.name for v in result.env_vars] == ["PORT"]
    assert "undeclared-env" not in {f.id for f in result.findings}
