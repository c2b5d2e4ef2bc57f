"""A line-API log widget over a bounded ring buffer, fed in batches.

Why not `textual.widgets.Log`: it measures every batch in a thread worker and tops out near
37k lines/s on textual 8.2.8. This widget keeps plain tuples, renders only the visible window
(the Toolong way), and is fed from a `LinePump` drained on a ~50 ms timer, so a fast tail
cannot starve the event loop.

Each line is made inert when it is kept (`cockpit.output.inert`): terminal controls an app wrote
(escape sequences, carriage returns, C1 controls, line breaks) are shown as visible marks, never
written to the terminal, and a line longer than `line_limit` characters is cut with a
"… (N bytes cut)" mark, so one huge line costs a bounded number of cells to wrap and render.
Filter, highlight and save work on that shown text.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from cockpit.output import LINE_LIMIT, inert

_SOURCE_COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta")


class Record(NamedTuple):
    """One log line as the widget keeps it: a sequence number makes pruning cheap; `text` is
    the inert, bounded text shown (see the module docstring)."""

    seq: int
    ts: float | None
    source: str
    text: str


class LinePump:
    """A thread-safe inbox between a producer thread and the UI, with back-pressure.

    The producer appends lines (a deque append: atomic, no lock, nothing waits for a batch to
    fill, so a lone line shows at the next drain) and calls `wait_for_room()` now and then,
    which blocks while more than `high` lines wait, so a runaway source slows down instead of
    growing memory. The UI drains it on a timer.
    """

    def __init__(self, high: int = 10_000) -> None:
        self._items: deque[tuple[float | None, str, str]] = deque()
        self._room = threading.Condition()
        self.high = high
        self.closed = False

    def append(self, item: tuple[float | None, str, str]) -> None:
        self._items.append(item)

    def put(self, items: list[tuple[float | None, str, str]], timeout: float = 1.0) -> None:
        self._items.extend(items)
        self.wait_for_room(timeout)

    def wait_for_room(self, timeout: float = 1.0) -> None:
        if len(self._items) < self.high:
            return
        with self._room:
            while len(self._items) >= self.high and not self.closed:
                self._room.wait(timeout)

    def drain(self) -> list[tuple[float | None, str, str]]:
        items = self._items
        out = [items.popleft() for _ in range(len(items))]
        if out:
            with self._room:
                self._room.notify_all()
        return out

    def close(self) -> None:
        with self._room:
            self.closed = True
            self._room.notify_all()

    def __len__(self) -> int:
        return len(self._items)


class LogView(ScrollView, can_focus=True):
    """Shows the tail of many sources, prefixed; filter, pause, follow, wrap, timestamps."""

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $text;
        overflow: auto auto;
        &:focus { background-tint: $foreground 5%; }
    }
    """

    follow: var[bool] = var(True)
    paused: var[bool] = var(False)
    wrap: var[bool] = var(False)
    timestamps: var[bool] = var(False)

    class Changed(Message):
        """Counts or modes changed; the screen refreshes its status line (merged when queued)."""

        def __init__(self, log_view: LogView) -> None:
            super().__init__()
            self.log_view = log_view

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, LogView.Changed)

    def __init__(
        self,
        max_lines: int = 100_000,
        *,
        show_source: bool = True,
        line_limit: int = LINE_LIMIT,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max_lines
        self.show_source = show_source
        self.line_limit = line_limit  # characters of one line kept and shown
        self._lines: list[Record] = []
        self._view: list[Record] = self._lines
        self._pending: list[tuple[float | None, str, str]] = []
        self._seq = 0
        self._width = 0
        self._pattern: re.Pattern[str] | None = None
        self._source_width = 0
        self._colours: dict[str, Style] = {}
        self._window_key: tuple | None = None
        self._window: list[Strip] = []
        self.received = 0  # lines that reached the widget, for status and the benchmark
        self.dropped = 0

    # ------------------------------------------------------------------ feeding

    def feed(self, items: Sequence[tuple[float | None, str, str]]) -> None:
        """Append (ts, source, text) lines; oldest lines drop past `max_lines`."""
        if not items:
            return
        self.received += len(items)
        if self.paused:
            self._pending.extend(items)
            if len(self._pending) > self.max_lines:
                over = len(self._pending) - self.max_lines
                del self._pending[:over]
                self.dropped += over
            self.post_message(self.Changed(self))
            return
        self._append(items)

    def _append(self, items: Sequence[tuple[float | None, str, str]]) -> None:
        seq = self._seq
        limit = self.line_limit
        new = [Record(seq + i, ts, inert(src, limit=64), inert(text, limit=limit))
               for i, (ts, src, text) in enumerate(items)]
        self._seq = seq + len(new)
        self._lines.extend(new)
        if self._pattern is not None:
            search = self._pattern.search
            self._view.extend(r for r in new if search(r.text) or search(r.source))
        widest_src = max(len(r.source) for r in new)
        if widest_src > self._source_width:
            self._source_width = min(widest_src, 24)
        self._width = max(self._width, max(len(r.text) for r in new))
        self._prune()
        self._after_change()

    def _prune(self) -> None:
        # Trim in chunks (amortised O(1) per line): keep at most 1.1 x max_lines at any time.
        if len(self._lines) <= self.max_lines + self.max_lines // 10:
            return
        over = len(self._lines) - self.max_lines
        first_kept = self._lines[over].seq
        del self._lines[:over]
        self.dropped += over
        shifted = over
        if self._view is not self._lines:
            n = 0
            for record in self._view:
                if record.seq >= first_kept:
                    break
                n += 1
            del self._view[:n]
            shifted = n
        if not self.follow and shifted:
            # Keep the lines the reader is looking at in place while the front drops away.
            self.set_scroll(None, max(0, self.scroll_y - shifted))

    def _after_change(self) -> None:
        self._window_key = None
        self._update_virtual_size()
        if self.follow:
            self._scroll_to_end()
        self.refresh()
        self.post_message(self.Changed(self))

    def _prefix_width(self) -> int:
        width = 0
        if self.timestamps:
            width += 9
        if self.show_source and self._source_width:
            width += self._source_width + 3
        return width

    def _update_virtual_size(self) -> None:
        width = 0 if self.wrap else self._width + self._prefix_width()
        self.virtual_size = Size(width, len(self._view))

    def _scroll_to_end(self) -> None:
        self.scroll_to(y=max(0, len(self._view) - self.scrollable_content_region.height),
                       animate=False, immediate=True)

    def clear(self) -> None:
        self._lines.clear()
        self._pending.clear()
        self._view = self._lines
        if self._pattern is not None:
            self._view = []
        self._width = 0
        self._after_change()

    # ------------------------------------------------------------------ modes

    @property
    def lines(self) -> Sequence[Record]:
        """Everything kept (not filtered)."""
        return self._lines

    @property
    def visible_lines(self) -> Sequence[Record]:
        """What the filter lets through (all lines without a filter)."""
        return self._view

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def filter_pattern(self) -> str | None:
        return self._pattern.pattern if self._pattern else None

    def set_filter(self, pattern: str | None) -> None:
        """Show only lines matching `pattern` (a regex, case-insensitive); None shows all.

        Raises re.error for an invalid pattern, leaving the current filter in place.
        """
        if not pattern:
            self._pattern = None
            self._view = self._lines
        else:
            compiled = re.compile(pattern, re.IGNORECASE)
            self._pattern = compiled
            search = compiled.search
            self._view = [r for r in self._lines if search(r.text) or search(r.source)]
        self.follow = True
        self._after_change()

    def watch_paused(self, paused: bool) -> None:
        if not paused and self._pending:
            pending, self._pending = self._pending, []
            self._append(pending)
        self.post_message(self.Changed(self))

    def watch_follow(self, follow: bool) -> None:
        if follow and self.is_mounted:
            self._scroll_to_end()
        self.post_message(self.Changed(self))

    def watch_wrap(self) -> None:
        self._after_change()

    def watch_timestamps(self) -> None:
        self._after_change()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Scrolling away from the end stops following; reaching the end resumes it (less +F).
        if round(new_value) < round(old_value) and self.follow:
            self.follow = False

    def go_top(self) -> None:
        self.follow = False
        self.scroll_to(y=0, animate=False, immediate=True)

    def go_bottom(self) -> None:
        self.follow = True
        self._scroll_to_end()

    def save(self, path: Path) -> int:
        """Write what the filter shows (already redacted by the core) to `path`."""
        with open(path, "w", encoding="utf-8") as fh:
            for record in self._view:
                fh.write(self._plain(record))
                fh.write("\n")
        return len(self._view)

    def _plain(self, record: Record) -> str:
        parts = []
        if self.timestamps and record.ts is not None:
            parts.append(_clock(record.ts))
        if self.show_source and record.source:
            parts.append(f"{record.source} |")
        parts.append(record.text)
        return " ".join(parts)

    # ------------------------------------------------------------------ rendering

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._window_key = None

    def _colour(self, source: str) -> Style:
        style = self._colours.get(source)
        if style is None:
            colour = _SOURCE_COLOURS[len(self._colours) % len(_SOURCE_COLOURS)]
            style = self._colours[source] = Style(color=colour, bold=True)
        return style

    def _segments(self, record: Record, base: Style) -> list[Segment]:
        segs: list[Segment] = []
        if self.timestamps:
            stamp = _clock(record.ts) if record.ts is not None else "--:--:--"
            segs.append(Segment(stamp + " ", base + Style(dim=True)))
        if self.show_source and self._source_width:
            src = record.source[: self._source_width].ljust(self._source_width)
            segs.append(Segment(src, base + self._colour(record.source)))
            segs.append(Segment(" │ ", base + Style(dim=True)))
        text = record.text.expandtabs()
        pattern = self._pattern
        if pattern is None:
            segs.append(Segment(text, base))
        else:
            mark = base + Style(reverse=True, bold=True)
            pos = 0
            for match in pattern.finditer(text):
                start, end = match.span()
                if end == start:
                    continue
                if start > pos:
                    segs.append(Segment(text[pos:start], base))
                segs.append(Segment(text[start:end], mark))
                pos = end
            if pos < len(text):
                segs.append(Segment(text[pos:], base))
        return segs

    def _build_window(self) -> list[Strip]:
        width = self.scrollable_content_region.width
        height = self.scrollable_content_region.height
        scroll_x, scroll_y = self.scroll_offset
        key = (scroll_x, scroll_y, width, height, self.wrap, len(self._view), self._seq)
        if key == self._window_key:
            return self._window
        base = self.rich_style
        view = self._view
        strips: list[Strip] = []
        if not self.wrap:
            for index in range(scroll_y, min(scroll_y + height, len(view))):
                strip = Strip(self._segments(view[index], base))
                strips.append(strip.crop_extend(scroll_x, scroll_x + width, base))
        else:
            if self.follow:
                # Walk back from the end until the rows fill the window.
                rows: list[Strip] = []
                index = len(view) - 1
                while index >= 0 and len(rows) < height:
                    rows[:0] = self._wrapped(view[index], width, base)
                    index -= 1
                strips = rows[-height:] if height else []
            else:
                index = scroll_y
                while index < len(view) and len(strips) < height:
                    strips.extend(self._wrapped(view[index], width, base))
                    index += 1
                strips = strips[:height]
        blank = Strip.blank(width, base)
        strips.extend(blank for _ in range(height - len(strips)))
        self._window_key = key
        self._window = strips
        return strips

    def _wrapped(self, record: Record, width: int, base: Style) -> list[Strip]:
        strip = Strip(self._segments(record, base))
        total = strip.cell_length
        if width <= 0:
            return [strip]
        if total <= width:
            return [strip.extend_cell_length(width, base)]
        cuts = list(range(width, total, width))
        return [s.extend_cell_length(width, base) for s in strip.divide(cuts)]

    def render_line(self, y: int) -> Strip:
        window = self._build_window()
        if 0 <= y < len(window):
            return window[y]
        return Strip.blank(self.scrollable_content_region.width, self.rich_style)


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def as_items(lines: Iterable[object]) -> list[tuple[float | None, str, str]]:
    """LogLine events (or anything with .ts .source .line) to the tuples the widget keeps."""
    return [(getattr(x, "ts", None), getattr(x, "source", ""), getattr(x, "line", ""))
            for x in lines]


__all__ = ["LinePump", "LogView", "Record", "as_items", "cell_len"]
