"""Browser fixtures for the end-to-end tests (see tests/support/browser.py)."""

from tests.support.browser import chromium, live_server, page  # noqa: F401 - fixtures used by the e2e tests
