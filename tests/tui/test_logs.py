"""The logs screen: live tail of every instance, filter, pause, wrap, timestamps, save."""

from __future__ import annotations

import pytest
from helpers import open_logs

pytestmark = pytest.mark.anyio

async def test_filter_shows_only_matching_lines_and_esc_clears_the_input(app):
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_logs(pilot, lines=30)  # asserts a LogsScreen
        await pilot.press("slash", *"error", "enter")
        await pilot.pause()
        shown = screen.view.visible_lines
        assert len(shown) == 10
        assert all("ERROR" in r.text for r in shown)
        await pilot.press("slash", "ctrl+a", "ctrl+k", "enter")  # empty filter shows all again
        await pilot.pause()
        assert len(screen.view.visible_lines) == 30


async def test_invalid_regex_keeps_the_previous_filter(app):
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_logs(pilot, lines=30)
        await pilot.press("slash", *"(unclosed", "enter")
        await pilot.pause()
        assert screen.view.filter_pattern is None
        assert len(screen.view.visible_lines) == 30


async def test_pause_holds_new_lines_until_resumed(app):
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_logs(pilot, lines=30)
        await pilot.press("p")
        screen.view.feed([(None, "web", "late line")])
        assert len(screen.view.lines) == 30 and screen.view.pending_count == 1
        await pilot.press("p")
        assert len(screen.view.lines) == 31


async def test_buffer_drops_oldest_lines_past_its_bound():
    from cockpit.screens.widgets.log_view import LogView
    from textual.app import App

    class Host(App):
        def compose(self):
            yield LogView(max_lines=1000)

    async with Host().run_test() as pilot:
        view = pilot.app.query_one(LogView)
        for start in range(0, 5000, 500):
            view.feed([(None, "s", f"line {n}") for n in range(start, start + 500)])
        assert len(view.lines) <= 1100
        assert view.lines[-1].text == "line 4999"
        assert view.dropped == 5000 - len(view.lines)


async def test_save_writes_the_shown_lines(app, tmp_path):
    async with app.run_test(size=(120, 40)) as pilot:
        await open_logs(pilot, lines=30)
        await pilot.press("slash", *"error", "enter")
        target = tmp_path / "errors.txt"
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("ctrl+a", "ctrl+k", *str(target), "enter")
        await pilot.pause()
        lines = target.read_text().splitlines()
        assert len(lines) == 10 and all("ERROR" in line for line in lines)
        assert lines[0].startswith("hello-staging-")


async def test_wrap_and_timestamps_toggle(app):
    async with app.run_test(size=(120, 40)) as pilot:
        view = (await open_logs(pilot, lines=None)).view
        await pilot.press("w", "t")
        assert view.wrap and view.timestamps
        await pilot.press("w", "t")
        assert not view.wrap and not view.timestamps


def test_a_lone_line_reaches_the_pump_before_the_next_one_arrives():
    import threading

    from cockpit.screens.logs import pump_lines
    from cockpit.screens.widgets.log_view import LinePump

    from cockpit.events import LogLine

    pump = LinePump()
    more = threading.Event()
    closed = threading.Event()

    def stream():
        try:
            yield LogLine("web-1", "started")
            more.wait(5)  # a quiet app: nothing else for a while
            yield LogLine("web-1", "second")
        finally:
            closed.set()

    worker = threading.Thread(target=pump_lines, args=(stream(), pump, lambda: False))
    worker.start()
    for _ in range(100):
        if len(pump):
            break
        threading.Event().wait(0.01)
    assert [text for _, _, text in pump.drain()] == ["started"]
    more.set()
    worker.join(5)
    assert [text for _, _, text in pump.drain()] == ["second"]
    assert closed.is_set()  # the provider's stream was closed (its readers stop)
