"""The README's property-test example runs as written (and would catch a bug)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def example(name: str = "testing") -> dict[str, Any]:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- example: {name} -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"README lost its {name} example"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), str(README), "exec"), namespace)
    return namespace


def test_readme_property_test_passes() -> None:
    example()["test_goal_conditioning_matches_the_oracle"]()


@pytest.mark.slow
def test_readme_property_test_catches_a_wrong_implementation() -> None:
    ns = example()
    right = ns["my_goal_conditioned_policy"]

    def wrong(P: Any, rho: Any, rho_T: Any, prior: Any) -> Any:
        pi = right(P, rho, rho_T, prior)
        return np.roll(pi, 1, axis=2)  # a relabelling bug

    ns["my_goal_conditioned_policy"] = wrong
    ns["test_goal_conditioning_matches_the_oracle"].__globals__[
        "my_goal_conditioned_policy"
    ] = wrong
    # one bug, one failure (no ExceptionGroup): every mismatch is raised
    # from one place
    with pytest.raises(AssertionError, match="cells differ"):
        ns["test_goal_conditioning_matches_the_oracle"]()


def test_readme_fixture_example_passes() -> None:
    """The fixture example, the ``oracle`` fixture's value passed by hand."""
    from coherence.testing import Oracle

    example("testing-fixture")["test_w_is_a_probability"](oracle=Oracle())


def test_readme_api_example_prints_what_it_says(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The Python API example runs; its first printed value is the one its
    comment states (G_2(up | root) = 8/17 on the mountain race, SPEC §6)."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    match = re.search(r"<!-- example: api -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README lost its API example"
    exec(compile(match.group(1), "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "8/17"
    assert float(lines[1]) > 0 and 0 < float(lines[2]) < 1
