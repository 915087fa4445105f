"""ISO 8601 durations for license validity: parsing, and calendar arithmetic for months, years."""

from datetime import UTC, datetime

import pytest

from app.activation_codes.durations import Duration, InvalidDuration, parse_duration


def utc(*parts):
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize("text, expected", [
    ("P1Y", Duration(years=1)),
    ("P6M", Duration(months=6)),
    ("P30D", Duration(days=30)),
    ("P2W", Duration(weeks=2)),
    ("PT12H", Duration(hours=12)),
    ("PT90M", Duration(minutes=90)),
    ("PT45S", Duration(seconds=45)),
    ("P1Y2M3DT4H5M6S", Duration(1, 2, 0, 3, 4, 5, 6)),
    (" p1y ", Duration(years=1)),
])
def test_parses(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "1Y", "P1", "P1YT", "P1.5Y", "P-1D", "PT1D",
                                  "P1H", "P0D", "PT0S", "P1Y1Y", "P101Y", "P99999999999999D",
                                  "P1M1Y"])
def test_rejects(text):
    with pytest.raises(InvalidDuration):
        parse_duration(text)


@pytest.mark.parametrize("start, text, end", [
    (utc(2025, 1, 31, 10), "P1M", utc(2025, 2, 28, 10)),   # clamped to the month's last day
    (utc(2024, 1, 31, 10), "P1M", utc(2024, 2, 29, 10)),   # leap year
    (utc(2024, 2, 29), "P1Y", utc(2025, 2, 28)),
    (utc(2024, 2, 29), "P4Y", utc(2028, 2, 29)),
    (utc(2025, 3, 31), "P6M", utc(2025, 9, 30)),
    (utc(2025, 11, 15), "P3M", utc(2026, 2, 15)),          # across the year end
    (utc(2025, 1, 1), "P1Y", utc(2026, 1, 1)),
    (utc(2025, 1, 30), "P1M2D", utc(2025, 3, 2)),          # months first, then days
    (utc(2025, 3, 1, 23), "PT2H", utc(2025, 3, 2, 1)),
    (utc(2025, 1, 1), "P2W", utc(2025, 1, 15)),
])
def test_adds_on_the_calendar(start, text, end):
    assert parse_duration(text).after(start) == end
