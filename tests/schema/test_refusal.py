"""Rollback knows the schema, in the core (no lab): deploys record the schema head their release
command left, and a rollback onto another head lists the migrations in between and is refused
with exit 5 unless `--accept-schema` is given; a protected environment still needs its typed
name; a release without a record is noted, never refused.

The target is the contract suite's in-memory provider (tests/contract/memory.py) with a
database: a release's release command applies the Django migrations its image carries, and its
schema probe prints them as `showmigrations --plan` does (parsed by the real parser).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from cockpit import config as config_mod
from cockpit import pipeline, plugins, schema
from cockpit.errors import ProviderError, Refused
from cockpit.events import Message
from cockpit.provider import Context, Options
from cockpit.secrets import SecretStore
from cockpit.state import Store
from tests.contract.memory import MemoryProvider

pytestmark = pytest.mark.timeout(60)

# the migrations each image's code carries (image n: "shop@sha256:<n*64>")
MIGRATIONS = {1: ["auth.0001_initial", "notes.0001_initial"],
              2: ["auth.0001_initial", "notes.0001_initial", "notes.0002_note_tags"],
              3: ["auth.0001_initial", "notes.0001_initial", "notes.0002_note_tags",
                  "notes.0003_note_pinned"]}
DATABASES: dict[str, list[str]] = {}  # target key -> applied migrations, in order
PROBE_FAILS: set[str] = set()


def image(n: int) -> str:
    return "shop@sha256:" + str(n) * 64


def _n(release) -> int:
    return int(release.digest.split(":")[1][0])


class SchemaMemory(MemoryProvider):
    """The in-memory target with a database the release command migrates."""

    name = "schemamem"

    def _db(self, env) -> list[str]:
        return DATABASES.setdefault(f"{env.settings.target}/{env.name}", [])

    def apply(self, plan, emit):
        env = self.ctx.config.env(plan.env)
        db = self._db(env)
        for m in MIGRATIONS[_n(plan.release)]:  # the release command: migrate
            if m not in db:
                db.append(m)
        return super().apply(plan, emit)

    def schema_head(self, env, release):
        if env.name in PROBE_FAILS:
            raise ProviderError("the schema probe exited with status 1: no database")
        known = MIGRATIONS[_n(release)]
        text = "\n".join(f"[{'X' if m in self._db(env) else ' '}]  {m}" for m in known)
        return schema.parse(schema.probe_for(env.release_command).tool, text)


class Events(list):
    def __call__(self, event) -> None:
        self.append(event)

    def messages(self) -> list[str]:
        return [e.text for e in self if isinstance(e, Message)]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COCKPIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("COCKPIT_SECRETS_FROM_ENV", "1")
    monkeypatch.setenv("COCKPIT_SECRETS_DIGEST_KEY", "schema-digest-key-0123456789abcdef")
    monkeypatch.setenv("COCKPIT_WATCH_SECONDS", "0")
    for env in ("staging", "prod"):
        monkeypatch.setenv(f"COCKPIT_SECRET_{env.upper()}_SECRET_KEY", f"{env}-5e1f0a9b")
    monkeypatch.setitem(plugins._targets(), "schemamem", "tests.schema.test_refusal:SchemaMemory")
    PROBE_FAILS.clear()
    text = textwrap.dedent("""\
        [app]
        name = "shop"
        port = 8000
        health_path = "/up"
        release_command = "python manage.py migrate --noinput"
        """)
    for env in ("staging", "prod"):
        text += (f'\n[environments.{env}]\nprovider = "schemamem"\n'
                 f'target = "schema-{tmp_path.name}"\nlock_ttl = 30\n')
    text += '\n[secrets]\nstaging = ["SECRET_KEY"]\nprod = ["SECRET_KEY"]\n'
    (tmp_path / "cockpit.toml").write_text(text)
    monkeypatch.chdir(tmp_path)
    contexts = []

    def ctx(**options) -> Context:
        cfg = config_mod.load(tmp_path / "cockpit.toml")
        if not contexts:
            contexts.append(Store.open("shop", root=tmp_path / "state"))
        return Context(config=cfg, store=contexts[0], secrets=SecretStore("shop"),
                       options=Options(yes=True, **options))

    yield ctx
    if contexts:
        contexts[0].close()


def _serving(ctx, env: str) -> str | None:
    current = pipeline.live(ctx, env).current
    return current.id if current else None


def _deploy(ctx, env: str, n: int):
    return pipeline.deploy(ctx, env, Events(), image=image(n))


def test_each_deploy_records_the_schema_head_its_release_command_left(site):
    ctx = site()
    r1, r2 = _deploy(ctx, "staging", 1), _deploy(ctx, "staging", 2)
    s1 = ctx.store.get_release("staging", r1.id).meta["schema"]
    s2 = ctx.store.get_release("staging", r2.id).meta["schema"]
    assert s1["tool"] == "django" and s1["head"] == {"auth": "0001_initial",
                                                     "notes": "0001_initial"}
    assert s2["head"]["notes"] == "0002_note_tags"
    assert "SECRET" not in json.dumps(s2) and "5e1f0a9b" not in json.dumps(s2)


def test_rollback_onto_another_schema_is_refused_with_the_migrations_in_between(site):
    ctx = site()
    r1 = _deploy(ctx, "staging", 1)
    r2 = _deploy(ctx, "staging", 3)
    events = Events()
    with pytest.raises(Refused) as refused:
        pipeline.rollback(site(), "staging", events, to=r1.id)
    exc = refused.value
    assert exc.exit_code == 5 and "--accept-schema" in (exc.hint or "")
    assert "notes.0002_note_tags" in exc.what and "notes.0003_note_pinned" in exc.what
    notes = " ".join(events.messages())
    assert "2 migration(s) applied since release" in notes and "notes.0003_note_pinned" in notes
    assert _serving(ctx, "staging") == r2.id  # nothing changed
    # the dry run shows the same plan and refuses nothing
    dry = Events()
    assert pipeline.rollback(site(), "staging", dry, to=r1.id, dry_run=True).id == r1.id
    assert any("notes.0002_note_tags" in m for m in dry.messages())


def test_accept_schema_rolls_back_and_both_records_are_kept(site):
    ctx = site()
    r1, r2 = _deploy(ctx, "staging", 1), _deploy(ctx, "staging", 2)
    done = pipeline.rollback(site(accept_schema=True), "staging", Events(), to=r1.id)
    assert done.id == r1.id and _serving(ctx, "staging") == r1.id
    assert ctx.store.get_release("staging", r1.id).meta["schema"]["head"]["notes"] == \
        "0001_initial"
    assert ctx.store.get_release("staging", r2.id).meta["schema"]["head"]["notes"] == \
        "0002_note_tags"
    # release 1 now serves on the database release 2 left (a rollback undoes no migration)
    assert ctx.store.get_release("staging", r1.id).meta["schema_db"]["head"]["notes"] == \
        "0002_note_tags"
    # so going back to release 2 is onto its own schema: not refused
    events = Events()
    assert pipeline.rollback(site(), "staging", events, to=r2.id).id == r2.id
    assert any(m.startswith("schema: unchanged") for m in events.messages())
    assert "schema_db" not in ctx.store.get_release("staging", r2.id).meta


def test_after_an_accepted_rollback_the_database_head_is_what_later_rollbacks_compare(site):
    ctx = site()
    r1, r2, r3 = (_deploy(ctx, "staging", n) for n in (1, 2, 3))
    pipeline.rollback(site(accept_schema=True), "staging", Events(), to=r1.id)
    # serving release 1 on 0003's schema: release 2 does not know 0003
    with pytest.raises(Refused) as refused:
        pipeline.rollback(site(), "staging", Events(), to=r2.id)
    assert "notes.0003_note_pinned" in refused.value.what
    assert "notes.0002_note_tags" not in refused.value.what
    assert pipeline.rollback(site(), "staging", Events(), to=r3.id).id == r3.id


def test_a_protected_environment_still_needs_its_typed_name(site):
    ctx = site(confirm="prod")
    r1 = _deploy(ctx, "prod", 1)
    _deploy(ctx, "prod", 2)
    with pytest.raises(Refused, match="confirmation"):
        pipeline.rollback(site(accept_schema=True), "prod", Events(), to=r1.id)
    with pytest.raises(Refused, match="schema"):
        pipeline.rollback(site(confirm="prod"), "prod", Events(), to=r1.id)
    done = pipeline.rollback(site(confirm="prod", accept_schema=True), "prod", Events(),
                             to=r1.id)
    assert done.id == r1.id


def test_same_head_rolls_back_without_asking(site):
    ctx = site()
    r1 = _deploy(ctx, "staging", 2)
    _deploy(ctx, "staging", 2)
    events = Events()
    assert pipeline.rollback(site(), "staging", events, to=r1.id).id == r1.id
    assert any(m.startswith("schema: unchanged") for m in events.messages())


def test_a_release_without_a_record_is_noted_and_not_refused(site):
    ctx = site()
    PROBE_FAILS.add("staging")
    events = Events()
    r1 = pipeline.deploy(ctx, "staging", events, image=image(1))
    assert any("was not recorded" in m and "no database" in m for m in events.messages())
    assert "schema" not in ctx.store.get_release("staging", r1.id).meta
    PROBE_FAILS.clear()
    _deploy(ctx, "staging", 2)
    events = Events()
    assert pipeline.rollback(site(), "staging", events, to=r1.id).id == r1.id
    assert any(f"release {r1.id} has no recorded schema head" in m for m in events.messages())


def test_the_cli_exits_5_without_accept_schema_and_rolls_back_with_it(site, capsys):
    from cockpit.cli import main

    ctx = site()
    r1 = _deploy(ctx, "staging", 1)
    r2 = _deploy(ctx, "staging", 2)
    ctx.store.close()
    assert main(["rollback", "staging", "--to", r1.id, "--json"]) == 5
    out = capsys.readouterr().out
    error = json.loads(out.splitlines()[-1])
    assert "notes.0002_note_tags" in json.dumps(error) and "--accept-schema" in json.dumps(error)
    assert main(["rollback", "staging", "--to", r1.id, "--accept-schema", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["data"]["release"]["id"] == r1.id
    assert result["data"]["release"]["meta"]["schema"]["head"]["notes"] == "0001_initial"
    assert r2.id != r1.id


def test_compare_names_the_migrations_from_the_two_heads():
    a = {"tool": "alembic", "head": "b2", "applied": ["a1", "b2"], "labels": {"b2": "add tags"}}
    b = {"tool": "alembic", "head": "a1", "applied": ["a1"]}
    check = schema.compare(a, b)
    assert check.refuse and check.newer == ["b2 (add tags)"] and check.older == []
    # heads only (no applied list): per app, target → serving
    c = schema.compare({"tool": "django", "head": {"notes": "0003_x", "auth": "0001_initial"}},
                       {"tool": "django", "head": {"notes": "0001_initial",
                                                   "auth": "0001_initial"}})
    assert c.refuse and c.newer == ["notes: 0001_initial → 0003_x"]
    assert schema.compare({"tool": "prisma", "head": "x", "applied": ["x"]},
                          {"tool": "alembic", "head": "y"}).refuse
    assert schema.compare(None, b).state == "unknown"
    assert schema.compare(a, None).state == "unknown" and not schema.compare(a, None).refuse
    assert schema.compare(a, dict(a)).state == "same"


def test_an_app_without_migrations_gets_no_schema_note(site, tmp_path):
    path = tmp_path / "cockpit.toml"
    path.write_text(path.read_text().replace(
        'release_command = "python manage.py migrate --noinput"\n', ""))
    ctx = site()
    r1 = _deploy(ctx, "staging", 1)
    _deploy(ctx, "staging", 2)
    assert "schema" not in ctx.store.get_release("staging", r1.id).meta
    events = Events()
    assert pipeline.rollback(site(), "staging", events, to=r1.id).id == r1.id
    assert not any(m.startswith("schema") for m in events.messages())


# --------------------------------------------------------------------------- promote


def test_a_promote_plan_lists_the_migrations_the_release_command_will_apply(site):
    ctx = site(confirm="prod")
    _deploy(ctx, "prod", 1)
    _deploy(ctx, "staging", 3)
    events = Events()
    pipeline.promote(site(confirm="prod"), "staging", "prod", events, dry_run=True)
    notes = " ".join(events.messages())
    assert ("the release command will apply 2 migration(s) on prod: notes.0002_note_tags, "
            "notes.0003_note_pinned") in notes
    done = pipeline.promote(site(confirm="prod"), "staging", "prod", Events())
    assert _serving(ctx, "prod") == done.id
    assert ctx.store.get_release("prod", done.id).meta["schema"]["head"]["notes"] == \
        "0003_note_pinned"
    # promoted again: nothing left to apply
    _deploy(ctx, "staging", 3)
    events = Events()
    pipeline.promote(site(confirm="prod"), "staging", "prod", events, dry_run=True)
    assert any("applies no migration" in m for m in events.messages())


def test_a_promote_onto_a_database_ahead_of_the_release_is_refused_until_accepted(site):
    ctx = site(confirm="prod")
    on_prod = _deploy(ctx, "prod", 3)  # e.g. a fix deployed to prod only
    _deploy(ctx, "staging", 2)
    with pytest.raises(Refused) as refused:
        pipeline.promote(site(confirm="prod"), "staging", "prod", Events())
    assert refused.value.exit_code == 5 and "--accept-schema" in (refused.value.hint or "")
    assert "notes.0003_note_pinned" in refused.value.what
    assert _serving(ctx, "prod") == on_prod.id  # nothing changed
    done = pipeline.promote(site(confirm="prod", accept_schema=True), "staging", "prod",
                            Events())
    assert _serving(ctx, "prod") == done.id


def test_the_first_promote_says_what_the_release_command_brings(site):
    ctx = site(confirm="prod")
    _deploy(ctx, "staging", 2)
    events = Events()
    pipeline.promote(site(confirm="prod"), "staging", "prod", events)
    assert any("nothing serves prod yet" in m for m in events.messages())


def test_promotion_without_applied_lists_never_refuses():
    db = {"tool": "django", "head": {"notes": "0003_x"}}
    rec = {"tool": "django", "head": {"notes": "0002_y"}}

    class Serving:
        meta = {"schema": db}

    check = schema.promotion(Serving(), rec, "prod")
    assert check.state == "pending" and not check.refuse


def test_releases_show_each_release_schema_head(site, capsys):
    from cockpit.cli import main

    ctx = site()
    r1, r2 = _deploy(ctx, "staging", 1), _deploy(ctx, "staging", 3)
    ctx.store.close()
    assert main(["releases", "staging"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1] == "SCHEMA"
    row = {r.id: next(ln for ln in lines if r.id in ln) for r in (r1, r2)}
    assert row[r1.id].endswith(" notes.0001_initial")
    assert row[r2.id].startswith("▶") and row[r2.id].endswith(" notes.0003_note_pinned")
