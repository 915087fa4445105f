"""ISO 8601 durations (`P1Y`, `P6M`, `P30D`, `PT12H`, `P1Y2M3DT4H`) for license validity that
starts at redemption, added with calendar arithmetic: a month after 31 January is 28/29 February."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_PATTERN = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$")
# Long enough for any license; short enough that adding it never leaves datetime's range.
MAX_YEARS = 100


class InvalidDuration(ValueError):
    """Not an ISO 8601 duration this service accepts."""


@dataclass(frozen=True)
class Duration:
    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    def after(self, start: datetime) -> datetime:
        """`start` plus this duration: years and months on the calendar (the day clamped to the
        month's last), then the rest as elapsed time."""
        total_months = start.month - 1 + self.months + 12 * self.years
        year, month = start.year + total_months // 12, total_months % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        shifted = start.replace(year=year, month=month, day=day)
        return shifted + timedelta(weeks=self.weeks, days=self.days, hours=self.hours,
                                   minutes=self.minutes, seconds=self.seconds)


def parse_duration(text: str) -> Duration:
    """`P…` with whole numbers of years, months, weeks, days, hours, minutes and seconds; at least
    one part, a `T` only before time parts, not zero, at most a hundred years."""
    normalized = text.strip().upper() if isinstance(text, str) else ""
    match = _PATTERN.match(normalized)
    if match is None or normalized in ("P", "PT") or normalized.endswith("T"):
        raise InvalidDuration("use an ISO 8601 duration such as P1Y, P6M, P30D or PT12H")
    parts = {name: int(value) for name, value in match.groupdict().items() if value is not None}
    if not any(parts.values()):
        raise InvalidDuration("the duration must be longer than zero")
    duration = Duration(**parts)
    # A rough bound first, so that absurd numbers never reach datetime arithmetic.
    rough_days = (duration.years * 366 + duration.months * 31 + duration.weeks * 7
                  + duration.days + (duration.hours * 3600 + duration.minutes * 60
                                     + duration.seconds) / 86400)
    if rough_days > (MAX_YEARS + 1) * 366 or duration.after(
            datetime(2000, 1, 1)) > datetime(2000 + MAX_YEARS, 1, 1):
        raise InvalidDuration(f"the duration must be at most {MAX_YEARS} years")
    return duration
