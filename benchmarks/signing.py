"""Signing latency: re-authentication + key unwrap + Ed25519 + signature row + audit event.

Measured end to end through ``services.signing.sign`` in its own transaction, on
SQLite (and PostgreSQL when reachable), beside the bare Argon2id derivation with the
same parameters (the dominant cost) measured in the same run. Goal: median < 150 ms.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from pathlib import Path

from argon2.low_level import Type, hash_secret_raw
from sqlalchemy import create_engine, text

from audit.chain import Entity
from benchmarks.table import Row, median, percentile, print_table
from ebr import schema
from ebr.bootstrap import Services, build_services
from ebr.core.config import load_settings
from signatures.keys import KdfParams
from signatures.passwords import DEFAULT_HASHER

PASSWORD = "Timing-Run-Pass-42"
RUNS = int(os.environ.get("EBR_BENCH_SIGNING_RUNS", "40"))


def _time(fn: object, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def bare_derivation(params: KdfParams, runs: int) -> list[float]:
    salt = os.urandom(16)
    return _time(
        lambda: hash_secret_raw(
            PASSWORD.encode(),
            salt,
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=32,
            type=Type.ID,
        ),
        runs,
    )


def _prepare(services: Services) -> None:
    schema.upgrade(services.engine)
    with services.session_factory.begin() as session:
        services.users.create(
            session,
            actor="system:bench",
            user_id="bench",
            full_name="Bench Operator",
            roles=["operator"],
            password=PASSWORD,
            must_change=False,
        )
        services.users.accept_accountability(session, user_id="bench")


def signing(services: Services, runs: int) -> list[float]:
    counter = iter(range(10**9))

    def one() -> None:
        with services.session_factory.begin() as session:
            services.signing.sign(
                session,
                subject=Entity("batch_step", f"B-1/{next(counter)}"),
                content={"value": "12.500", "unit": "kg"},
                meaning="performed",
                reason=None,
                user_id="bench",
                password=PASSWORD,
            )

    one()  # warm-up: connection pool, statement caches
    return _time(one, runs)


def _postgres_url() -> str | None:
    server = os.environ.get("EBR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    engine = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"ebr_bench_{secrets.token_hex(4)}"
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:  # noqa: BLE001 - no PostgreSQL: the SQLite figures still stand
        return None
    finally:
        engine.dispose()
    return server.rsplit("/", 1)[0] + f"/{name}"


def _drop(url: str) -> None:
    server, name = url.rsplit("/", 1)
    engine = create_engine(server + "/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _measure(url: str, data_dir: Path) -> list[float]:
    services = build_services(load_settings({"EBR_DATA_DIR": str(data_dir)}, database_url=url))
    try:
        _prepare(services)
        return signing(services, RUNS)
    finally:
        services.close()


def main() -> None:
    params = KdfParams()
    bare = bare_derivation(params, RUNS)
    verify_hash = DEFAULT_HASHER.hash(PASSWORD)
    verify = _time(lambda: DEFAULT_HASHER.verify(verify_hash, PASSWORD), RUNS)
    rows = [Row("password check alone, median", median(verify), median(bare), "ms")]
    with tempfile.TemporaryDirectory() as tmp:
        backends = [("SQLite", f"sqlite:///{tmp}/bench.sqlite")]
        pg = _postgres_url()
        if pg:
            backends.append(("PostgreSQL", pg))
        try:
            for label, url in backends:
                samples = _measure(url, Path(tmp) / label)
                rows.append(Row(f"sign, {label}, median", median(samples), median(bare), "ms", "< 150 ms"))
                rows.append(Row(f"sign, {label}, p95", percentile(samples, 95), median(bare), "ms"))
        finally:
            if pg:
                _drop(pg)
    print_table(
        f"Signing latency ({RUNS} signatures each; key KDF {params.text()})",
        rows,
        baseline_name="bare Argon2id",
    )


if __name__ == "__main__":
    main()
