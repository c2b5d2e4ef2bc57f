"""Package layout: `screens/` and `providers/` ship inside the `cockpit` namespace.

The folders sit at the top of the repo (one room each), but the wheel must not add generic
top-level names to site-packages, so they are mapped to `cockpit.screens` and
`cockpit.providers` here. Works for `pip install .` and `pip install -e .`.

`cockpit/lab/` (the local lab: dockerd, sshd, Caddy, HAProxy, Pebble, keyring) is for this
repository's scripts, tests and `cockpit demo` from a checkout; the product does not ship it.
"""

from setuptools import find_packages, setup

MAPPED = {"screens": "cockpit.screens", "providers": "cockpit.providers"}

packages = find_packages(include=["cockpit", "cockpit.*"], exclude=["cockpit.lab", "cockpit.lab.*"])
for folder, name in MAPPED.items():
    packages += [name + sub[len(folder):] for sub in find_packages(include=[folder, folder + ".*"])]

setup(
    packages=packages,
    package_dir={"cockpit": "cockpit", **{name: folder for folder, name in MAPPED.items()}},
    package_data={"": ["*.tcss", "*.toml", "*.txt", "templates/*", "templates/**/*"]},
    include_package_data=True,
    exclude_package_data={"cockpit": ["lab/*", "lab/**/*"]},
)
