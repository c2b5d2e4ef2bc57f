"""Log lines an app writes are shown, never obeyed: terminal escapes (OSC 52 clipboard writes,
window titles, clear screen, cursor moves, carriage-return overwrites, 8-bit C1 controls) come
out inert and visible in every renderer, and one huge line renders a bounded number of cells."""

from __future__ import annotations

import io
import json
import re

import pytest

from cockpit.errors import GateFailed
from cockpit.events import LogLine
from cockpit.output import LINE_LIMIT, HumanRenderer, JsonRenderer, inert

PAYLOADS = [
    "copy \x1b]52;c;SGVsbG8=\x07 done",  # OSC 52: writes the reader's clipboard
    "title \x1b]0;pwned\x07",  # OSC 0: sets the window title
    "wipe \x1b[2J\x1b[H",  # clear screen, cursor home
    "real line\rforged line that hides it",  # carriage-return overwrite
    "up \x1b[1A\x1b[2Kfake: deploy ok",  # cursor up + erase line: forges an earlier line
    "c1 \x9b31mred\x9b0m",  # 8-bit CSI (C1)
    "osc8 \x9d8;;http://evil\x9c link",  # 8-bit OSC / ST
    "del \x7f nul \x00 bell \x07 bs \x08 ff \x0c vt \x0b",
    "two\nlines",  # a line break inside one log line forges a second line
]

# Anything a terminal would act on: C0 except tab, DEL, C1.
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _human(events=(), text=None):
    out, err = io.StringIO(), io.StringIO()
    r = HumanRenderer(out, err)
    for event in events:
        r.emit(event)
    if text is not None:
        r.text(text)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_cli_renderer_shows_a_log_line_inert_and_on_one_line(payload):
    _, err = _human([LogLine(source="web-1", line=payload)])
    body = err.removesuffix("\n")
    assert not UNSAFE.search(body), repr(body)
    assert body.startswith("web-1 | ")
    # what was there is still visible, not dropped
    assert ("␛" in body) or ("\\x9" in body) or ("␍" in body) or ("␊" in body) or ("␡" in body)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_prose_and_error_logs_are_inert_too(payload):
    # `cockpit logs` without --json prints each line as prose (source | line)
    out, _ = _human(text=f"web-1 | {payload}")
    assert not UNSAFE.search(out.removesuffix("\n").replace("\n", "")), repr(out)
    assert "\x1b" not in out and "\r" not in out and "\x9b" not in out
    err = io.StringIO()
    HumanRenderer(io.StringIO(), err).error(GateFailed("gate failed", logs=[payload]))
    assert "\x1b" not in err.getvalue() and "\x9b" not in err.getvalue()
    assert "\r" not in err.getvalue() and "\x07" not in err.getvalue()


def test_prose_keeps_its_own_line_breaks_and_tabs():
    out, _ = _human(text="a\tb\nc\r\nd")
    assert out == "a       b\nc\nd\n"  # rich expands the tab; nothing is marked


@pytest.mark.parametrize("payload", PAYLOADS)
def test_ndjson_carries_the_exact_line_with_no_raw_control_character(payload):
    out = io.StringIO()
    JsonRenderer(out).emit(LogLine(source="web-1", line=payload))
    raw = out.getvalue()
    assert raw.endswith("\n") and raw.count("\n") == 1
    assert not UNSAFE.search(raw[:-1]), repr(raw)
    assert json.loads(raw)["line"] == payload  # lossless for a machine


def test_inert_marks_every_control_visibly_and_keeps_tab():
    assert inert("a\x1b[2Jb") == "a␛[2Jb"
    assert inert("x\ty") == "x\ty"
    assert inert("\x9b") == "\\x9b"
    assert inert("\x00\x7f\r\n") == "␀␡␍␊"
    assert inert("\u202eevil") == "\\u202eevil"  # bidi override reorders what a reader sees
    assert inert("plain ascii and ünïcödé ✓") == "plain ascii and ünïcödé ✓"


def test_inert_bounds_a_line_and_says_how_much_was_cut():
    line = "x" * 1_000_000
    shown = inert(line)
    assert shown.startswith("x" * LINE_LIMIT)
    assert shown.endswith(f"… ({1_000_000 - LINE_LIMIT} bytes cut)")
    assert len(shown) < LINE_LIMIT + 40
    assert inert("é" * (LINE_LIMIT + 10)).endswith("… (20 bytes cut)")  # UTF-8 bytes


def test_cli_renderer_bounds_a_one_megabyte_line():
    _, err = _human([LogLine(source="web-1", line="y" * 1_000_000)])
    assert len(err) < LINE_LIMIT + 100
    assert "bytes cut)" in err


# --------------------------------------------------------------------------- the TUI log view


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _host(**kwargs):
    from cockpit.screens.widgets.log_view import LogView
    from textual.app import App

    class Host(App):
        def compose(self):
            yield LogView(**kwargs)

    return Host(), LogView


def _screen_rows(view) -> list[str]:
    height = view.scrollable_content_region.height
    return [view.render_line(y).text for y in range(height)]


def _screen_text(view) -> str:
    return "\n".join(_screen_rows(view))


@pytest.mark.anyio
async def test_log_view_shows_escapes_inert():
    app, LogView = _host()
    async with app.run_test(size=(200, 30)) as pilot:
        view = pilot.app.query_one(LogView)
        view.feed([(None, "web-1", p) for p in PAYLOADS])
        await pilot.pause()
        rows = _screen_rows(view)
        for row in rows:
            assert not UNSAFE.search(row), repr(row)
        shown = "\n".join(rows)
        assert "␛]52;c;SGVsbG8=␇" in shown
        assert "\\x9b31mred" in shown
        assert "real line␍forged line" in shown
        assert "two␊lines" in shown
        assert len(view.lines) == len(PAYLOADS)  # "two\nlines" stays one record


@pytest.mark.anyio
async def test_log_view_filter_highlights_on_the_shown_text():
    app, LogView = _host()
    async with app.run_test(size=(200, 30)) as pilot:
        view = pilot.app.query_one(LogView)
        view.feed([(None, "web-1", "a \x9b31m b")])
        view.set_filter("31m b")
        await pilot.pause()
        assert len(view.visible_lines) == 1
        assert "\\x9b31m b" in _screen_text(view)


@pytest.mark.anyio
async def test_log_view_renders_a_bounded_number_of_cells_for_a_one_megabyte_line():
    app, LogView = _host()
    async with app.run_test(size=(100, 30)) as pilot:
        view = pilot.app.query_one(LogView)
        view.feed([(None, "web-1", "z" * 1_000_000), (None, "web-1", "after")])
        view.wrap = True
        await pilot.pause()
        record = view.lines[0]
        assert len(record.text) < LINE_LIMIT + 40 and record.text.endswith("bytes cut)")
        width = view.scrollable_content_region.width
        rows = view._wrapped(record, width, view.rich_style)
        cells = sum(row.cell_length for row in rows)
        assert cells <= (LINE_LIMIT + 40 + view._prefix_width()) + width
        # not wrapped: the scrollable width is bounded by the cut line, not by 1 MB
        view.wrap = False
        await pilot.pause()
        assert view.virtual_size.width < LINE_LIMIT + 100
        assert "after" in _screen_text(view)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_tui_error_panel_shows_a_failed_gates_log_lines_inert(payload):
    from cockpit.screens.widgets.error import describe

    text = describe(GateFailed("health gate failed", logs=[payload])).plain
    for row in text.splitlines():
        assert not UNSAFE.search(row), repr(row)
    assert len(text.splitlines()) == 2  # the error, then the one log line


def test_a_log_line_with_a_line_break_prints_as_one_row() -> None:
    """`cockpit logs` without --json: a log line that itself holds a newline (Fly's JSON log
    messages can) must not forge a second row on stdout."""
    import io

    from cockpit.cli.status import print_logs
    from cockpit.events import LogLine
    from cockpit.output import HumanRenderer

    out, err = io.StringIO(), io.StringIO()
    line = LogLine(source="web-1", line="real line\nweb-2 | forged \x1b[2J line")
    assert print_logs(HumanRenderer(out=out, err=err), [line]) == 1
    printed = out.getvalue().rstrip("\n")
    assert "\n" not in printed and "forged" in printed and "\x1b" not in printed
