"""Follow the logs of every pod of an environment, the way k9s and kubectl should.

- One reader thread per pod (`follow`, `timestamps`), new pods join as a pod watch sees them start.
- A stream that ends while its pod lives (apiserver/kubelet timeouts, load balancers, a crash and
  restart) is reopened with `sinceSeconds` (the log API has no `sinceTime`) and the overlap is
  dropped by timestamp, as elastic/cloud-on-k8s does.
- Chunks are not lines: bytes are split on `\\n` before decoding, so a UTF-8 character split
  across chunks survives (kubernetes-client/python #2426).
- Lines go into a bounded queue with a non-blocking put: a slow reader drops lines and is told how
  many, instead of the process growing without limit (k9s #1188).
- Every line passes `cockpit.redaction` before it leaves.
"""

from __future__ import annotations

import math
import queue
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from cockpit.events import LogLine
from cockpit.redaction import redact

_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z ")


def parse_since(since: str | None, now: float | None = None) -> int | None:
    """"30s", "5m", "2h", "1d", plain seconds, or an RFC 3339 time → seconds back from now.

    The pod-log API takes only sinceSeconds (no sinceTime), so a time becomes an age."""
    if since is None or since == "":
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", since)
    if not m:
        try:
            when = datetime.fromisoformat(since.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"cannot read {since!r} as a duration or time; use e.g. 30s, 5m, "
                             "2h, 1d or 2024-05-01T12:00:00Z") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(1, math.ceil((now if now is not None else time.time()) - when.timestamp()))
    factor = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    return max(1, math.ceil(float(m.group(1)) * factor))


def split_timestamp(line: str) -> tuple[tuple[int, int] | None, str]:
    """'2024-01-02T03:04:05.123456789Z text' → ((epoch seconds, nanoseconds), 'text')."""
    m = _TS.match(line)
    if not m:
        return None, line
    secs = int(datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
               .timestamp())
    nanos = int((m.group(2) or "0").ljust(9, "0"))
    return (secs, nanos), line[m.end():]


class LogFollower:
    def __init__(self, kube: Any, selector: str, env_name: str, *, follow: bool,
                 since_seconds: int | None = None, tail: int | None = None,
                 buffer: int = 10_000, read_timeout: float = 60.0, max_retries: int = 20) -> None:
        self.kube = kube
        self.selector = selector
        self.env_name = env_name
        self.follow = follow
        self.since_seconds = since_seconds
        self.tail = tail
        self.read_timeout = read_timeout
        self.max_retries = max_retries
        self.queue: queue.Queue[LogLine] = queue.Queue(maxsize=buffer)
        self.dropped = 0
        self.reconnects = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._readers: dict[str, threading.Thread] = {}
        self._responses: set[Any] = set()
        self._watch: Any = None

    # ------------------------------------------------------------------ public

    def __iter__(self) -> Iterator[LogLine]:
        try:
            self._start()
            reported = 0
            while not self.stop.is_set():
                try:
                    yield self.queue.get(timeout=0.1)
                except queue.Empty:
                    if not self.follow and self._all_done():
                        break
                if self.dropped > reported:
                    yield LogLine(source="cockpit", env=self.env_name,
                                  line=f"[{self.dropped - reported} log lines dropped: reader "
                                       "too slow]", ts=time.time())
                    reported = self.dropped
            while not self.queue.empty():  # what arrived before the end
                yield self.queue.get_nowait()
        finally:
            self.close()

    def close(self) -> None:
        self.stop.set()
        with self._lock:
            responses = list(self._responses)
        for resp in responses:
            _shutdown(resp)
        if self._watch is not None:
            self._watch.stop()

    # ------------------------------------------------------------------ internals

    def _all_done(self) -> bool:
        with self._lock:
            return all(not t.is_alive() for t in self._readers.values())

    def _start(self) -> None:
        pods = self.kube.pods(self.selector)
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            self._maybe_read(pod)
        if self.follow:
            threading.Thread(target=self._discover, name="k8s-log-watch", daemon=True).start()

    def _maybe_read(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        if not _has_started(pod):
            return
        with self._lock:
            if name in self._readers and self._readers[name].is_alive():
                return
            t = threading.Thread(target=self._read, args=(name, name in self._readers),
                                 name=f"k8s-log-{name}", daemon=True)
            self._readers[name] = t
        t.start()

    def _discover(self) -> None:
        from kubernetes import watch

        retries = 0
        while not self.stop.is_set():
            w = watch.Watch()
            self._watch = w
            try:
                for event in w.stream(self.kube.core.list_namespaced_pod, self.kube.namespace,
                                      label_selector=self.selector, timeout_seconds=300,
                                      _request_timeout=(5, 330)):
                    if self.stop.is_set():
                        break
                    retries = 0
                    obj = event["raw_object"] if "raw_object" in event else event["object"]
                    if event["type"] in ("ADDED", "MODIFIED") and isinstance(obj, dict):
                        self._maybe_read(obj)
            except Exception:  # dropped watch: reconnect with backoff
                retries += 1
                if retries > self.max_retries:
                    return
                self.stop.wait(min(5.0, 0.2 * 2 ** retries))

    def _read(self, pod: str, joined_later: bool) -> None:
        """Stream one pod; reopen with sinceSeconds and drop the overlap by timestamp."""
        last: tuple[int, int] | None = None
        seen_at_last: set[str] = set()
        attempt, first = 0, True
        while not self.stop.is_set():
            kwargs: dict[str, Any] = {"container": "app", "timestamps": True,
                                      "follow": self.follow,
                                      "_request_timeout": (5, self.read_timeout)}
            if last is not None:
                kwargs["since_seconds"] = max(1, math.ceil(time.time() - last[0]) + 1)
            elif first and self.since_seconds is not None:
                kwargs["since_seconds"] = self.since_seconds
            elif first and self.tail is not None and not joined_later:
                kwargs["tail_lines"] = self.tail
            first = False
            got_any = False
            try:
                resp = self.kube.core.read_namespaced_pod_log(
                    pod, self.kube.namespace, _preload_content=False, **kwargs)
                with self._lock:
                    self._responses.add(resp)
                try:
                    for raw in _lines(resp):
                        got_any = True
                        stamp, text = split_timestamp(raw)
                        if stamp is not None and last is not None:
                            if stamp < last or (stamp == last and raw in seen_at_last):
                                continue
                        if stamp is not None:
                            if stamp != last:
                                last, seen_at_last = stamp, set()
                            seen_at_last.add(raw)
                        self._put(pod, text, stamp)
                finally:
                    with self._lock:
                        self._responses.discard(resp)
                    _shutdown(resp)
                attempt = 0 if got_any else attempt + 1
            except Exception:  # ApiException (pod gone, container waiting), timeouts, resets
                attempt += 1
            if not self.follow or self.stop.is_set():
                return
            if attempt > self.max_retries or not self._pod_alive(pod):
                return
            if attempt:
                self.stop.wait(min(5.0, 0.1 * 2 ** min(attempt, 6)))
            self.reconnects += 1

    def _pod_alive(self, pod: str) -> bool:
        try:
            found = self.kube.get("read pod", self.kube.core.read_namespaced_pod, pod,
                                  self.kube.namespace)
        except Exception:
            return True  # unsure: keep trying within the retry budget
        return found is not None and not found["metadata"].get("deletionTimestamp")

    def _put(self, pod: str, text: str, stamp: tuple[int, int] | None) -> None:
        ts = stamp[0] + stamp[1] / 1e9 if stamp else time.time()
        line = LogLine(source=pod, line=redact(text), ts=ts, env=self.env_name)
        try:
            self.queue.put_nowait(line)
        except queue.Full:
            with self._lock:
                self.dropped += 1


def _has_started(pod: dict[str, Any]) -> bool:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        state = cs.get("state") or {}
        if "running" in state or "terminated" in state or cs.get("restartCount"):
            return True
    return False


def _lines(resp: Any) -> Iterator[str]:
    """Bytes split on newlines before decoding (a multibyte character may span chunks)."""
    pending = b""
    for chunk in resp.stream(amt=65536, decode_content=False):
        pending += chunk
        if b"\n" not in chunk:
            continue
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", "replace").rstrip("\r")
    if pending:
        yield pending.decode("utf-8", "replace").rstrip("\r")


def _shutdown(resp: Any) -> None:
    for name in ("shutdown", "close", "release_conn"):
        fn = getattr(resp, name, None)
        if fn:
            try:
                fn()
            except Exception:  # a response half-closed by the server is fine to drop
                pass
