"""Time zones by IANA name, and whether a wall-clock time in one is one instant."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any
from zoneinfo import ZoneInfo


@functools.lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """A time zone by IANA name (cached: zones are immutable)."""
    return ZoneInfo(name)


def to_zone(z: Any) -> ZoneInfo:
    return z if isinstance(z, ZoneInfo) else zone(z)


def wall_clock_problem(t: dt.datetime, z: Any) -> str | None:
    """Why the wall-clock time `t` (naive) in zone `z` is not one instant: `"gap"` when it
    does not exist there, `"overlap"` when it occurs twice; None when it is one instant."""
    tz = to_zone(z)
    first = t.replace(tzinfo=tz, fold=0)
    if first.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None) != t:
        return "gap"
    if first.utcoffset() != t.replace(tzinfo=tz, fold=1).utcoffset():
        return "overlap"
    return None
