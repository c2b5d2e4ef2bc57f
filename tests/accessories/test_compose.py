"""`cockpit generate compose` with accessories in cockpit.toml: each one a health-checked
service with a named volume, the app and its release command waiting until it is healthy, and
the URL the app reads pointing at it. Checked by docker-compose itself when installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cockpit.config import loads
from cockpit.generate import artifacts

HERE = Path(__file__).parent

TOML = """[app]
name = "notes"
port = 8000
release_command = "python3 /app/migrate.py"

[environments.staging]
provider = "vps"
host = "127.0.0.1"
network = "bridge"

[accessories.postgres]
version = "16"

[accessories.cache]
kind = "redis"
env_var = "CACHE_URL"
version = "7.0"
image = "cockpit-lab/redis:bookworm"
"""


@pytest.fixture
def compose(tmp_path: Path) -> str:
    shutil.copytree(HERE / "notes_app", tmp_path / "app")
    root = tmp_path / "app"
    (root / "cockpit.toml").write_text(TOML)
    config = loads(TOML, root / "cockpit.toml")
    return artifacts("compose", root, config=config)[0].content


def test_accessories_are_health_checked_services_the_app_waits_for(compose: str):
    doc = yaml.safe_load(compose)
    services = doc["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["postgres"]["healthcheck"]["test"] == [
        "CMD-SHELL", "pg_isready -U notes -d notes"]
    assert services["cache"]["image"] == "redis:7.0"  # the official one, not the lab's
    assert services["cache"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    for who in ("app", "release"):
        assert services[who]["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert services[who]["depends_on"]["cache"] == {"condition": "service_healthy"}
    assert services["app"]["depends_on"]["release"] == {
        "condition": "service_completed_successfully"}
    env = services["app"]["environment"]
    assert env["DATABASE_URL"] == ("postgresql://notes:${POSTGRES_PASSWORD:-app}@postgres:5432/"
                                   "notes")
    assert env["CACHE_URL"] == "redis://cache:6379/0"
    assert set(doc["volumes"]) >= {"postgres-data", "cache-data"}
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose not installed")
def test_docker_compose_accepts_it(compose: str, tmp_path: Path):
    (tmp_path / "compose.yaml").write_text(compose)
    proc = subprocess.run(["docker-compose", "-f", "compose.yaml", "config", "-q"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
