"""Helpers of the contract suite: images per provider, a recorder, a prebuilt deploy."""

from __future__ import annotations

from cockpit import pipeline
from cockpit.events import Message


def image(contract, n: int) -> str:
    """The n-th (1, 2) healthy image each target knows (the lab's built images on the VPS)."""
    kind = getattr(contract, "kind", contract)
    if kind == "vps":
        return contract.project.images[f"v{n}"]
    digest = "sha256:" + str(n) * 64
    return {"inmemory": f"shop@{digest}", "kubernetes": f"registry.example.test/shop@{digest}",
            "fly": f"registry.fly.io/shop@{digest}"}[kind]


class Events(list):
    def __call__(self, event) -> None:
        self.append(event)

    def messages(self) -> list[str]:
        return [e.text for e in self if isinstance(e, Message)]

    def steps(self) -> list[str]:
        return [e.step for e in self if type(e).__name__ == "StepStarted"]


def deploy(contract, env: str, n: int, ctx=None):
    return pipeline.deploy(ctx or contract.ctx, env, Events(), image=image(contract, n))
