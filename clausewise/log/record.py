"""One logged decision, its id, and the time and duration syntax of log queries."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..dsl.runtime import parse_datetime

__all__ = [
    "KINDS",
    "DecisionRecord",
    "dumps",
    "format_time",
    "new_decision_id",
    "parse_duration",
    "parse_time",
]


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:  # the standard encoder alone: correct, only slower
        return None


_orjson = _optional("orjson")


def dumps(value: Any) -> str:
    """Compact JSON text that every store keeps as written (U+0000 is escaped).

    orjson (installed with the `server` extra) writes a decision's trace a dozen times faster
    than the standard library, which matters at thousands of decisions a second; what it refuses
    (lone surrogates, integers past 64 bits) goes to the standard encoder, escaped to ASCII.
    Unlike the standard encoder, orjson writes a NaN or infinite float as null; decision input
    never holds one (`loads_input` refuses them, and policies take decimals as strings).
    """
    if _orjson is not None:
        try:
            return _orjson.dumps(value).decode()
        except TypeError:
            pass
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


KINDS = ("live", "shadow")


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A decision as the log keeps it: what was asked, what was answered, and why.

    `time` is an aware datetime (stored in UTC, to the microsecond). `explanation` is the text
    explanation at the `rules` trace level and `trace` its JSON. The service logs them as None
    and renders them when the record is read (`RecordExplainer`), by deciding the input again
    with the logged version of the logged revision; `explanation_error` says why a read record
    has no explanation. A shadow record (`kind="shadow"`) is the candidate version's decision
    on the same input; `shadow_of` names the live decision.
    """

    decision_id: str
    time: dt.datetime
    policy: str
    version: str
    revision: str
    input: Any
    output: dict[str, Any]
    outcome: str
    explanation: str | None
    trace: dict[str, Any] | None
    kind: str = "live"
    shadow_of: str | None = None
    explanation_error: str | None = None  # set on read only, never stored

    def __post_init__(self) -> None:
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise ValueError(f"decision {self.decision_id}: time must be timezone-aware")
        if self.kind not in KINDS:
            raise ValueError(f"decision {self.decision_id}: kind must be one of {KINDS}")

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-ready data; `time` in RFC 3339 (UTC, `Z`); `explanation_error`
        only when there is one."""
        out: dict[str, Any] = {
            "decision_id": self.decision_id,
            "time": format_time(self.time),
            "policy": self.policy,
            "version": self.version,
            "revision": self.revision,
            "kind": self.kind,
            "shadow_of": self.shadow_of,
            "input": self.input,
            "output": self.output,
            "outcome": self.outcome,
            "explanation": self.explanation,
            "trace": self.trace,
        }
        if self.explanation_error is not None:
            out["explanation_error"] = self.explanation_error
        return out


def format_time(t: dt.datetime) -> str:
    """RFC 3339 in UTC with microseconds and `Z`: fixed width, so text order is time order."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# UUIDv7 (RFC 9562 section 5.7): 48 bits of Unix milliseconds, then 74 random bits. Within one
# process the 12 bits after the timestamp count up (the RFC's "method 1"), so ids made in the
# same millisecond still sort in the order they were made; across processes the random tail
# keeps them unique. Random bytes are drawn from the OS a few kilobytes at a time (a system call
# per id is a measurable share of a decision), and a forked child starts with none of its
# parent's, so two processes never hand out the same bits.
_id_lock = threading.Lock()
_id_last_ms = 0
_id_counter = 0
_random = b""
_random_at = 0
_RANDOM_REFILL = 4096


def _forget_random() -> None:
    global _random, _random_at
    _random, _random_at = b"", 0


os.register_at_fork(after_in_child=_forget_random)


def new_decision_id() -> str:
    """A new time-sortable unique decision id (UUIDv7 text)."""
    global _id_last_ms, _id_counter, _random, _random_at
    with _id_lock:
        if _random_at + 10 > len(_random):
            _random, _random_at = os.urandom(_RANDOM_REFILL), 0
        bits = int.from_bytes(_random[_random_at : _random_at + 10], "big")
        _random_at += 10
        ms = time.time_ns() // 1_000_000
        if ms > _id_last_ms:
            _id_last_ms = ms
            _id_counter = (bits >> 64) & 0x7FF  # a random start with room to count up
        else:
            _id_counter += 1
            if _id_counter > 0xFFF:  # counter spent: borrow the next millisecond
                _id_last_ms += 1
                _id_counter = 0
            ms = _id_last_ms
        counter = _id_counter
    tail = bits & ((1 << 62) - 1)
    h = f"{(ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | tail:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> dt.timedelta:
    """`90s`, `15m`, `12h`, `30d` or `2w` as a timedelta; ValueError otherwise."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(
            f"{text!r} is not a duration: write a whole number and a unit, e.g. 90s, 15m, 12h, 30d, 2w"
        )
    return dt.timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def parse_time(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """An aware UTC datetime from RFC 3339 (`2026-01-31T12:00:00Z`), a date (midnight UTC),
    a time without offset (taken as UTC), or a duration meaning that long ago (`24h`, `7d`).
    """
    raw = text.strip()
    if _DURATION.match(raw):
        return (now or dt.datetime.now(dt.UTC)) - parse_duration(raw)
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        t = parse_datetime(raw, "optional")
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: write RFC 3339 (2026-01-31T12:00:00Z), a date "
            "(2026-01-31) or a duration ago (24h, 7d)"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC)
