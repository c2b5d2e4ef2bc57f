"""Small waits shared by the TUI tests (no sleeps-as-assertions: wait for work to finish)."""

from __future__ import annotations


async def settle(pilot, rounds: int = 3) -> None:
    """Let workers finish and their messages be handled, a few times over."""
    app = pilot.app
    for _ in range(rounds):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause(0.06)  # one drain tick of the log pumps (50 ms)


async def wait_until(pilot, predicate, tries: int = 300) -> None:
    """Poll `predicate` every 50 ms (15 s by default); fail if it never holds."""
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


async def wait_run(pilot, selector: str | None = None):
    """The screen's RunPanel (the one matching `selector`) once its run has started and
    finished."""
    from cockpit.screens.widgets.run_panel import RunPanel

    screen = pilot.app.screen
    panel = screen.query_one(selector, RunPanel) if selector else screen.query_one(RunPanel)
    await wait_until(pilot, lambda: panel.worker is not None and not panel.running)
    return panel


async def finish_run(pilot):
    """The RunScreen on top: its panel once the run finished and its messages were handled."""
    from cockpit.screens.run import RunScreen

    assert isinstance(pilot.app.screen, RunScreen), pilot.app.screen
    panel = await wait_run(pilot)
    await settle(pilot)
    return panel


async def open_logs(pilot, lines: int | None = 30):
    """From the dashboard, `l`: the LogsScreen once it holds `lines` lines (None: any)."""
    from cockpit.screens.logs import LogsScreen

    await settle(pilot)
    await pilot.press("l")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, LogsScreen), screen
    if lines is not None:
        await wait_until(pilot, lambda: len(screen.view.lines) == lines)
    return screen


async def open_releases(pilot, env_key: str = "", rows: int = 1):
    """From the dashboard, the env's number key (if given) then `h`: the ReleasesScreen once
    its table has at least `rows` rows."""
    from cockpit.screens.releases import ReleasesScreen
    from textual.widgets import DataTable

    await settle(pilot)
    await pilot.press(*env_key, "h")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ReleasesScreen), screen
    await wait_until(pilot, lambda: screen.query_one(DataTable).row_count >= rows)
    return screen


async def ask_rollback(pilot, env_key: str = "", rows: int = 1):
    """Open the releases, select the previous one and press `r`: its confirmation is on top.
    Returns the ReleasesScreen."""
    screen = await open_releases(pilot, env_key, rows)
    await pilot.press("down", "r")
    await pilot.pause()
    return screen


async def run_command(pilot, text: str) -> None:
    """Type `text` into the command palette (`:`) and run the first match."""
    await pilot.press("colon")
    await pilot.pause()
    await pilot.press(*text)
    await pilot.pause(0.3)
    await pilot.press("enter")
    await settle(pilot)


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


async def decide_changes(pilot, key: str = "s") -> None:
    """On the wizard's scan step: answer every proposed change (fixes, then missing files)
    with `key`: "s" skips (nothing written), "a" accepts."""
    screen = pilot.app.screen
    queue = getattr(screen, "changes", None)
    while queue is not None and not queue.done:
        screen.query_one("#changes").focus()
        await pilot.press(key)
        await pilot.pause()


async def leave_scan(pilot, key: str = "s") -> None:
    """From the wizard's scan step to the provider step: every proposed change answered with
    `key`, then Next."""
    await decide_changes(pilot, key)
    await pilot.press("ctrl+n")
    await pilot.pause()


async def walk_to_secrets(pilot, provider: str = "memory") -> None:
    screen = pilot.app.screen
    await leave_scan(pilot)  # scan → provider
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


async def walk_past_secrets(pilot, pages: int = 1) -> None:
    """Through the secrets page (both typed) and `pages` pages on: 1 is the domain page,
    2 the review."""
    await walk_to_secrets(pilot)
    await type_secrets(pilot)
    await pilot.press(*["ctrl+n"] * pages)
    await pilot.pause()


async def check_domain(pilot) -> None:
    """On the domain page: staging's domain typed and checked through to its certificate."""
    await type_into(pilot, "#domain-staging", "staging.hello.test")
    await click(pilot, "#domain-check-staging")
    await wait_until(pilot, lambda: pilot.app.screen.query_one("#domain-steps-staging")
                     .states().get("tls") == "done")


async def run_review(pilot, button: str = "#deploy"):
    """On the review page: press `button` (#plan or #deploy); the finished #review-run."""
    await click(pilot, button)
    return await wait_run(pilot, "#review-run")


async def promote_in_wizard(pilot):
    """From the review page after a deploy: promote to prod (typed name); the finished
    #promote-run."""
    await pilot.press("ctrl+n")
    await pilot.pause()
    await type_into(pilot, "#typed", "prod")
    await click(pilot, "#promote-go")
    return await wait_run(pilot, "#promote-run")
