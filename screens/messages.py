"""Messages that carry data up from workers to the screens (posted from threads; thread-safe)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from cockpit.events import Event


@dataclass
class CoreEvent(Message):
    """One event of the core's stream (step started/finished/failed, health, message)."""

    event: Event
    run: str = ""


@dataclass
class RunFinished(Message):
    """A mutating run ended: `release` on success, `error` (already shown centrally) on failure."""

    run: str
    release: Any = None
    error: BaseException | None = None


@dataclass
class EnvPolled(Message):
    """One dashboard poll of an environment: live state and a health sample, or why not."""

    env: str
    live: Any = None
    sample: Any = None
    error: str | None = None
