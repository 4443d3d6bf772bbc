"""A headless Chromium for browser tests: Debian's `chromium` package driven by Playwright.

Playwright is told where the browser is (`executable_path`), so nothing is downloaded. A machine without
Chromium skips these tests, or fails them with `MLPLATFORM_TEST_REQUIRE_SERVICES=1` (CI, which installs
it: `.ci/run`).
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.support.services import REQUIRE_SERVICES

CHROMIUM = os.environ.get("MLPLATFORM_TEST_CHROMIUM", "chromium")


def chromium_executable() -> str:
    """The Chromium binary to drive, or skip/fail the test (like any missing service)."""
    found = shutil.which(CHROMIUM)
    if found is None:
        message = f"Chromium ({CHROMIUM}) is not installed (apt-get install chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message} and MLPLATFORM_TEST_REQUIRE_SERVICES is set", pytrace=False)
        pytest.skip(message)
    return found
