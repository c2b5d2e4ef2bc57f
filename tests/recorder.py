"""An emitter that keeps every event a flow produced, for assertions."""

from __future__ import annotations

from cockpit.events import Event


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.type == kind]

    def text(self) -> str:
        return "\n".join(repr(e.to_dict()) for e in self.events)
