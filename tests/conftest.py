"""What every test shares."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_browser_loop_outside_browser_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Hide Playwright's event loop from tests that do not use the browser.

    Playwright's sync API (tests/web, one driver per xdist worker) leaves its
    loop marked as running in the main thread for as long as the driver
    lives. A later test on the same worker that starts a loop of its own
    (``asyncio.run``, pytest-asyncio, or code under test such as ``pluma
    storage migrate``) then fails with "cannot be called from a running
    event loop", depending only on how xdist happened to share out the
    tests. The marker is cleared for the test and put back after it.
    """
    loop = asyncio._get_running_loop()
    if loop is None or "playwright" in request.fixturenames:
        yield
        return
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        asyncio._set_running_loop(loop)
