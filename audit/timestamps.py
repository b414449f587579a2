"""Optional RFC 3161 time stamps of signed tree heads (an anchor in time that the installation does not control).

When ``EBR_TSA_URL`` is set, every tree head line, once its transaction has committed
and the line is in the external log, is sent (as the SHA-256 message imprint of the
line) to the time-stamping authority, and the response is appended to
``timestamps.jsonl`` beside ``checkpoints.jsonl``: ``{"line_sha256", "tsr"}`` with
the DER response in base64. ``ebr audit verify`` checks each response against the
TSA's CA certificate (``EBR_TSA_CERT``) with ``rfc3161-client``. A TSA that does not
answer does not stop the trail: the failure is logged and the next tree head is
stamped again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from audit.findings import Break, BreakKind
from audit.keys import b64decode, b64encode
from ebr.core.canonical import canon
from ebr.core.errors import AuditError

log = logging.getLogger("audit.timestamps")
LOG_FILE = "timestamps.jsonl"


@dataclass(frozen=True)
class Tsa:
    """An RFC 3161 time-stamping authority reached over HTTP (``application/timestamp-query``)."""

    url: str
    timeout: float = 10.0

    def stamp(self, line: bytes) -> bytes:
        """The DER time-stamp response for ``line``; AuditError when the TSA refuses or cannot be reached."""
        if not self.url.startswith(("https://", "http://")):
            raise AuditError(f"EBR_TSA_URL {self.url!r} must be an http(s) URL")
        builder = TimestampRequestBuilder().data(line).hash_algorithm(HashAlgorithm.SHA256)
        request = builder.nonce(nonce=True).cert_request(cert_request=True).build()
        http = urllib.request.Request(  # noqa: S310 - scheme checked above
            self.url,
            data=request.as_bytes(),
            headers={"Content-Type": "application/timestamp-query"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(http, timeout=self.timeout) as answer:  # noqa: S310 - scheme checked above
                body: bytes = answer.read()
        except OSError as exc:
            raise AuditError(f"time-stamping authority {self.url} did not answer ({exc})") from exc
        try:
            response = decode_timestamp_response(body)
        except ValueError as exc:
            raise AuditError(f"time-stamping authority {self.url} sent no time-stamp response ({exc})") from exc
        if response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
            raise AuditError(f"time-stamping authority {self.url} refused: {response.status_string}")
        if response.tst_info.message_imprint.message != hashlib.sha256(line).digest():
            raise AuditError(f"time-stamping authority {self.url} stamped something else")
        return body


class TimestampLog:
    """``timestamps.jsonl``: one time-stamp response per tree head line."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOG_FILE

    def append(self, line: bytes, response: bytes) -> None:
        entry = canon({"line_sha256": hashlib.sha256(line).hexdigest(), "tsr": b64encode(response)})
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, entry + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> Iterator[tuple[int, str, bytes]]:
        """``(line number, line_sha256, DER response)``; unreadable entries raise AuditError naming the line."""
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                    yield number, str(obj["line_sha256"]), b64decode(obj["tsr"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise AuditError(f"{self.path} line {number} is unreadable ({exc})") from None


def stamp_lines(tsa: Tsa, directory: Path, lines: Iterable[bytes]) -> int:
    """Stamp each committed tree head line; returns how many were stamped (failures are logged)."""
    stamped = 0
    for line in lines:
        try:
            TimestampLog(directory).append(line, tsa.stamp(line))
            stamped += 1
        except AuditError as exc:
            log.error("tree head not time-stamped: %s", exc)
    return stamped


def load_tsa_roots(path: Path) -> list[x509.Certificate]:
    """The TSA's CA certificate(s) from a PEM file; AuditError when it cannot be read."""
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise AuditError(f"EBR_TSA_CERT {path} is not a readable PEM certificate ({exc})") from exc


def check_timestamps(
    directory: Path, lines: dict[bytes, str], roots: list[x509.Certificate]
) -> tuple[int, list[Break]]:
    """Verify every time stamp against ``roots`` and the tree head line it stamps; returns (verified, breaks).

    ``lines`` maps each logged tree head line to where it is (for the messages).
    """
    stamps = TimestampLog(directory)
    by_digest = {hashlib.sha256(line).hexdigest(): line for line in lines}
    verified, breaks = 0, []
    try:
        entries = list(stamps.entries())
    except AuditError as exc:
        return 0, [Break(BreakKind.BAD_CHECKPOINT, 0, str(exc))]
    for number, digest, der in entries:
        where = f"{stamps.path} line {number}"
        line = by_digest.get(digest)
        if line is None:
            breaks.append(Break(BreakKind.BAD_CHECKPOINT, 0, f"{where}: stamps no tree head of the log"))
            continue
        try:
            response = decode_timestamp_response(der)
            VerifierBuilder(roots=roots).build().verify(response, hashlib.sha256(line).digest())
        except (ValueError, VerificationError) as exc:
            seq = json.loads(line).get("tree_size", 0)
            breaks.append(Break(BreakKind.BAD_CHECKPOINT, seq, f"{where}: time stamp does not verify ({exc})"))
            continue
        verified += 1
    return verified, breaks
