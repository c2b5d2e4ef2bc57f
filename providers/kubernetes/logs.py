"""Follow the logs of every pod of an environment, the way k9s and kubectl should.

- The backlog (`tail` lines or `since`) of every running pod is read at once and handed out
  merged in time order, so the first screen reads like one log; then one reader thread per pod
  follows from where its backlog ended, and new pods join as a pod watch sees them start.
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
    """`--since` (cockpit.timespec's grammar) as seconds back from now: the pod-log API takes
    only sinceSeconds (no sinceTime), so a time becomes an age. Raises UsageError."""
    from cockpit.timespec import since_age

    return since_age(since, now)


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
                 buffer: int = 10_000, read_timeout: float = 60.0, max_retries: int = 20,
                 cancel: threading.Event | None = None) -> None:
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
        self.cancel = cancel  # the caller's stop: ends the iteration between lines
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
                if self.cancel is not None and self.cancel.is_set():
                    return
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
        pods = [p for p in sorted(self.kube.pods(self.selector),
                                  key=lambda p: p["metadata"]["name"]) if _has_started(p)]
        resume = self._backlog([p["metadata"]["name"] for p in pods])
        if not self.follow:
            # Pods whose backlog could not be read (container waiting, a reset) get one more
            # try by a reader; the others are complete.
            pods = [p for p in pods if p["metadata"]["name"] not in resume]
        for pod in pods:
            self._maybe_read(pod, resume.get(pod["metadata"]["name"]))
        if self.follow:
            threading.Thread(target=self._discover, name="k8s-log-watch", daemon=True).start()

    def _backlog(self, pods: list[str]) -> dict[str, tuple[Any, set[str]]]:
        """Every pod's backlog read at once and queued in time order (stable per pod). Returns,
        per pod read, where its follower resumes: (last timestamp, raw lines at it)."""
        got: dict[str, list[tuple[tuple[int, int] | None, str, str]]] = {}

        def fetch(pod: str) -> None:
            kwargs: dict[str, Any] = {"container": "app", "timestamps": True, "follow": False,
                                      "_request_timeout": (5, self.read_timeout)}
            if self.since_seconds is not None:
                kwargs["since_seconds"] = self.since_seconds
            elif self.tail is not None:
                kwargs["tail_lines"] = self.tail
            try:
                resp = self.kube.core.read_namespaced_pod_log(
                    pod, self.kube.namespace, _preload_content=False, **kwargs)
                try:
                    lines = [(*split_timestamp(raw), raw) for raw in _lines(resp)]
                finally:
                    _shutdown(resp)
            except Exception:  # ApiException (container waiting), resets: its reader retries
                return
            got[pod] = [(stamp, raw, text) for stamp, text, raw in lines]

        threads = [threading.Thread(target=fetch, args=(pod,), name=f"k8s-log-tail-{pod}",
                                    daemon=True) for pod in pods]
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.read_timeout + 5)
        merged = []
        resume: dict[str, tuple[Any, set[str]]] = {}
        for order, pod in enumerate(pods):
            if pod not in got:
                continue
            last: tuple[int, int] | None = None
            seen: set[str] = set()
            for index, (stamp, raw, text) in enumerate(got[pod]):
                if stamp is not None:
                    if stamp != last:
                        last, seen = stamp, set()
                    seen.add(raw)
                # A line without a timestamp keeps its place after the previous one.
                merged.append((last or (0, 0), order, index, pod, text, stamp))
            resume[pod] = (last, seen)
        for *_, pod, text, stamp in sorted(merged, key=lambda m: m[:3]):
            self._put(pod, text, stamp)
        return resume

    def _maybe_read(self, pod: dict[str, Any], resume: tuple[Any, set[str]] | None = None
                    ) -> None:
        name = pod["metadata"]["name"]
        if not _has_started(pod):
            return
        with self._lock:
            if name in self._readers and self._readers[name].is_alive():
                return
            t = threading.Thread(target=self._read, args=(name, name in self._readers, resume),
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

    def _read(self, pod: str, joined_later: bool,
              resume: tuple[Any, set[str]] | None = None) -> None:
        """Stream one pod; reopen with sinceSeconds and drop the overlap by timestamp. With
        `resume` (its backlog was read already) the first stream starts where that ended."""
        last: tuple[int, int] | None = None
        seen_at_last: set[str] = set()
        attempt, first = 0, True
        if resume is not None:
            (last, seen_at_last), first = resume, False
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
