"""Where the tests find the public conformance cases: the copy shipped in the
package (``coherence/cases/public``), so nothing skips in a fresh clone. The
contract's own copy beside the checkout (``../shared/cases``, as in CI) is used
only to cross-check the shipped one (tests/test_suite.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "coherence" / "cases" / "public"
SHARED_CASES = ROOT.parent / "shared" / "cases"

#: Kept for the tests that mark themselves with it; the shipped cases are
#: always present, so it never skips.
needs_shared_cases = pytest.mark.skipif(
    not CASES.is_dir(), reason="the package's public cases are missing"
)


def examples(default: int, full: int) -> int:
    """Example count of a heavy property test: ``default`` in the default test
    run, ``full`` in CI's slow pass, which reruns the tests marked
    ``properties`` with ``COHERENCE_FULL_PROPERTIES=1``."""
    return full if os.environ.get("COHERENCE_FULL_PROPERTIES") else default
