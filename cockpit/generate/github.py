"""A GitHub Actions workflow: test, build the image once, deploy it to staging with cockpit,
then promote the *same* image to prod behind the `production` environment's required
reviewers (Settings → Environments → production → Required reviewers), never a rebuild.
"""

from __future__ import annotations

from pathlib import Path

from cockpit.generate import Spec
from cockpit.generate.yamlout import dump

CHECKOUT = {"uses": "actions/checkout@v4"}


def _test_steps(spec: Spec) -> list[dict]:
    r = spec.scan
    root = Path(r.root)
    if r.stack == "python":
        install = (
            f"pip install -r {r.dependency_file}"
            if r.dependency_file and r.dependency_file.endswith(".txt")
            else "pip install ."
            if r.dependency_file == "pyproject.toml"
            else "true"
        )
        has_tests = (root / "tests").is_dir() or any(root.glob("test_*.py"))
        test = (
            "pip install pytest && python -m pytest -q"
            if has_tests
            else "python -m compileall -q ."
        )
        return [
            CHECKOUT,
            {"uses": "actions/setup-python@v5", "with": {"python-version": "3.12"}},
            {"name": "Install", "run": install},
            {"name": "Test", "run": test},
        ]
    if r.stack == "node":
        pm = r.package_manager or "npm"
        install = {
            "npm": "npm ci" if r.lockfile else "npm install",
            "pnpm": "pnpm install --frozen-lockfile",
            "yarn": "yarn install --frozen-lockfile",
            "bun": "bun install --frozen-lockfile",
        }.get(pm, "npm ci")
        steps = [CHECKOUT, {"uses": "actions/setup-node@v4", "with": {"node-version": "20"}}]
        if pm in ("pnpm", "yarn"):
            steps.append({"run": "corepack enable"})
        steps += [
            {"name": "Install", "run": install},
            {"name": "Test", "run": "npm test --if-present"},
            {"name": "Build", "run": "npm run build --if-present"},
        ]
        return steps
    if r.stack == "go":
        return [
            CHECKOUT,
            {"uses": "actions/setup-go@v5", "with": {"go-version-file": "go.mod"}},
            {"name": "Test", "run": "go vet ./...\ngo test ./..."},
        ]
    return [CHECKOUT, {"name": "Test", "run": "echo 'add your test command here'"}]


def _credential_steps(spec: Spec, env_names: set[str]) -> tuple[list[dict], dict[str, str]]:
    """How cockpit reaches the targets from a runner: provider credentials from repo secrets."""
    providers = {e.provider for e in spec.environments if e.name in env_names}
    steps: list[dict] = []
    env: dict[str, str] = {}
    if "fly" in providers:
        env["FLY_API_TOKEN"] = "${{ secrets.FLY_API_TOKEN }}"
    if "kubernetes" in providers:
        steps.append({
            "name": "Kubeconfig",
            "run": "mkdir -p ~/.kube\n"
                   "printf '%s' \"$KUBECONFIG_DATA\" > ~/.kube/config\n"
                   "chmod 600 ~/.kube/config\n",
            "env": {"KUBECONFIG_DATA": "${{ secrets.KUBECONFIG }}"},
        })
    if "vps" in providers:
        steps.append({
            "name": "SSH key and known host",
            "run": "mkdir -p ~/.ssh && chmod 700 ~/.ssh\n"
                   "printf '%s\\n' \"$SSH_KEY\" > ~/.ssh/id_ed25519\n"
                   "chmod 600 ~/.ssh/id_ed25519\n"
                   "printf '%s\\n' \"$KNOWN_HOSTS\" >> ~/.ssh/known_hosts\n",
            "env": {"SSH_KEY": "${{ secrets.SSH_PRIVATE_KEY }}",
                    "KNOWN_HOSTS": "${{ secrets.SSH_KNOWN_HOSTS }}"},
        })
    return steps, env


def render(spec: Spec) -> str:
    staging, prod = spec.staging.name, spec.prod.name
    # On a runner there is no OS keyring: each job serves one environment and says which
    # (COCKPIT_SECRETS_FROM_ENV: <env>), so cockpit reads the bare secret names (filled from that
    # GitHub environment's secrets) for that environment only. The digest key keeps the secrets
    # digest in release records keyed and the same on every run.
    def secret_env(env_name: str) -> dict[str, str]:
        found = {"COCKPIT_SECRETS_FROM_ENV": env_name,
                 "COCKPIT_SECRETS_DIGEST_KEY": "${{ secrets.COCKPIT_SECRETS_DIGEST_KEY }}"}
        found.update({n: "${{ secrets." + n + " }}" for n in spec.secrets})
        return found

    stg_steps, stg_env = _credential_steps(spec, {staging})
    prod_steps, prod_env_vars = _credential_steps(spec, {staging, prod})
    cockpit_setup = [
        CHECKOUT,
        {"uses": "actions/setup-python@v5", "with": {"python-version": "3.12"}},
        {"name": "Install cockpit", "run": "pip install cockpit-deploy"},
    ]
    build_script = (
        'ref="ghcr.io/${GITHUB_REPOSITORY,,}:${GITHUB_SHA}"\n'
        'docker build -t "$ref" .\n'
        'docker push "$ref"\n'
        'digest="$(docker inspect --format \'{{index .RepoDigests 0}}\' "$ref")"\n'
        'echo "image=$digest" >> "$GITHUB_OUTPUT"\n'
    )
    staging_env: dict = {"name": staging}
    if spec.staging.domain:
        staging_env["url"] = f"https://{spec.staging.domain}"
    prod_env: dict = {"name": "production"}
    if spec.prod.domain:
        prod_env["url"] = f"https://{spec.prod.domain}"
    doc = {
        "name": "deploy",
        "on": {"push": {"branches": ["main"]}, "workflow_dispatch": {}},
        "permissions": {"contents": "read", "packages": "write"},
        "concurrency": {"group": "deploy", "cancel-in-progress": False},
        "jobs": {
            "test": {"runs-on": "ubuntu-latest", "steps": _test_steps(spec)},
            "build": {
                "needs": "test",
                "runs-on": "ubuntu-latest",
                "outputs": {"image": "${{ steps.image.outputs.image }}"},
                "steps": [
                    CHECKOUT,
                    {
                        "uses": "docker/login-action@v3",
                        "with": {
                            "registry": "ghcr.io",
                            "username": "${{ github.actor }}",
                            "password": "${{ secrets.GITHUB_TOKEN }}",
                        },
                    },
                    {"name": "Build once, push, pin by digest", "id": "image", "run": build_script},
                ],
            },
            "deploy-staging": {
                "needs": "build",
                "runs-on": "ubuntu-latest",
                "environment": staging_env,
                "steps": [
                    *cockpit_setup,
                    *stg_steps,
                    {
                        "name": f"Deploy to {staging} (health-gated, rolls back on failure)",
                        "run": f'cockpit deploy {staging} --json --image "$IMAGE"',
                        "env": {
                            "IMAGE": "${{ needs.build.outputs.image }}",
                            **stg_env,
                            **secret_env(staging),
                        },
                    },
                ],
            },
            "promote-prod": {
                "needs": "deploy-staging",
                "runs-on": "ubuntu-latest",
                "environment": prod_env,
                "steps": [
                    *cockpit_setup,
                    *prod_steps,
                    {
                        "name": f"Promote the image that passed {staging} to {prod}",
                        "run": f"cockpit promote {staging} {prod} --confirm {prod} --json",
                        "env": {**prod_env_vars, **secret_env(prod)},
                    },
                ],
            },
        },
    }
    head = (
        "# Generated by `cockpit generate github`. The prod job waits for the `production`\n"
        "# environment's required reviewers: set them in Settings → Environments.\n"
        "# Each job reads its environment's secrets by their bare names\n"
        "# (COCKPIT_SECRETS_FROM_ENV names the one environment it serves); add the repository\n"
        "# secret COCKPIT_SECRETS_DIGEST_KEY (e.g. `openssl rand -hex 32`) to key the digest.\n"
    )
    return head + dump(doc)
