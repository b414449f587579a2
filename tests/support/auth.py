"""Logging a Flask test client in, with the CSRF token every form needs."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/auth/login") -> str:
    """The CSRF token of the client's session, read from a form page."""
    page = client.get(path).get_data(as_text=True)
    found = _TOKEN.search(page)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def login(client: FlaskClient, user_id: str, password: str) -> TestResponse:
    """Post the login form (with its CSRF token); returns the response."""
    token = csrf_token(client)
    return client.post("/auth/login", data={"user_id": user_id, "password": password, "csrf_token": token})
