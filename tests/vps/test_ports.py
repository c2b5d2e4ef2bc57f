"""The host's port registry (providers/vps/ports.py): who owns which host ports and names, the
free ports init picks, and the container proof the gate relies on. Unit tests, then the
registry's locked read-modify-write on the lab host."""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace

import pytest
from cockpit.providers.vps import ports
from cockpit.providers.vps.host import Container, Proof

NOW = 1_800_000_000.0


def _reg(*claims: dict) -> dict:
    return {"version": 1, "claims": {f"{c['app']}/{c['env']}": c for c in claims}}


def _claim(app, env, port, names=(), status="set up", at=NOW):  # noqa: ANN001
    return ports.claim_record(app, env, [port, port + 1, port + 2],
                              list(names) or [f"{app}-{env}"], status, "ann@laptop", at)


def test_a_port_of_another_app_is_a_conflict_naming_its_owner():
    reg = _reg(_claim("shop", "staging", 8101))
    said = ports.conflicts(reg, None, "blog", "staging", [8101, 8102, 8103], ["blog-staging"],
                           NOW)
    assert said == ["host ports 8101, 8102, 8103 belong to app 'shop' environment 'staging' "
                    "(set up by ann@laptop)"]
    # overlapping by one slot is a conflict too
    said = ports.conflicts(reg, None, "blog", "staging", [8103, 8104, 8105], [], NOW)
    assert said and "8103" in said[0] and "'shop'" in said[0]


def test_own_claim_and_other_ports_are_no_conflict():
    reg = _reg(_claim("shop", "staging", 8101), _claim("blog", "staging", 8111))
    assert ports.conflicts(reg, None, "blog", "staging", [8111, 8112, 8113],
                           ["blog-staging"], NOW) == []


def test_names_conflict_case_insensitively():
    reg = _reg(_claim("shop", "prod", 8201, names=["shop-prod", "shop.example"]))
    said = ports.conflicts(reg, None, "shop2", "prod", [8301, 8302, 8303],
                           ["shop-prod", "SHOP.example"], NOW)
    assert said == ["names shop-prod, shop.example belong to app 'shop' environment 'prod' "
                    "(set up by ann@laptop)"]


def test_a_stale_reservation_no_longer_owns_anything():
    old = _claim("gone", "staging", 8101, status="reserved",
                 at=NOW - ports.RESERVATION_TTL - 1)
    assert ports.conflicts(_reg(old), None, "new", "staging", [8101], [], NOW) == []
    fresh = _claim("soon", "staging", 8101, status="reserved", at=NOW - 60)
    said = ports.conflicts(_reg(fresh), None, "new", "staging", [8101], [], NOW)
    assert said and "reserved by cockpit init" in said[0]


def test_an_environment_removed_from_the_host_frees_its_ports():
    reg = _reg(_claim("shop", "staging", 8101, at=NOW - 3600))
    facts = ports.parse_facts("APP blog/prod\n")
    assert facts.apps == {"blog/prod"}
    assert ports.conflicts(reg, facts, "new", "staging", [8101], [], NOW) == []
    assert ports.conflicts(reg, ports.parse_facts("APP shop/staging\n"), "new", "staging",
                           [8101], [], NOW)
    # a claim setup just made counts before its directory exists
    fresh = _reg(_claim("shop", "staging", 8101, at=NOW - 5))
    assert ports.conflicts(fresh, facts, "new", "staging", [8101], [], NOW)


def test_a_switch_config_from_before_the_registry_owns_its_ports():
    facts = ports.parse_facts(
        "CFG legacy-prod # managed by cockpit: environment legacy-prod frontend legacy-prod "
        "    bind 127.0.0.1:8201     default_backend legacy-prod  backend legacy-prod "
        "    server blue 127.0.0.1:8202 weight 100     server green 127.0.0.1:8203 weight 0\n")
    assert facts.switch == {"legacy-prod": {8201, 8202, 8203}}
    said = ports.conflicts(_reg(), facts, "new", "prod", [8201, 8202, 8203], [], NOW)
    assert said and "'legacy-prod'" in said[0] and "switch/envs/legacy-prod.cfg" in said[0]
    # its own switch config is not a conflict
    assert ports.conflicts(_reg(), facts, "legacy", "prod", [8201, 8202, 8203], [], NOW) == []


def test_listening_ports_are_read_from_proc_net_tcp():
    text = ("  sl  local_address rem_address   st\n"
            "   0: 0100007F:1FA5 00000000:0000 0A 00000000:00000000\n"  # 8101 listening
            "   1: 0100007F:1FA6 0100007F:D2B0 01 00000000:00000000\n")  # 8102 established
    assert ports.parse_facts(text).listening == {8101}


def test_pick_free_skips_owned_and_listening_ports_ten_apart():
    assert ports.pick_free(set(), {"staging": 8101, "prod": 8201}) == \
        {"staging": 8101, "prod": 8201}
    chosen = ports.pick_free({8103, 8201}, {"staging": 8101, "prod": 8201})
    assert chosen == {"staging": 8111, "prod": 8211}
    # an app's own claim is kept, and others never take its ports
    assert ports.pick_free(set(), {"staging": 8101, "prod": 8201},
                           keep={"prod": 8101}) == {"staging": 8111, "prod": 8101}


def test_taken_ports_leave_out_the_apps_own():
    reg = _reg(_claim("shop", "staging", 8101), _claim("blog", "staging", 8111))
    facts = ports.Facts(listening={9000}, switch={"blog-prod": {8211}, "x-prod": {8301}})
    assert ports.taken_ports(reg, facts, "blog", NOW) == {8101, 8102, 8103, 9000, 8301}


def test_wanted_names_the_container_key_and_domain():
    s = SimpleNamespace(host_port=8101, container_name=None)
    assert ports.wanted("shop", "staging", s, "Staging.Shop.example") == \
        ([8101, 8102, 8103], ["shop-staging", "staging.shop.example"])
    s = SimpleNamespace(host_port=8101, container_name="web")
    assert ports.wanted("shop", "staging", s, None)[1] == ["web", "shop-staging"]


def test_a_registry_that_is_not_json_is_refused_not_overwritten():
    from cockpit.errors import ProviderError

    with pytest.raises(ProviderError, match="not JSON"):
        ports.parse_registry("{oops", "host:~/.cockpit/ports.json")
    assert ports.parse_registry("") == {"version": 1, "claims": {}}


def test_proof_says_when_the_container_is_not_the_one_that_started():
    started = Proof("a-1", True, False, 0, "2026-01-01T00:00:00.1Z", None, "172.17.0.5")
    assert Proof("a-1", True, False, 0, started.started_at, None, None).differs(started) == ""
    assert "restarting" in Proof("a-1", False, True, 2, "x", 1, None).differs(started)
    assert "not running (exit code 1)" in Proof("a-1", False, False, 0, "x", 1, None) \
        .differs(started)
    assert "restarted since it was started" in \
        Proof("a-1", True, False, 1, "2026-01-01T00:00:03Z", None, None).differs(started)


def test_a_serving_container_that_restarts_or_exited_is_unhealthy():
    def c(state: str, restarts: int = 0, started: float | None = NOW - 10) -> Container:
        return Container(id="x" * 12, name="shop-staging-1", state=state, labels={},
                         restarts=restarts, health="healthy" if state == "running" else
                         "unknown", started_at=started)

    assert c("running").judged_health(True, NOW) == "healthy"
    assert c("restarting", 3).judged_health(True, NOW) == "unhealthy"
    assert c("exited").judged_health(True, NOW) == "unhealthy"
    assert c("running", 2).judged_health(True, NOW) == "unhealthy"  # crash loop, up again
    assert c("running", 2, NOW - 3600).judged_health(True, NOW) == "healthy"  # long ago
    assert c("exited").judged_health(False, NOW) == "unknown"  # a kept, stopped release


def test_init_keeps_the_default_ports_when_it_cannot_reach_the_host(tmp_path, tmp_state):
    import json
    import subprocess
    import sys

    (tmp_path / "app.py").write_text("print('hi')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COCKPIT_LAB_")}
    done = subprocess.run([sys.executable, "-m", "cockpit", "init", "--name", "shop", "--host",
                           "203.0.113.10", "--json"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    assert lines[-1]["data"]["host_ports"] == {}
    assert any("the defaults" in x.get("text", "") and "cockpit setup" in x.get("text", "")
               for x in lines)
    text = (tmp_path / "cockpit.toml").read_text()
    assert "host_port = 8101" in text and "host_port = 8201" in text


# --------------------------------------------------------------------------- on the lab host


@pytest.fixture
def transport(lab, tmp_path):  # noqa: ANN001
    from cockpit.providers.vps.ssh import SshTransport

    t = SshTransport(host=lab.ssh_host, port=lab.ssh_port, user=lab.ssh_user,
                     identity_file=lab.ssh_key, known_hosts=tmp_path / "known_hosts",
                     trusted=[lab.ssh_hostkey_sha256], user_known_hosts=tmp_path / "ukh")
    yield t
    t.close()


@pytest.fixture
def root(transport):  # noqa: ANN001
    """A scratch cockpit directory on the lab host (the real ~/.cockpit is shared)."""
    home = transport.run(["sh", "-c", 'printf %s "$HOME"'], step="t").stdout
    path = f"{home}/.cockpit-ports-test-{os.getpid()}"
    yield path
    transport.run(["rm", "-rf", "--", path], step="t")


def test_concurrent_inits_reserve_different_ports_in_a_0600_file(lab, transport, root):
    chosen: dict[str, dict[str, int]] = {}
    errors: list[BaseException] = []

    def init(app: str) -> None:
        try:
            chosen[app] = ports.reserve_free(transport, root, app,
                                             {"staging": 8101, "prod": 8201}, "t@t")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=init, args=(f"app{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    taken = [p + d for c in chosen.values() for p in c.values() for d in (0, 1, 2)]
    assert len(taken) == len(set(taken)) == 4 * 2 * 3  # no port given twice
    # a second init of the same app keeps its ports
    assert ports.reserve_free(transport, root, "app0", {"staging": 8101, "prod": 8201},
                              "t@t") == chosen["app0"]
    listing = transport.run(["sh", "-c", 'stat -c "%a %n" "$1" "$1"/*', "sh", root],
                            step="t").stdout.split("\n")
    modes = dict(reversed(line.split(" ", 1)) for line in listing if line)
    assert modes[root] == "700"
    assert modes[f"{root}/ports.json"] == "600"
    assert modes[f"{root}/ports.json.lock"] == "600"


def test_an_exception_while_deciding_leaves_the_registry_as_it_was(lab, transport, root):
    ports.reserve_free(transport, root, "keep", {"staging": 8101}, "t@t")
    before = transport.run(["cat", f"{root}/ports.json"], step="t").stdout

    def boom(registry, facts):  # noqa: ANN001
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        ports.transact(transport, root, boom)
    assert transport.run(["cat", f"{root}/ports.json"], step="t").stdout == before


def test_claimed_gives_an_app_its_own_claims_in_force_back():
    reg = _reg(_claim("shop", "staging", 9319), _claim("shop", "prod", 9322, status="reserved"),
               _claim("blog", "staging", 9111),
               _claim("shop", "old", 9500, at=NOW - 2 * ports.FRESH_CLAIM))
    facts = ports.Facts(apps={"shop/staging", "blog/staging"})
    assert ports.claimed(reg, "shop", facts, NOW) == {"staging": 9319, "prod": 9322}
    assert ports.claimed(reg, "blog", facts, NOW) == {"staging": 9111}
    assert ports.claimed(reg, "none", facts, NOW) == {}
