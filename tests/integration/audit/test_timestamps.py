"""RFC 3161 time stamps of signed tree heads, from a real TSA (``openssl ts -reply`` behind a small HTTP handler)."""

from __future__ import annotations

import http.server
import json
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.chain import Entity
from audit.findings import BreakKind
from audit.keys import b64decode, b64encode
from audit.timestamps import TimestampLog
from ebr.bootstrap import Services, build_services
from ebr.core.canonical import canon
from ebr.core.config import Settings
from ebr.trail.services import ensure_system_key, verify_live

pytestmark = pytest.mark.requirement("URS-AUD-004")

TSA_CONFIG = """
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(folder: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
        "-days", "2", "-subj", f"/CN=Test {name}", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder,
    )  # fmt: skip


def _make_tsa(folder: Path) -> None:
    _make_ca(folder, "ca")
    (folder / "ext.cnf").write_text(
        "extendedKeyUsage=critical,timeStamping\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
    )
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=Test TSA",
             cwd=folder)  # fmt: skip
    _openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "tsa.pem", "-days", "2", "-extfile", "ext.cnf", cwd=folder)  # fmt: skip
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(TSA_CONFIG.format(dir=folder))


def _handler(folder: Path) -> type[http.server.BaseHTTPRequestHandler]:
    class Tsa(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers["Content-Length"]))
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "q.tsq").write_bytes(query)
                _openssl("ts", "-reply", "-config", str(folder / "tsa.cnf"), "-queryfile", "q.tsq", "-out", "r.tsr",
                         cwd=Path(tmp))  # fmt: skip
                answer = (Path(tmp) / "r.tsr").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            return

    return Tsa


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A TSA at http://127.0.0.1:PORT/ and its CA certificate."""
    folder = tmp_path / "tsa"
    folder.mkdir()
    _make_tsa(folder)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(folder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", folder / "ca.pem"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _stamped(settings: Settings, url: str, ca: Path) -> Services:
    built = build_services(settings.with_overrides(checkpoint_every=5, tsa_url=url, tsa_cert=ca))
    ensure_system_key(built)
    for i in range(5):
        with built.session_factory.begin() as session:
            built.audit.record(session, actor="alice", action="batch.created", entity=Entity("batch", f"B-{i}"))
    return built


def test_every_tree_head_is_time_stamped_and_the_stamps_verify(settings: Settings, tsa: tuple[str, Path]) -> None:
    built = _stamped(settings, *tsa)
    try:
        stamps = list(TimestampLog(built.settings.checkpoint_log_dir).entries())
        assert len(stamps) == 1
        report = verify_live(built)
        assert report.ok, [b.describe() for b in report.breaks]
        assert report.timestamps_checked == 1
    finally:
        built.close()


def test_a_changed_time_stamp_or_another_authoritys_fails(
    settings: Settings, tsa: tuple[str, Path], tmp_path: Path
) -> None:
    built = _stamped(settings, *tsa)
    try:
        log = TimestampLog(built.settings.checkpoint_log_dir)
        entry = json.loads(log.path.read_bytes())
        token = bytearray(b64decode(entry["tsr"]))
        token[-40] ^= 0xFF  # inside the TSA's signature
        log.path.write_bytes(canon({**entry, "tsr": b64encode(bytes(token))}) + b"\n")
        report = verify_live(built)
        assert any(
            b.kind == BreakKind.BAD_CHECKPOINT and "time stamp does not verify" in b.detail for b in report.breaks
        )
        other = tmp_path / "other"
        other.mkdir()
        _make_ca(other, "ca")
        log.path.write_bytes(canon(entry) + b"\n")
        assert verify_live(built).ok
        foreign = build_services(built.settings.with_overrides(tsa_cert=other / "ca.pem"))
        try:
            report = verify_live(foreign)
        finally:
            foreign.close()
        assert [b.seq for b in report.breaks if "time stamp does not verify" in b.detail] == [5]
    finally:
        built.close()


def test_an_unreachable_tsa_does_not_stop_the_tree_head(settings: Settings, tsa: tuple[str, Path]) -> None:
    built = _stamped(settings, "http://127.0.0.1:9/", tsa[1])
    try:
        assert list(TimestampLog(built.settings.checkpoint_log_dir).entries()) == []
        report = verify_live(built)
        assert report.ok
        assert report.newest_checkpoint == 5
    finally:
        built.close()
