"""An honest result when the host fails during the switch: cockpit switches back at once, and when
it cannot finish (the switch's persisted state cannot be written), the run is not reported as a
gate failure that was rolled back (exit 3) nor as plainly failed: it stays open, and the next
command's reconcile finishes it."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.vps.conftest import APP, LAB_HOME

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def unwritable_switch_state():
    """Make staging's persisted switch state unwritable for the VPS user: its file becomes a
    directory the user cannot write into (only this app's file; restored afterwards)."""
    path = LAB_HOME / ".cockpit" / "switch" / "envs" / f"{APP}-staging.cfg"
    saved = path.read_bytes()
    stat = path.stat()

    def break_it() -> None:
        path.unlink()
        path.mkdir(mode=0o755)  # owned by root: the VPS user cannot move a file into it

    def restore() -> None:
        for left in path.parent.glob(f"{path.name}.tmp.*"):  # the writes that failed
            left.unlink()
        if path.is_dir():
            shutil.rmtree(path)
        if not path.exists():
            path.write_bytes(saved)
            path.chmod(0o600)
            os.chown(path, stat.st_uid, stat.st_gid)

    yield break_it, restore
    restore()


def test_a_switch_that_cannot_be_finished_is_left_for_reconcile(project, lab,
                                                                 unwritable_switch_state):
    from cockpit import pipeline
    from cockpit.errors import EXIT_FAILED, CockpitError, GateFailed

    project.cli("setup", "staging", "--confirm", "staging", "--trust-host",
                lab.ssh_hostkey_sha256, check=True)
    good = pipeline.deploy(project.ctx(), "staging", project.collect(),
                           image=project.images["v1"])
    break_it, restore = unwritable_switch_state
    break_it()
    ctx = project.ctx()
    with pytest.raises(CockpitError) as info:
        pipeline.deploy(ctx, "staging", project.collect(), image=project.images["v2"])
    err = info.value
    assert not isinstance(err, GateFailed) and err.exit_code == EXIT_FAILED
    assert "could not finish" in err.what and "switching back failed too" in err.what
    (run,) = ctx.store.unfinished_runs("staging")
    assert any(step["step"] == "unfinished" for step in run.steps)
    # the runtime switch went back: the good release serves
    assert pipeline.live(project.ctx(), "staging").current.id == good.id

    restore()  # the host works again: the next command's reconcile finishes the run
    said = pipeline.reconcile(project.ctx(), "staging", project.collect())
    assert len(said) == 1 and pipeline.reconcile(project.ctx(), "staging", project.collect()) == []
    assert pipeline.live(project.ctx(), "staging").current.id == good.id
