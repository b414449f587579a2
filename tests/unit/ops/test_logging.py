"""JSON log lines carry the request id and user, and never a password or key."""

from __future__ import annotations

import io
import json
import logging

from ebr.ops.logging import JsonFormatter, request_id_var, scrub, scrub_text, user_var


def _line(record_message: str, *args: object, **extra: object) -> dict[str, object]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.ops.logging")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(record_message, *args, extra=extra)
    finally:
        logger.removeHandler(handler)
    parsed: dict[str, object] = json.loads(stream.getvalue())
    return parsed


def test_a_log_line_is_one_json_object_with_the_request_id_and_the_user() -> None:
    rid, user = request_id_var.set("req-123"), user_var.set("alice")
    try:
        line = _line("batch %s started", "B-1", job="none")
    finally:
        request_id_var.reset(rid)
        user_var.reset(user)
    assert line["message"] == "batch B-1 started"
    assert (line["request_id"], line["user"], line["level"], line["job"]) == ("req-123", "alice", "WARNING", "none")
    assert str(line["ts"]).endswith("Z")


def test_secret_fields_and_secret_pairs_in_messages_are_masked() -> None:
    line = _line("login password=Tr0ub4dor&3 for bob", password="Tr0ub4dor&3", form={"api_key": "k-999", "user": "bob"})
    text = json.dumps(line)
    assert "Tr0ub4dor" not in text
    assert "k-999" not in text
    assert "bob" in text


def test_scrubbing_masks_quoted_json_values_and_leaves_ordinary_text() -> None:
    assert scrub_text('{"password": "s3cret", "user": "x"}') == '{"password": ***, "user": "x"}'
    assert scrub_text("equipment TK-101 is dirty") == "equipment TK-101 is dirty"
    assert scrub({"private_key": "-----BEGIN", "n": 1}) == {"private_key": "***", "n": 1}
