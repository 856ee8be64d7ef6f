"""Annotations added by people: stored as text, validated, found by the charts' range query."""
from datetime import datetime

import pytest

from data.warehouse import Warehouse
from data.writer import make_writer
from queries.annotations import annotations_between, insert_annotation


def test_added_annotations_show_in_their_range_and_bad_ones_are_refused(tmp_path):
    wh = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    writer = make_writer(wh)
    hostile = "<script>alert(1)</script> checkout down"
    writer.call(lambda c: insert_annotation(c, datetime(2026, 11, 20, 10), "incident", hostile))
    writer.call(lambda c: insert_annotation(c, datetime(2026, 11, 10), "campaign", "Autumn sale",
                                            ts_end=datetime(2026, 11, 15)))
    found = annotations_between(wh, datetime(2026, 11, 14), datetime(2026, 11, 21))
    assert list(found.text) == ["Autumn sale", hostile]  # spans overlapping the range, stored verbatim
    assert list(annotations_between(wh, datetime(2026, 11, 16), datetime(2026, 11, 19)).text) == []
    for kind, text in (("rumour", "x"), ("note", ""), ("note", "x" * 501)):
        with pytest.raises(ValueError):
            writer.call(lambda c: insert_annotation(c, datetime(2026, 11, 20), kind, text))
    assert len(annotations_between(wh, datetime(2026, 1, 1), datetime(2027, 1, 1))) == 2
    writer.stop()
    wh.dispose()
