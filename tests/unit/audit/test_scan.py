"""The fast chain scan: hashes the stored bytes and pins seq and prev without parsing JSON."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.scan import Scan, _row_by_row
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


def _one_by_one(datas: list[Any], checkpoints: dict[int, str]) -> Scan:
    """The reference: every event checked on its own (the path the scan takes at any doubt)."""
    state = Scan()
    for data in datas:
        if not _row_by_row([data], state, checkpoints):
            break
    return state


_EDITS = st.sampled_from(["bytes", "token", "shadow", "newline", "text", "drop", "swap", "duplicate", "short"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 40),
    edits=st.lists(st.tuples(_EDITS, st.integers(0, 10**6), st.binary(max_size=12)), max_size=3),
    cut=st.integers(1, 41),
    signed=st.sets(st.integers(1, 40), max_size=3),
)
def test_the_batched_fast_path_accepts_exactly_what_the_event_by_event_check_accepts(
    n: int, edits: list[tuple[str, int, bytes]], cut: int, signed: set[int]
) -> None:
    """Tampered batches (bytes, forged ``"prev":"`` tokens, types, drops, swaps) scan as event by event."""
    rows = chain(n, reason=None if n % 3 else 'a "reason"')
    datas: list[Any] = _bytes(rows)
    for kind, where, junk in edits:
        i = where % len(datas) if datas else 0
        if not datas:
            break
        data, good = datas[i], rows[min(i, n - 1)][1].encode()  # the prev of the event first stored there
        at = where % (len(data) + 1) if isinstance(data, bytes) else 0
        if kind == "bytes" and isinstance(data, bytes):
            datas[i] = data[:at] + junk + data[at + len(junk) :]
        elif kind == "token" and isinstance(data, bytes):
            datas[i] = data[:at] + b'"prev":"' + good + data[at:]
        elif kind == "shadow" and isinstance(data, bytes):  # the right prev early, a wrong one at the top level
            wrong = data.replace(b'"prev":"' + good, b'"prev":"' + b"e" * 64)
            datas[i] = b'{"actor":"x","after":{"prev":"' + good + b'"},' + wrong[1:]
        elif kind == "newline" and isinstance(data, bytes):
            datas[i] = data[:at] + b"\n" + data[at:]
        elif kind == "text" and isinstance(data, bytes):
            datas[i] = data.decode("utf-8", "replace")
        elif kind == "drop":
            del datas[i]
        elif kind == "swap" and i + 1 < len(datas):
            datas[i], datas[i + 1] = datas[i + 1], datas[i]
        elif kind == "duplicate":
            datas.insert(i, datas[i])
        elif kind == "short" and isinstance(data, bytes):
            datas[i] = data[: at % 40]
    checkpoints = {s: rows[s - 1][2] for s in signed if s <= n}
    batches = [datas[:cut], datas[cut:]]
    got = scan(iter(batches), checkpoints)
    assert got == _one_by_one(datas, checkpoints)
