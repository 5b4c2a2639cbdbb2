"""Where the public conformance cases live: ``../shared`` beside the checkout
(as in CI). Tests that need them skip with a reason when they are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
CASES = SHARED / "cases"

needs_shared_cases = pytest.mark.skipif(
    not CASES.is_dir(), reason="shared cases not beside the checkout"
)
