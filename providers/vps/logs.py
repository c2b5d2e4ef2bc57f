"""`cockpit logs ENV`: `docker logs` of every instance over its own SSH channel, merged,
source-prefixed, secrets redacted; with `--follow`, a dropped channel is reopened from the
last timestamp seen (bounded retries)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from datetime import datetime

from cockpit.providers.vps import commands as cmd

from cockpit.events import LogLine

_DONE = object()
RECONNECTS = 5


def _redact(text: str) -> str:
    from cockpit.redaction import redact

    return redact(text)


def _split_ts(line: str) -> tuple[float | None, str, str | None]:
    head, sep, rest = line.partition(" ")
    if sep and len(head) >= 20 and head[4] == "-" and head[10] == "T":
        try:
            base = head.rstrip("Z")
            main, _, frac = base.partition(".")
            ts = datetime.fromisoformat(main + "+00:00").timestamp() + float("0." + (frac or "0"))
            return ts, rest, head
        except ValueError:
            pass
    return None, line, None


def stream(provider, env, *, follow: bool, since: str | None = None,
           tail: int | None = None, stop: threading.Event | None = None) -> Iterator[LogLine]:
    try:  # register this environment's secret values with the redactor before any line
        provider.ctx.secrets.values(env)
    except Exception:  # a missing keyring must not hide the logs; values are then unknown
        pass
    if since:  # one grammar (cockpit.timespec); docker takes a Unix timestamp
        from cockpit.timespec import parse_since

        since = f"{parse_since(since):.3f}"
    host = provider.host(env)
    containers = host.containers()
    chosen = [c for c in containers if c.running] or containers[:1]
    if not chosen:
        return iter(())
    if tail is None and since is None and not follow:
        tail = 100
    out: queue.Queue = queue.Queue(maxsize=10000)
    caller_stop = stop
    stop = threading.Event()

    def reader(container) -> None:
        source = f"{container.release_id}/{container.slot}"
        last_ts: str | None = None
        attempts = 0
        try:
            while not stop.is_set():
                resumed_from = last_ts
                argv = cmd.docker_logs(container.name, follow=follow,
                                       since=last_ts or since, tail=None if last_ts else tail)
                try:
                    chan = host.t.open_lines(argv)
                    buf = b""
                    while not stop.is_set():
                        chunk = chan.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                        *lines, buf = buf.split(b"\n")
                        for raw in lines:
                            ts, text, stamp = _split_ts(raw.decode(errors="replace"))
                            if stamp and resumed_from and stamp <= resumed_from:
                                continue  # already shown before the reconnect
                            if stamp:
                                last_ts = stamp
                            out.put(LogLine(source=source, line=_redact(text), ts=ts,
                                            env=env.name))
                    chan.close()
                except Exception:  # link lost: reconnect below when following
                    pass
                if not follow:
                    return
                attempts += 1
                if attempts > RECONNECTS:
                    return
                time.sleep(min(5.0, 0.5 * attempts))
        finally:
            out.put(_DONE)

    threads = [threading.Thread(target=reader, args=(c,), daemon=True) for c in chosen]
    for t in threads:
        t.start()

    def gen() -> Iterator[LogLine]:
        done = 0
        try:
            while done < len(threads):
                if caller_stop is not None and caller_stop.is_set():
                    return
                try:
                    item = out.get(timeout=0.2)
                except queue.Empty:
                    continue
                if item is _DONE:
                    done += 1
                    continue
                yield item
        finally:
            stop.set()

    return gen()
