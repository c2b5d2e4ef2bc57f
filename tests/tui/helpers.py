"""Small waits shared by the TUI tests (no sleeps-as-assertions: wait for work to finish)."""

from __future__ import annotations


async def settle(pilot, rounds: int = 3) -> None:
    """Let workers finish and their messages be handled, a few times over."""
    app = pilot.app
    for _ in range(rounds):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause(0.06)  # one drain tick of the log pumps (50 ms)


async def wait_until(pilot, predicate, tries: int = 200) -> None:
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


def error_text(app) -> str:
    """The cause shown by an ErrorScreen on top, for assertion messages."""
    from cockpit.screens.widgets.error import ErrorScreen

    screen = app.screen
    if isinstance(screen, ErrorScreen):
        return str(screen.error)
    return ""
