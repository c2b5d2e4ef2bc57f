"""The pure builders: exact argv, like Kamal's commands/ tests. No host needed."""

from __future__ import annotations

import shlex
import subprocess

from cockpit.providers.vps import caddy, haproxy
from cockpit.providers.vps import commands as cmd

LAYOUT = cmd.Layout(home="/home/deploy", app="hello", env="staging")


def test_layout_keeps_everything_under_the_users_cockpit_dir():
    assert LAYOUT.switch_env_cfg == "/home/deploy/.cockpit/switch/envs/hello-staging.cfg"
    assert LAYOUT.site_file == "/home/deploy/.cockpit/edge/sites/hello-staging.caddy"
    assert LAYOUT.lock_dir == "/home/deploy/.cockpit/apps/hello/staging/lock"
    assert LAYOUT.env_file("r1/x") == "/home/deploy/.cockpit/apps/hello/staging/releases/r1-x.env"


def test_docker_run_on_the_host_network_listens_on_the_slot_port():
    labels = cmd.labels_for(app="hello", env="staging", release="r1", image="sha256:abc",
                            digest="sha256:abc", config_hash="sha256:c", secrets_digest="s",
                            slot="blue", created_at=1.5, created_by="me@here")
    argv = cmd.docker_run(name="hello-staging-r1", image="sha256:abc", env_file="/e/r1.env",
                          labels=labels, network="host", slot_port=8101, container_port=8000,
                          release="r1")
    assert argv[:14] == [
        "docker", "run", "--detach", "--name", "hello-staging-r1", "--init",
        "--restart", "unless-stopped", "--env-file", "/e/r1.env",
        "--log-opt", "max-size=10m", "--log-opt", "max-file=3",
    ]
    assert argv[14:20] == ["--network", "host", "--env", "PORT=8101",
                           "--env", "COCKPIT_RELEASE=r1"]
    assert "--label" in argv and "cockpit.slot=blue" in argv and "cockpit.release=r1" in argv
    assert "cockpit.created-at=1.500" in argv
    assert argv[-1] == "sha256:abc"


def test_docker_run_on_a_bridge_publishes_on_loopback_only():
    argv = cmd.docker_run(name="n", image="img", env_file="/e", labels={}, network="bridge",
                          slot_port=8102, container_port=8000, release="r2")
    assert argv[14:18] == ["--publish", "127.0.0.1:8102:8000", "--env", "PORT=8000"]


def test_labels_cover_what_the_release_history_needs():
    labels = cmd.labels_for(app="a", env="e", release="r", image="i", digest="d",
                            config_hash="c", secrets_digest="s", slot="green", created_at=2.0,
                            created_by="u@m", source_rev="abc123", promoted_from="staging/r0")
    assert set(labels) == {f"cockpit.{k}" for k in (
        "app", "env", "release", "image", "digest", "config-hash", "secrets-digest", "slot",
        "created-at", "created-by", "source-rev", "promoted-from")}


def test_ps_filters_by_app_and_env_labels():
    assert cmd.docker_ps_ids("hello", "prod") == [
        "docker", "ps", "--quiet", "--no-trunc", "--all",
        "--filter", "label=cockpit.app=hello", "--filter", "label=cockpit.env=prod"]


def test_logs_builder():
    assert cmd.docker_logs("c", follow=True, since="10m", tail=5) == [
        "docker", "logs", "--timestamps", "--follow", "--since", "10m", "--tail", "5", "c"]
    assert cmd.docker_stop("c", 7) == ["docker", "stop", "--time", "7", "c"]
    assert cmd.docker_rm("a", "b") == ["docker", "rm", "--force", "a", "b"]


def test_user_input_stays_one_argument_after_quoting(tmp_path):
    """A hostile-looking value survives shlex.join as one literal argument (no injection)."""
    evil = str(tmp_path / "x; touch pwned; $(id)")
    argv = cmd.write_file(evil, "600")
    subprocess.run(shlex.join(argv), shell=True, input=b"hello", check=True, cwd=tmp_path)
    assert (tmp_path / "x; touch pwned; $(id)").read_bytes() == b"hello"
    assert not (tmp_path / "pwned").exists()
    assert oct((tmp_path / "x; touch pwned; $(id)").stat().st_mode & 0o777) == "0o600"


def test_lock_scripts_take_release_and_expire(tmp_path):
    d = str(tmp_path / "lock")

    def sh(argv):
        return subprocess.run(shlex.join(argv), shell=True, capture_output=True, text=True)

    first = sh(cmd.lock_acquire(d, '{"user": "a"}', 60, "tok1"))
    assert first.returncode == 0 and first.stdout.startswith("ACQUIRED")
    second = sh(cmd.lock_acquire(d, '{"user": "b"}', 60, "tok2"))
    assert second.returncode == 3 and second.stdout.startswith('HELD {"user": "a"}')
    assert sh(cmd.lock_refresh(d, "tok2", 60)).returncode == 3  # not the holder
    assert sh(cmd.lock_refresh(d, "tok1", 60)).stdout.startswith("REFRESHED")
    assert sh(cmd.lock_release(d, "tok2")).stdout.strip() == "NOT_OURS"
    (tmp_path / "lock" / "expires").write_text("0\n")  # expired by the host's clock
    taken = sh(cmd.lock_acquire(d, '{"user": "b"}', 60, "tok2"))
    assert taken.returncode == 0
    assert taken.stdout.splitlines()[0] == 'EXPIRED {"user": "a"}'
    assert taken.stdout.splitlines()[1].startswith("TAKEN")
    assert sh(cmd.lock_status(d)).stdout.splitlines()[1] == '{"user": "b"}'
    assert sh(cmd.lock_release(d, "tok2")).stdout.strip() == "RELEASED"
    assert sh(cmd.lock_status(d)).stdout.strip() == "FREE"


def test_haproxy_env_config_names_both_slots_and_the_active_weight():
    text = haproxy.render_env(key="hello-prod", host_port=8200,
                              slot_ports={"blue": 8201, "green": 8202}, health_path="/up",
                              host_header="prod.example.com", active="green")
    assert "bind 127.0.0.1:8200" in text
    assert "hdr Host prod.example.com" in text
    assert "server blue 127.0.0.1:8201 weight 0 " in text
    assert "server green 127.0.0.1:8202 weight 100 " in text


def test_haproxy_runtime_api_is_only_a_0600_unix_socket():
    text = haproxy.render_global(sock="/h/admin.sock")
    assert "stats socket /h/admin.sock mode 600 level admin" in text
    assert "ipv4@" not in text and "127.0.0.1" not in text  # no TCP listener any process can use


def test_switch_is_one_runtime_line_new_up_then_old_drained():
    assert haproxy.switch_commands("hello-prod", "green", "blue") == (
        "set server hello-prod/green health up; set weight hello-prod/green 100; "
        "set weight hello-prod/blue 0")
    assert haproxy.switch_commands("k", "blue", None) == (
        "set server k/blue health up; set weight k/blue 100")


SERVERS_STATE = """1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight
3 hello-prod 1 blue 127.0.0.1 2 0 0 0 1 15 3 2 6 0 0 0 - 8201 - 0 0 - - 0
3 hello-prod 2 green 127.0.0.1 2 0 100 100 2 1 0 0 14 0 0 0 - 8202 - 0 0 - - 0
"""


def test_servers_state_parses_weights_and_the_active_slot():
    states = haproxy.parse_servers_state(SERVERS_STATE)
    assert states["green"].weight == 100 and states["blue"].weight == 0
    assert haproxy.active_slot(states) == "green"


def test_current_sessions_from_show_stat():
    text = ("# pxname,svname,qcur,qmax,scur,smax\nhello-prod,blue,0,0,3,4\n"
            "hello-prod,green,0,0,0,1\nother,blue,0,0,9,9\n")
    assert haproxy.parse_current_sessions(text, "hello-prod") == {"blue": 3, "green": 0}


def test_caddy_site_uses_the_environments_acme_ca():
    text = caddy.render_site(key="hello-staging", domain="staging.example.com",
                             upstream_port=8100, acme_ca="https://acme.test/dir",
                             acme_ca_root="/r.pem")
    assert text.splitlines()[1:] == [
        "staging.example.com {", "\ttls {", "\t\tca https://acme.test/dir",
        "\t\tca_root /r.pem", "\t}", "\treverse_proxy 127.0.0.1:8100", "}"]


def test_caddy_global_admin_on_a_unix_socket_and_lab_ports():
    text = caddy.render_global(admin_sock="/d/admin.sock", http_port=8080, https_port=8443,
                               storage="/d", sites_dir="/s")
    assert "admin unix//d/admin.sock" in text and "http_port 8080" in text
    assert "127.0.0.1" not in text
    assert text.rstrip().endswith("import /s/*.caddy")


def test_edge_and_switch_run_supervised_with_their_own_users():
    edge = cmd.edge_run(image="caddy:2", edge_dir="/h/.cockpit/edge",
                        data_dir="/h/.cockpit/edge/data", caddyfile="/h/.cockpit/edge/Caddyfile",
                        sock="/h/.cockpit/edge/data/admin.sock")
    switch = cmd.switch_run(image="haproxy:2.8", switch_dir="/h/.cockpit/switch",
                            cfg="/h/.cockpit/switch/haproxy.cfg",
                            envs_dir="/h/.cockpit/switch/envs", uid=1000, gid=1000)
    for argv, name in ((edge, "cockpit-edge"), (switch, "cockpit-switch")):
        assert argv[:5] == ["docker", "run", "--detach", "--name", name]
        assert argv[argv.index("--restart") + 1] == "unless-stopped"
        assert argv[argv.index("--network") + 1] == "host"
        assert cmd.spec_of(argv)
    assert edge[edge.index("--user") + 1] == f"{cmd.EDGE_UID}:{cmd.EDGE_UID}"  # not the SSH user
    assert switch[switch.index("--user") + 1] == "1000:1000"  # owns its 0600 runtime socket
    assert "type=bind,source=/h/.cockpit/edge,target=/h/.cockpit/edge" in edge  # not apps/
    assert switch[-6:] == ["-W", "-db", "-f", "/h/.cockpit/switch/haproxy.cfg", "-f",
                           "/h/.cockpit/switch/envs"]
    other = cmd.edge_run(image="caddy:2.8", edge_dir="/h/.cockpit/edge",
                         data_dir="/h/.cockpit/edge/data",
                         caddyfile="/h/.cockpit/edge/Caddyfile",
                         sock="/h/.cockpit/edge/data/admin.sock")
    assert cmd.spec_of(other) != cmd.spec_of(edge)  # a new image replaces the container


def test_reading_containers_never_fetches_their_env():
    argv = cmd.docker_inspect_env("hello", "prod")
    assert argv[-3:-1] == ["cockpit.app=hello", "cockpit.env=prod"]
    assert "Env" not in argv[-1] and ".Config.Labels" in argv[-1]


def test_stopping_an_old_daemon_spares_a_reused_pid_and_finishes_with_sigterm(tmp_path):
    """The move from `haproxy -D`/`caddy start`: only a process of that name in the host's pid
    namespace is stopped; one that ignores the soft-stop signal gets SIGTERM after 10 s."""
    import shlex
    import subprocess

    def sh(argv):
        return subprocess.run(shlex.join(argv), shell=True, capture_output=True, text=True)

    pidfile = tmp_path / "old.pid"
    other = subprocess.Popen(["sleep", "30"])  # a pid that is not a `haproxy`
    try:
        pidfile.write_text(f"{other.pid}\n")
        assert sh(cmd.daemon_alive(str(pidfile), "haproxy")).returncode == 1
        assert sh(cmd.stop_daemon(str(pidfile), "haproxy")).stdout.strip() == "stopped"
        assert other.poll() is None and not pidfile.exists()
    finally:
        other.kill()
        other.wait()
    subprocess.run(["sh", "-c", f"(trap '' USR1; exec sleep 30) >/dev/null 2>&1 & "
                    f"echo $! > {pidfile}"], check=True)
    pid = int(pidfile.read_text())
    assert sh(cmd.daemon_alive(str(pidfile), "sleep")).returncode == 0
    out = sh(cmd.stop_daemon(str(pidfile), "sleep", "USR1"))
    assert out.stdout.strip() == f"stopped {pid}" and not pidfile.exists()
