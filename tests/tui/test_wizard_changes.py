"""The wizard's scan step on a real-world-shaped app (the corpus's Flask tutorial app, else
tests/scan/apps/flask-debug): each safe fix is shown as a diff to accept (a) or skip (s), then
the missing Dockerfile and .dockerignore are shown before they are written, and only then
does Next go on."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest
from helpers import settle

pytestmark = pytest.mark.anyio


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


async def test_fixes_and_generated_files_are_shown_then_written_on_accept(corpus_app):
    from cockpit.screens.wizard.changes import ChangeReview
    from textual.widgets import Input

    from tests.tui_snapshots import wizard

    app = wizard(corpus_app)
    before = tree(corpus_app)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        queue = screen.changes
        review = screen.query_one("#changes", ChangeReview)
        assert queue.stage == "fixes" and queue.items, "the app has fixable findings"
        assert app.focused is review

        await pilot.press("ctrl+n")  # refused: changes wait for a decision
        await pilot.pause()
        assert screen.page == 0
        assert tree(corpus_app) == before  # nothing written while only shown

        shown = str(screen.query_one("#change-text").render())
        first = queue.current
        assert first.path in str(screen.query_one("#change-title").render())
        assert shown.strip() and "+" in first.diff

        fixes = len(queue.items)
        await pilot.press(*["a"] * fixes)  # accept every fix
        await pilot.pause()
        for rel in {p.path for p in queue.items if p.kind == "fix"} | set(queue.written):
            if rel.endswith(".py"):
                ast.parse((corpus_app / rel).read_text(), rel)  # fixes never break code

        assert queue.stage == "generate"
        paths = [p.path for p in queue.items]
        assert "Dockerfile" in paths
        assert not (corpus_app / "Dockerfile").exists()  # shown before it is written
        while queue.current is not None:
            key = "s" if queue.current.path == ".dockerignore" else "a"
            await pilot.press(key)
            await pilot.pause()
        await settle(pilot)

        assert queue.done
        dockerfile = (corpus_app / "Dockerfile").read_text()
        assert "ARG BASE_IMAGE=" in dockerfile and "USER 10001:10001" in dockerfile
        assert not (corpus_app / ".dockerignore").exists() or ".dockerignore" not in paths
        assert "Dockerfile" in queue.written
        assert "Dockerfile: yes" in str(screen.query_one("#scan-summary").render())
        health = screen.query_one("#health", Input).value
        assert health == screen.summary.health_path or not screen.summary.health_path

        await pilot.press("ctrl+n")  # now Next goes on
        await pilot.pause()
        assert screen.page == 1


async def test_skipping_everything_writes_nothing(corpus_app):
    from tests.tui_snapshots import wizard

    app = wizard(corpus_app)
    before = tree(corpus_app)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        queue = app.screen.changes
        while not queue.done:
            await pilot.click("#change-skip")  # the mouse does what `s` does
            await pilot.pause()
        await settle(pilot)
        assert queue.written == []
        assert tree(corpus_app) == before
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.screen.page == 1

