"""Stored instants read back as the instant that was written, by the fast fixed-width path
and by ``strptime`` alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_pipeline.core.times import FORMAT, format_time, parse_stored

pytestmark = pytest.mark.property

instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(instant=instants, offset=offsets)
def test_a_stored_instant_reads_back_as_written(instant: datetime, offset: timezone) -> None:
    text = format_time(instant.astimezone(offset))
    read = parse_stored(text)
    assert read == instant
    assert read.tzinfo == UTC
    assert read == datetime.strptime(text, FORMAT).replace(tzinfo=UTC)
    assert format_time(read) == text


@pytest.mark.parametrize("text", ["2026-12-03 19:09:10.790714Z", "2026-12-03T19:09:10Z", "x" * 27])
def test_text_of_another_shape_is_refused_as_strptime_refuses_it(text: str) -> None:
    with pytest.raises(ValueError, match="does not match format"):
        parse_stored(text)
