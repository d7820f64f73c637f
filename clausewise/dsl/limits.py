"""Bounds on what a policy's literals may say, shared by the parser, the checker and the engine.

A literal past one of these is a check diagnostic at its span, so that a policy that checks always
compiles and loads (the engine's own types stop short of some of them: `datetime.timedelta`
holds up to 999,999,999 days, decimal quantization needs a bounded exponent).
"""

from __future__ import annotations

import datetime as dt

# digits in a number literal (`12345`, `0.0125`, `2.5%`, `400 USD`, `30 days`); the same bound
# as a number in decision input
MAX_LITERAL_DIGITS = 100

# the calendar's span, years 0001-9999: a longer duration or month count moves every date off it
CALENDAR_DAYS = (dt.date.max - dt.date.min).days + 1
CALENDAR_MONTHS = 9999 * 12

# `round(x, places)`: places from 0 to this
MAX_ROUND_PLACES = 50

# seconds in one of each duration unit a literal may use
UNIT_SECONDS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
