"""The fast chain scan: hashes the stored bytes and pins seq and prev without parsing JSON."""

from __future__ import annotations

import pytest

from audit.verify import scan
from ebr.core.canonical import sha256_hex
from tests.unit.audit.chains import chain


def _bytes(rows: list[tuple[int, str, str, bytes]]) -> list[bytes]:
    return [data for _, _, _, data in rows]


pytestmark = pytest.mark.requirement("URS-AUD-003")


def test_an_intact_chain_scans_to_its_head() -> None:
    rows = chain(50)
    state = scan(iter([_bytes(rows[:20]), _bytes(rows[20:])]), {})
    assert (state.anomaly, state.seq, state.hash) == (None, 50, rows[-1][2])


def test_changed_bytes_stop_the_scan_at_that_seq_with_the_last_good_head() -> None:
    rows = chain(10)
    seq, prev, hash_, data = rows[6]
    rows[6] = (seq, prev, hash_, data.replace(b'"7.0"', b'"8.0"'))
    state = scan(iter([_bytes(rows)]), {})
    assert (state.anomaly, state.seq, state.hash) == (8, 7, sha256_hex(rows[6][3]))  # found at the next link


def test_a_missing_event_is_an_anomaly_where_it_should_be() -> None:
    rows = chain(10)
    del rows[3]
    assert scan(iter([_bytes(rows)]), {}).anomaly == 4


def test_a_row_whose_bytes_claim_another_seq_is_an_anomaly() -> None:
    rows = chain(5)
    rows[1], rows[2] = rows[2], rows[1]
    assert scan(iter([_bytes(rows)]), {}).anomaly == 2


def test_nested_prev_keys_and_quotes_in_reasons_do_not_fool_the_scan() -> None:
    tricky = {"prev": "0" * 64, "note": '"prev":"' + "a" * 64 + '","reason":'}
    rows = chain(6, after=tricky, reason='x","prev":"' + "b" * 64)
    assert scan(iter([_bytes(rows)]), {}).anomaly is None


def test_a_checkpoint_that_disagrees_with_the_chain_stops_the_scan() -> None:
    rows = chain(10)
    state = scan(iter([_bytes(rows)]), {5: rows[4][2], 10: "0" * 64})
    assert (state.anomaly, state.checkpoint_mismatch) == (None, 10)
