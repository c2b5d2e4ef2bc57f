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


SECRET = "s3cr3t-typed-in-the-wizard-7731"


async def type_into(pilot, selector: str, text: str) -> None:
    widget = pilot.app.screen.query_one(selector)
    widget.scroll_visible(animate=False, immediate=True)
    widget.focus()
    await pilot.pause()
    await pilot.press("ctrl+a", "ctrl+k", *text)


async def click(pilot, selector: str) -> None:
    """Click it with the mouse (scrolled into view first)."""
    widget = pilot.app.screen.query_one(selector)
    widget.scroll_visible(animate=False, immediate=True)
    await pilot.pause()
    assert await pilot.click(selector), selector
    await pilot.pause()


async def walk_to_secrets(pilot, provider: str = "memory") -> None:
    screen = pilot.app.screen
    await pilot.press("ctrl+n")  # scan → provider
    await pilot.pause()
    await click(pilot, f"#provider-{provider}")
    await click(pilot, "#check")
    await wait_until(pilot, lambda: screen.checked is not None or error_text(pilot.app),
                     tries=1200)
    assert screen.checked is not None, (error_text(pilot.app) or
                                        str(screen.query_one("#preflight").render()))
    await pilot.press("ctrl+n")  # provider → secrets
    await pilot.pause()
    await type_into(pilot, "#secret-names", "SECRET_KEY")
    await pilot.press("enter")
    await settle(pilot)


async def type_secrets(pilot, secret: str = SECRET) -> None:
    screen = pilot.app.screen
    for env in ("staging", "prod"):
        await type_into(pilot, f"#secret-{env}-SECRET_KEY", secret)
        await pilot.press("enter")
        await settle(pilot)
        assert not error_text(pilot.app), error_text(pilot.app)
    await wait_until(pilot, lambda: screen.secret_state.get("prod", {}).get("SECRET_KEY"))
