"""Drivers against the simulator's real servers: security, Modbus scaling, timestamps."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest

from equipment.config import load_plant_config
from equipment.drivers.base import Quality
from equipment.drivers.plantio import build_plant_io
from equipment.simulator.certs import make_certificate
from tests.support.plant import start_simulator, write_config


@pytest.mark.requirement("URS-EQP-004")
@pytest.mark.parametrize("mode", ["Sign", "SignAndEncrypt"])
def test_a_secured_opcua_connection_reads_and_writes(tmp_path: Path, mode: str) -> None:
    with start_simulator(tmp_path, security=mode) as sim:
        config = load_plant_config(sim.config_path)
        assert config.endpoints["plant"].security.mode == mode

        async def exercise() -> tuple[object, object]:
            io = build_plant_io(config)
            try:
                assert await io.connect() == {}
                level = (await io.read(["R-101.level"]))["R-101.level"]
                await io.write("R-101.agitator", True)
                await asyncio.sleep(0.3)
                running = (await io.read(["R-101.agitator_running"]))["R-101.agitator_running"]
                return level, running
            finally:
                await io.close()

        level, running = asyncio.run(exercise())
        assert level.quality is Quality.GOOD  # type: ignore[attr-defined]
        assert running.value is True  # type: ignore[attr-defined]


@pytest.mark.requirement("URS-EQP-004")
def test_an_unsecured_client_is_refused_by_a_server_that_requires_sign_and_encrypt(tmp_path: Path) -> None:
    with start_simulator(tmp_path, security="SignAndEncrypt") as sim:
        plain = write_config(tmp_path / "plain.yaml", opcua_url=sim.opcua_url, modbus_port=sim.modbus_port)
        config = load_plant_config(plain)

        async def connect() -> dict[str, str]:
            io = build_plant_io(config)
            try:
                return await io.connect()
            finally:
                await io.close()

        failed = asyncio.run(connect())
        assert "plant" in failed


def _connect_with_trust_list(tmp_path: Path, trusted: Path, *, trust_server: bool) -> tuple[dict[str, str], object]:
    with start_simulator(tmp_path, security="SignAndEncrypt") as sim:
        if trust_server:  # the admin copies the server's certificate into the trust list
            trusted.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / "certs" / "simulator-cert.der", trusted / "plant-server.der")
        secured = load_plant_config(sim.config_path).endpoints["plant"].security
        security = {"mode": "SignAndEncrypt", "certificate": str(secured.certificate),
                    "private_key": str(secured.private_key), "trusted_certificates": str(trusted)}  # fmt: skip
        path = write_config(
            tmp_path / "ctl.yaml", opcua_url=sim.opcua_url, modbus_port=sim.modbus_port, security=security
        )
        config = load_plant_config(path)

        async def connect() -> tuple[dict[str, str], object]:
            io = build_plant_io(config)
            try:
                failed = await io.connect()
                level = None if failed else (await io.read(["R-101.level"]))["R-101.level"]
                return failed, level
            finally:
                await io.close()

        return asyncio.run(connect())


@pytest.mark.requirement("URS-EQP-004")
def test_a_server_whose_certificate_is_in_the_trust_list_is_connected(tmp_path: Path) -> None:
    failed, level = _connect_with_trust_list(tmp_path, tmp_path / "pki" / "trusted", trust_server=True)
    assert failed == {}
    assert level.quality is Quality.GOOD  # type: ignore[attr-defined]


@pytest.mark.requirement("URS-EQP-004")
def test_a_server_whose_certificate_is_not_in_the_trust_list_is_refused_with_the_fix(tmp_path: Path) -> None:
    trusted = tmp_path / "pki" / "trusted"
    make_certificate(trusted, "another-server", "urn:another")
    (trusted / "another-server-key.pem").unlink()
    failed, _level = _connect_with_trust_list(tmp_path, trusted, trust_server=False)
    assert "BadCertificateUntrusted" in failed["plant"]
    assert f"put its certificate (or its CA's) into {trusted}" in failed["plant"]


@pytest.mark.requirement("URS-EQP-002")
def test_modbus_scale_weights_read_with_scaling_word_order_and_stable_flag(tmp_path: Path) -> None:
    with start_simulator(tmp_path) as sim:
        config = load_plant_config(sim.config_path)
        tags = ["SC-01.weight", "SC-01.weight_float", "SC-01.stable"]

        async def read() -> dict[str, object]:
            io = build_plant_io(config)
            try:
                await io.connect()
                return dict(await io.read(tags))
            finally:
                await io.close()

        sim.place_weight(12.345)
        unsettled = asyncio.run(read())
        time.sleep(0.6)
        settled = asyncio.run(read())
        sim.place_weight(0)
        empty = asyncio.run(read())
    assert unsettled["SC-01.stable"].value is False  # type: ignore[attr-defined]
    assert settled["SC-01.weight"].value == pytest.approx(12.345, abs=1e-9)  # type: ignore[attr-defined]
    assert settled["SC-01.weight_float"].value == pytest.approx(12.345, abs=1e-5)  # type: ignore[attr-defined]
    assert settled["SC-01.stable"].value is True  # type: ignore[attr-defined]
    assert empty["SC-01.weight"].value == 0.0  # type: ignore[attr-defined]


@pytest.mark.requirement("URS-EQP-002")
def test_opcua_values_keep_their_status_and_server_timestamps(tmp_path: Path) -> None:
    with start_simulator(tmp_path) as sim:
        config = load_plant_config(sim.config_path)

        async def read() -> object:
            io = build_plant_io(config)
            try:
                await io.connect()
                return (await io.read(["R-101.temperature"]))["R-101.temperature"]
            finally:
                await io.close()

        value = asyncio.run(read())
    assert value.status == "Good"  # type: ignore[attr-defined]
    assert value.server_ts is not None  # type: ignore[attr-defined]
    assert value.server_ts.tzinfo is not None  # type: ignore[attr-defined]


def test_an_unreachable_endpoint_is_reported_by_name(tmp_path: Path) -> None:
    config_path = write_config(tmp_path / "plant.yaml", opcua_url="opc.tcp://127.0.0.1:9/none", modbus_port=9)
    config = load_plant_config(config_path)

    async def connect() -> dict[str, str]:
        io = build_plant_io(config)
        try:
            return await io.connect()
        finally:
            await io.close()

    failed = asyncio.run(connect())
    assert set(failed) == {"plant", "scale"}
    assert "127.0.0.1:9" in failed["scale"]


@pytest.mark.requirement("URS-EQP-002")
def test_the_opcua_driver_reconnects_after_the_server_drops_the_connection(tmp_path: Path) -> None:
    with start_simulator(tmp_path) as sim:
        config = load_plant_config(sim.config_path)
        events: list[tuple[str, bool]] = []
        levels: list[float] = []

        async def scenario() -> None:
            io = build_plant_io(config)
            io.add_connection_listener(lambda endpoint, up, reason: events.append((endpoint, up)))
            await io.subscribe(["R-101.level"], lambda item: levels.append(item.number()) if item.good else None)
            try:
                await io.connect()
                await asyncio.sleep(0.3)
                sim.fault("drop_connection", seconds=1.0)
                await asyncio.sleep(0.5)
                assert io.connected["plant"] is False
                sim.set(**{"R-101.level": 321.0})
                deadline = time.monotonic() + 10
                while 321.0 not in levels:
                    assert time.monotonic() < deadline, f"no value after reconnecting: {events}"
                    await asyncio.sleep(0.05)
            finally:
                await io.close()

        asyncio.run(scenario())
    plant_events = [up for endpoint, up in events if endpoint == "plant"]
    assert plant_events[:3] == [True, False, True]


@pytest.mark.requirement("URS-EQP-004")
def test_a_server_that_asks_for_a_user_accepts_the_right_password_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with start_simulator(tmp_path, security="SignAndEncrypt", username="ebr", password="s3cret-plant") as sim:
        config = load_plant_config(sim.config_path)
        assert config.endpoints["plant"].username == "ebr"

        async def connect() -> dict[str, str]:
            io = build_plant_io(config)
            try:
                return await io.connect()
            finally:
                await io.close()

        monkeypatch.setenv("EBR_OPCUA_PASSWORD", "s3cret-plant")
        assert "plant" not in asyncio.run(connect())
        monkeypatch.setenv("EBR_OPCUA_PASSWORD", "wrong")
        assert "plant" in asyncio.run(connect())
