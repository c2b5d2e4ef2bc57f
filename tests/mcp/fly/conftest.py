"""The Fly Machines API emulator fixtures of tests/fly (token and secrets in the keyring)."""

from tests.fly.conftest import emu, project  # noqa: F401 (fixtures)
