"""The lab VPS fixtures of tests/vps (the hello app "zdt", its images, keyring items)."""

from tests.vps.conftest import project, ready  # noqa: F401 (fixtures)
