"""Fire times: what an agent's cron means in its own time zone, across DST changes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from infraagent.cron import Cadence, cron_period, next_fire, previous_fire


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_every_minute_fires_at_the_next_whole_minute_and_never_twice() -> None:
    assert next_fire("*/1 * * * *", "UTC", utc(2026, 11, 27, 12, 0, 30)) == utc(2026, 11, 27, 12, 1)
    # strictly after: a fire time is never returned again for itself
    assert next_fire("*/1 * * * *", "UTC", utc(2026, 11, 27, 12, 1)) == utc(2026, 11, 27, 12, 2)
    fires = [utc(2026, 11, 27, 12)]
    for _ in range(60):
        fires.append(next_fire("*/1 * * * *", "UTC", fires[-1]))
    assert fires[-1] == utc(2026, 11, 27, 13)
    assert {b - a for a, b in itertools.pairwise(fires)} == {timedelta(minutes=1)}


def test_results_are_aware_utc_whatever_zone_the_input_is_in() -> None:
    after = utc(2026, 1, 5, 12).astimezone(timezone(timedelta(hours=-5)))
    fire = next_fire("0 18 * * *", "Asia/Tokyo", after)
    assert fire.tzinfo is UTC
    assert fire == utc(2026, 1, 6, 9)  # 18:00 in Tokyo is 09:00 UTC


def test_a_local_morning_job_follows_the_wall_clock_across_the_spring_dst_change() -> None:
    # Europe/Berlin goes from UTC+1 to UTC+2 on 2026-03-29
    fires = [next_fire("0 9 * * *", "Europe/Berlin", utc(2026, 3, 27, 12))]
    for _ in range(2):
        fires.append(next_fire("0 9 * * *", "Europe/Berlin", fires[-1]))
    assert fires == [utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)]
    assert cron_period("0 9 * * *", "Europe/Berlin", utc(2026, 3, 27, 12)) == timedelta(hours=23)


def test_a_wall_time_skipped_by_dst_fires_right_after_the_gap_once() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29: it fires at 03:00 local (01:00 UTC)
    first = next_fire("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 12))
    assert first == utc(2026, 3, 29, 1)
    assert next_fire("30 2 * * *", "Europe/Berlin", first) == utc(2026, 3, 30, 0, 30)


def test_the_latest_fire_at_or_before_a_time() -> None:
    assert previous_fire("*/5 * * * *", "UTC", utc(2026, 11, 27, 12, 3, 1)) == utc(2026, 11, 27, 12)
    assert previous_fire("*/5 * * * *", "UTC", utc(2026, 11, 27, 12, 5)) == utc(2026, 11, 27, 12, 5)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_fire("* * * * *", "UTC", datetime(2026, 1, 1))


def test_one_expression_in_many_zones_and_directions_never_mixes_them_up() -> None:
    after = utc(2026, 7, 1, 12)
    expected = {
        "Asia/Tokyo": utc(2026, 7, 2, 0),
        "Europe/Berlin": utc(2026, 7, 2, 7),
        "America/New_York": utc(2026, 7, 1, 13),
    }
    for _ in range(3):  # parsed iterators are reused: their state must not leak
        for zone, fire in expected.items():
            assert next_fire("0 9 * * *", zone, after) == fire
            assert previous_fire("0 9 * * *", zone, fire) == fire


def test_an_interval_keeps_its_grid_and_never_backfills() -> None:
    every5 = Cadence(None, interval=timedelta(minutes=5))
    now = utc(2026, 11, 27, 12, 0, 40)
    assert every5.first(None, now) == now  # never ran: at once
    assert every5.first(utc(2026, 11, 27, 11, 58), now) == utc(2026, 11, 27, 12, 3)
    # an hour of downtime: one fire, the latest missed one on the grid
    assert every5.first(utc(2026, 11, 27, 10, 58), now) == utc(2026, 11, 27, 11, 58)
    assert every5.after(utc(2026, 11, 27, 11, 58), now) == utc(2026, 11, 27, 12, 3)
    assert every5.after(utc(2026, 11, 27, 12, 3), now) == utc(2026, 11, 27, 12, 8)
    assert every5.period(now) == timedelta(minutes=5)


def test_a_cron_cadence_runs_the_latest_missed_fire_once_then_resumes() -> None:
    hourly = Cadence("0 * * * *", "UTC")
    now = utc(2026, 11, 27, 12, 20)
    assert hourly.first(None, now) == utc(2026, 11, 27, 13)
    assert hourly.first(utc(2026, 11, 27, 12, 0, 4), now) == utc(2026, 11, 27, 13)
    assert hourly.first(utc(2026, 11, 27, 8, 0, 4), now) == utc(2026, 11, 27, 12)
    assert hourly.after(utc(2026, 11, 27, 12), now) == utc(2026, 11, 27, 13)
    assert hourly.after(utc(2026, 11, 27, 9), now) == utc(2026, 11, 27, 13)


@pytest.mark.parametrize(
    ("cron", "interval"), [(None, None), ("* * * * *", timedelta(minutes=1)), (None, timedelta(0))]
)
def test_a_cadence_needs_exactly_one_way_to_fire(
    cron: str | None, interval: timedelta | None
) -> None:
    with pytest.raises(ValueError, match=r"cadence|interval"):
        Cadence(cron, interval=interval)
