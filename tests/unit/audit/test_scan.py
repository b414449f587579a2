"""The fast chain scan: hashes the stored bytes and pins seq and prev without parsing JSON."""

from __future__ import annotations

import pytest

from audit.verify import scan
from tests.unit.audit.chains import chain

pytestmark = pytest.mark.requirement("URS-AUD-003")


def test_an_intact_chain_scans_to_its_head() -> None:
    rows = chain(50)
    state = scan(iter([rows[:20], rows[20:]]), {})
    assert (state.anomaly, state.seq, state.hash, state.count) == (None, 50, rows[-1][2], 50)


def test_changed_bytes_stop_the_scan_at_that_seq_with_the_last_good_head() -> None:
    rows = chain(10)
    seq, prev, hash_, data = rows[6]
    rows[6] = (seq, prev, hash_, data.replace(b'"7.0"', b'"8.0"'))
    state = scan(iter([rows]), {})
    assert (state.anomaly, state.seq, state.hash) == (7, 6, rows[5][2])


def test_a_gap_in_the_seq_column_is_an_anomaly() -> None:
    rows = chain(10)
    del rows[3]
    assert scan(iter([rows]), {}).anomaly == 5


def test_a_prev_column_that_disagrees_with_the_bytes_is_an_anomaly() -> None:
    rows = chain(5)
    seq, _prev, hash_, data = rows[2]
    rows[2] = (seq, "f" * 64, hash_, data)
    assert scan(iter([rows]), {}).anomaly == 3


def test_a_row_whose_bytes_claim_another_seq_is_an_anomaly() -> None:
    rows = chain(5)
    rows[1], rows[2] = (2, *rows[2][1:]), (3, *rows[1][1:])
    assert scan(iter([rows]), {}).anomaly == 2


def test_nested_prev_keys_and_quotes_in_reasons_do_not_fool_the_scan() -> None:
    tricky = {"prev": "0" * 64, "note": '"prev":"' + "a" * 64 + '","reason":'}
    rows = chain(6, after=tricky, reason='x","prev":"' + "b" * 64)
    assert scan(iter([rows]), {}).anomaly is None


def test_a_checkpoint_that_disagrees_with_the_chain_stops_the_scan() -> None:
    rows = chain(10)
    state = scan(iter([rows]), {5: rows[4][2], 10: "0" * 64})
    assert (state.anomaly, state.checkpoint_mismatch) == (None, 10)
