"""`cockpit exec ENV [-i] -- CMD...`: run a one-off command beside the environment's app
(Kamal's `kamal app exec`, flyctl's `fly ssh console -C`).

On a VPS the command runs in a one-off container of the image the environment serves now, with
that release's env file (plain configuration, secrets, the accessories' URLs), the environment's
volumes and network and the accessories' network: what the release command gets. The container
is removed when the command ends; its exit status is cockpit's. `-i/--interactive` forwards
stdin, with a terminal (the system `ssh -t`) when stdin is one: a shell, a REPL. Otherwise
every output line is shown with the environment's secret values masked (`--json`: one `log`
event per line, then a result with the exit status). A protected environment needs
`--confirm ENV`; a read-only session is refused. Each run goes to the audit log: the command
line (values masked), never its output.

On Kubernetes and Fly the provider runs it (`Provider.one_off`): a one-off Job of the serving
ReplicaSet's pod template (its image, env, the release's Secret with the accessories' URLs),
deleted afterwards (`providers/kubernetes/oneoff.py`), or a one-off machine of a serving
machine's config with the command as `init.cmd`, auto-destroyed (`providers/fly/oneoff.py`).
Output lines are shown as they come, masked the same way; the exit status is the container's.
Neither gives a terminal or stdin: `-i` is refused (exit 2) before anything else, --confirm
included, naming `kubectl exec -it` or `fly ssh console`. No serving release: exit 2 on every
provider.

The audit entry is written however the run ends: `exit N`, or `failed: <what>` (the error,
masked; `failed: interrupted` on Ctrl-C) when cockpit could not see the command to its end;
a refusal before anything ran (UsageError: `-i`, nothing serves) is not a run and leaves
none."""

from __future__ import annotations

import argparse
import shlex
import sys

from cockpit.cli._common import common, load_context, renderer


def after_dashes(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make subparser `p` keep everything after the first `--` as `args.command` (a list,
    empty without `--`), options before it parsed as usual wherever they stand: argparse
    alone cannot take options between the positionals and `--` (Python 3.11)."""
    original = p.parse_known_args

    def parse_known_args(args=None, namespace=None):  # noqa: ANN001, ANN202
        args = list(args or [])
        command: list[str] = []
        if "--" in args:
            at = args.index("--")
            args, command = args[:at], args[at + 1:]
        ns, extras = original(args, namespace)
        ns.command = command
        return ns, extras

    p.parse_known_args = parse_known_args  # type: ignore[method-assign]
    return p


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("exec", parents=[common(confirm=True, trust=True)],
                       usage="cockpit exec ENV [-i] [--confirm ENV] [--json] -- CMD [ARGS...]",
                       help="run a one-off command in a container of the serving release "
                            "(cockpit exec ENV -- CMD...)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, description=(
                           "Run a one-off command beside the app: the serving release's image "
                           "with its config, secrets and\naccessories. Output is shown with the "
                           "secrets' exact values masked; a protected environment needs\n"
                           "--confirm ENV; each run is audited (the command, never its output).\n"
                           "Example: cockpit exec staging -- python manage.py showmigrations"))
    p.add_argument("env", help="the environment, e.g. staging")
    p.add_argument("-i", "--interactive", action="store_true",
                   help="forward stdin (with a terminal when stdin is one)")
    p.set_defaults(func=run)
    after_dashes(p)


def command_of(args: argparse.Namespace) -> list[str]:
    """The command after `--`; UsageError when there is none."""
    from cockpit.errors import UsageError

    argv = list(getattr(args, "command", None) or [])
    if not argv:
        raise UsageError("no command given",
                         hint=f"cockpit exec {args.env} -- CMD [ARGS...]")
    return argv


def interactive_tty(args: argparse.Namespace) -> bool:
    """-i with stdin and stdout on a terminal (and no --json): the run gets a terminal."""
    return bool(args.interactive) and sys.stdin.isatty() and sys.stdout.isatty() \
        and not getattr(args, "json", False)


def stream(host, env, argv: list[str], args: argparse.Namespace, out, source: str) -> int:
    """Run argv on the host: through `ssh -t` with a terminal, else piped with every line
    masked (JSON: a `log` event per line). Returns the exit status."""
    from cockpit.events import LogLine
    from cockpit.output import inert
    from cockpit.redaction import redact

    if interactive_tty(args):
        import subprocess

        from cockpit.providers.vps import teardown

        return subprocess.call(teardown.ssh_argv(env, argv))
    json_mode = getattr(args, "json", False)

    def write(line: str, err: bool = False) -> None:
        line = redact(line.rstrip("\r"))
        if json_mode:
            out.emit(LogLine(source=f"{source}:stderr" if err else source, line=line,
                             env=env.name))
            return
        stream_ = sys.stderr if err else sys.stdout
        stream_.write(inert(line, limit=None) + "\n")
        stream_.flush()

    from cockpit.providers.vps import teardown

    return teardown.run_piped(host, argv, stdin_data=bool(args.interactive),
                              write_out=write, write_err=lambda line: write(line, True))


def run(args: argparse.Namespace) -> int:
    """Parse, run, and render an error in the mode asked for (options may follow ENV)."""
    from cockpit.errors import CockpitError

    try:
        return _run(args)
    except CockpitError as exc:
        if getattr(args, "debug", False):
            raise
        renderer(args).error(exc)
        return exc.exit_code


def _run(args: argparse.Namespace) -> int:
    import secrets as _random

    from cockpit import pipeline
    from cockpit.providers.vps import commands as cmd
    from cockpit.providers.vps import teardown

    out = renderer(args)
    argv = command_of(args)
    ctx = load_context(args)
    env = ctx.config.env(args.env)
    if env.provider != "vps":
        return _run_one_off(args, ctx, env, argv, out)
    line = teardown.shown(argv)
    pipeline.confirm(ctx, env, "exec", f"run `{line}` with {env.name}'s secrets")
    provider = pipeline.provider_for(ctx, env)
    ctx.secrets.register(env)  # every value the output could carry is masked
    _register_accessories(ctx, env)
    host = provider.host(env)
    release, container = teardown.serving(provider, env)
    from cockpit.providers.vps.flow import _volumes_of, volume_mounts

    volumes = _volumes_of(container) or volume_mounts(env)
    name = f"{host.base_name}-exec-{_random.token_hex(3)}"
    tty = interactive_tty(args)
    remote = teardown.exec_release_argv(env, host, release, argv, interactive=bool(
        args.interactive), tty=tty, name=name, volumes=volumes)
    result = "failed: interrupted"
    try:
        rc = stream(host, env, remote, args, out, "exec")
        result = f"exit {rc}"
    except BaseException as exc:
        result = failure(exc)
        raise
    finally:
        try:
            host.run(cmd.quiet(cmd.docker_rm(name)), step="exec", check=False)
        finally:
            ctx.store.audit("exec", env.name, result, f"release {release.id}: {line}")
    out.result({"env": env.name, "release": release.id, "command": argv, "exit_code": rc},
               human=None)  # the command's own output is what a person reads
    return rc


def _run_one_off(args: argparse.Namespace, ctx, env, argv: list[str], out) -> int:
    """Any provider but the VPS: `Provider.one_off` (Kubernetes: a Job; Fly: a machine), each
    output line masked and shown as it comes (JSON: a `log` event), after the same
    confirmation, read-only refusal and audit as on a VPS. Returns the command's exit status;
    raises UsageError (`-i` where the target gives no terminal, nothing serves, a provider
    without one-off commands), ProviderError."""
    from cockpit import pipeline
    from cockpit.errors import UsageError
    from cockpit.events import LogLine
    from cockpit.output import inert
    from cockpit.redaction import redact

    line = shlex.join(argv)
    if args.interactive and env.provider in ("kubernetes", "fly"):  # before --confirm is asked
        import importlib

        importlib.import_module(f"cockpit.providers.{env.provider}.oneoff").refuse_interactive(
            env, argv)
    pipeline.confirm(ctx, env, "exec", f"run `{line}` with {env.name}'s secrets")
    provider = pipeline.provider_for(ctx, env)
    ctx.secrets.register(env)  # every value the output could carry is masked
    _register_accessories(ctx, env)
    json_mode = getattr(args, "json", False)

    def write(text: str, err: bool = False) -> None:
        text = redact(text.rstrip("\r"))
        if json_mode:
            out.emit(LogLine(source="exec:stderr" if err else "exec", line=text,
                             env=env.name))
            return
        stream_ = sys.stderr if err else sys.stdout
        stream_.write(inert(text, limit=None) + "\n")
        stream_.flush()

    release_id: str | None = None
    result: str | None = "failed: interrupted"
    try:
        release_id, rc = provider.one_off(env, argv, write,
                                          interactive=bool(args.interactive))
        result = f"exit {rc}"
    except UsageError:
        result = None  # refused before anything ran (-i, nothing serves): not a run
        raise
    except BaseException as exc:
        result = failure(exc)
        raise
    finally:
        if result is not None:
            ctx.store.audit("exec", env.name, result,
                            f"release {release_id}: {line}" if release_id else line)
    out.result({"env": env.name, "release": release_id, "command": argv, "exit_code": rc},
               human=None)  # the command's own output is what a person reads
    return rc


def failure(exc: BaseException) -> str:
    """The audit result of a run cockpit saw end with `exc`: "failed: <what>", the secret
    values masked ("failed: interrupted" for Ctrl-C)."""
    from cockpit.errors import CockpitError
    from cockpit.redaction import redact

    if isinstance(exc, KeyboardInterrupt):
        what = "interrupted"
    elif isinstance(exc, CockpitError):
        what = exc.message
    else:
        what = f"{type(exc).__name__}: {exc}"
    return redact(f"failed: {what}")


def _register_accessories(ctx, env) -> None:
    """The accessories' passwords into the redactor (their URLs are in the env file)."""
    from cockpit import accessories as core
    from cockpit.errors import SecretStoreError

    for name in env.accessories:
        try:
            core.password(ctx.secrets, env, name, create=False)
        except SecretStoreError:
            pass


# --------------------------------------------------------------------------- accessories

# Inside the accessory's container, reading its own env file's variables: the password never
# is on a command line (`ps` on the host shows only these scripts) nor in any output.
PSQL = ('PGPASSWORD="$POSTGRES_PASSWORD" exec psql -h 127.0.0.1 -U "$POSTGRES_USER" '
        '-d "$POSTGRES_DB" "$@"')
REDIS_CLI = 'REDISCLI_AUTH="$REDIS_PASSWORD" exec redis-cli --no-auth-warning "$@"'
CLIENTS = {"psql": ("postgres", PSQL), "redis-cli": ("redis", REDIS_CLI)}


def _accessory(env, action: str, name: str | None) -> str:
    """The accessory `action` runs in: `name`, else the only one of the client's kind."""
    from cockpit.errors import UsageError

    if action == "exec":
        if not name:
            raise UsageError("accessories exec needs the accessory's name",
                             hint=f"cockpit accessories exec {env.name} NAME -- CMD")
        kind = None
    else:
        kind = CLIENTS[action][0]
        if name is None:
            same = sorted(n for n, a in env.accessories.items() if a.kind == kind)
            if len(same) != 1:
                raise UsageError(f"{env.name} has {len(same) or 'no'} {kind} accessories"
                                 + (f" ({', '.join(same)}): name one" if same else ""),
                                 hint=f"cockpit accessories {action} {env.name} NAME")
            name = same[0]
    if name not in env.accessories:
        raise UsageError(f"{env.name} has no accessory {name!r} (known: "
                         f"{', '.join(sorted(env.accessories)) or 'none'})")
    if kind and env.accessories[name].kind != kind:
        raise UsageError(f"accessory {name!r} of {env.name} is a "
                         f"{env.accessories[name].kind}, not a {kind}",
                         hint="psql is for a postgres accessory, redis-cli for a redis one")
    return name


def run_accessory(args: argparse.Namespace, ctx, env, out) -> int:
    """`cockpit accessories exec ENV NAME -- CMD`, `psql ENV [NAME] [-- ARGS]`,
    `redis-cli ENV [NAME] [-- ARGS]`: `docker exec` in the accessory's container (psql as the
    app's role on its database, redis-cli with the password, both read inside the container
    from its own environment). A terminal when stdin is one (psql and redis-cli) or with -i;
    else the output masked. Returns the command's exit status; audited with the command line.
    """
    from cockpit import accessories as core
    from cockpit import pipeline
    from cockpit.errors import UsageError
    from cockpit.providers.vps import accessories as vps

    action = args.action
    if not core.hosted(env):
        raise UsageError(f"cockpit accessories {action} is not yet on {env.provider}",
                         hint="kubectl exec -n NAMESPACE STATEFULSET-0 -- CMD"
                         if env.provider == "kubernetes" else "use your provider's tools")
    name = _accessory(env, action, args.name)
    extra = list(getattr(args, "command", None) or [])
    if action == "exec":
        if not extra:
            raise UsageError("no command given",
                             hint=f"cockpit accessories exec {env.name} {name} -- CMD")
        argv = extra
    else:
        if not extra and not args.interactive and not sys.stdin.isatty():
            # nothing to run and stdin not forwarded: the client would read nothing and
            # exit 0 with no output (piped SQL silently ignored)
            raise UsageError(
                f"{action} got no command and its input is not a terminal: nothing would run",
                hint=f"pass -i to send your input (cockpit accessories {action} {env.name} "
                     f"{name} -i < file), or the command after -- (cockpit accessories "
                     f"{action} {env.name} {name} -- "
                     + ("-c 'select 1'" if action == "psql" else "ping") + ")")
        argv = ["sh", "-c", CLIENTS[action][1], "sh", *extra]
    line = f"{name}: " + " ".join([action if action != "exec" else "", *extra]).strip()
    pipeline.confirm(ctx, env, f"accessories {action}",
                     f"run `{line}` in accessory {name} of {env.name}")
    if action != "exec" and sys.stdin.isatty():
        args.interactive = True
    ctx.secrets.register(env)
    _register_accessories(ctx, env)
    provider = pipeline.provider_for(ctx, env)
    host = provider.host(env)
    tty = interactive_tty(args)
    remote = ["docker", "exec", *(["-i"] if args.interactive else []),
              *(["-t"] if tty else []), vps.container(env, name), *argv]
    rc = stream(host, env, remote, args, out, name)
    ctx.store.audit(f"accessories {action}", env.name, f"exit {rc}", line)
    out.result({"env": env.name, "accessory": name, "command": extra, "exit_code": rc},
               human=None)
    return rc
