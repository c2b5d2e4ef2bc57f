"""One redaction filter for every renderer and log path.

Any secret value cockpit has read (from the keyring, from a prompt) is registered here; every
event, log line, error message and file cockpit writes for humans passes through `redact`, which
shows each known value as `••••`. Short values (< 4 chars) are not registered: masking them would
shred ordinary text and they are not worth the name of a secret.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from typing import Any

MASK = "••••"
MIN_LEN = 4


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        if not value or len(value) < MIN_LEN:
            return
        with self._lock:
            new = {value}
            stripped = value.strip()
            if len(stripped) >= MIN_LEN:
                new.add(stripped)
            if new <= self._values:
                return
            self._values |= new
            ordered = sorted(self._values, key=len, reverse=True)  # longest first
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def __contains__(self, text: str) -> bool:
        pattern = self._pattern
        return bool(pattern and pattern.search(text))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def redact_any(self, value: Any) -> Any:
        """Strings, lists, dicts and dataclass events, rebuilt with every string redacted."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list | tuple):
            return type(value)(self.redact_any(v) for v in value)
        if isinstance(value, dict):
            return {k: self.redact_any(v) for k, v in value.items()}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes = {
                f.name: self.redact_any(getattr(value, f.name))
                for f in dataclasses.fields(value)
                if f.init
            }
            return dataclasses.replace(value, **changes)
        return value


REDACTOR = Redactor()


def redact(text: str) -> str:
    return REDACTOR.redact(text)


def redact_any(value: Any) -> Any:
    return REDACTOR.redact_any(value)


class RedactingFilter(logging.Filter):
    """Attach to a handler: the formatted message is redacted before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        return True
