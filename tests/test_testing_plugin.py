"""coherence.testing in another project's pytest run: the README's property
test with a planted bug fails in a short report, the plugin's ``oracle``
fixture works, and the plugin loads a settings profile only when asked.

Each test runs pytest in a subprocess inside ``tmp_path`` (the plugin named
with ``-p``, as the entry point needs an install)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from coherence.reference.case import case_from_json

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BUG = "    return np.roll(pi, 1, axis=2)  # a relabelling bug\n"


def readme_block(name: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- example: {name} -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"README lost its {name} example"
    return match.group(1)


def run_pytest(
    where: Path, *args: str, ini: str = ""
) -> subprocess.CompletedProcess[str]:
    """pytest in ``where`` with the plugin, the repository first on the path and
    no cache or inherited profile."""
    (where / "pytest.ini").write_text(f"[pytest]\n{ini}\n", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name in ("CI", "HYPOTHESIS_PROFILE", "PYTEST_ADDOPTS"):
        env.pop(name, None)
    command = [sys.executable, "-m", "pytest", "-p", "coherence.testing_plugin"]
    command += ["-p", "no:cacheprovider", "-q", *args]
    return subprocess.run(
        command, cwd=where, env=env, capture_output=True, text=True, timeout=300
    )


def failure_section(out: str, test: str) -> list[str]:
    """The lines pytest prints for the failure of ``test``: from its ``____
    name ____`` header to the ``file:line: Error`` line."""
    lines = out.splitlines()
    header = re.compile(rf"_{{3,}} {test} _{{3,}}")
    start = next(i for i, x in enumerate(lines) if header.match(x))
    end = next(
        i for i in range(start, len(lines)) if re.match(r"\S+:\d+: \w+", lines[i])
    )
    return lines[start : end + 1]


@pytest.mark.slow
def test_a_planted_bug_fails_in_a_short_report_and_the_fixture_works(
    tmp_path: Path,
) -> None:
    """One pytest run of three files. The README example with a relabelling
    bug: one failure in <= 25 lines with the differing cells, the case (which
    reads back), the example, and no frame of the package, no ExceptionGroup,
    no Fraction repr. The README's fixture example passes; a wrong w under the
    fixture's assertion fails with the same short report."""
    code = readme_block("testing")
    wrong = code.replace("    return pi\n", BUG, 1)
    fixture = readme_block("testing-fixture")
    wrong_w = fixture.replace(
        'oracle.assert_matches(w, mdp, "w"', 'oracle.assert_matches(w * 0.5, mdp, "w"'
    )
    assert wrong != code and wrong_w != fixture
    for name, text in (("mine", wrong), ("right", fixture), ("wrong", wrong_w)):
        (tmp_path / f"test_{name}.py").write_text(text, encoding="utf-8")
    done = run_pytest(tmp_path, "--hypothesis-profile=coherence", "--hypothesis-seed=0")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 failed, 1 passed" in done.stdout, done.stdout
    assert "ExceptionGroup" not in done.stdout and "Fraction(" not in done.stdout

    section = failure_section(done.stdout, "test_goal_conditioning_matches_the_oracle")
    text = "\n".join(section)
    assert len(section) <= 25, text
    assert re.search(r"cells? differs? \(rel 1e-09, abs 1e-12\)", text), text
    cell = re.compile(r"^E\s+t=\d+ s=\d+ a=\d+\s+got \S+\s+want \S+.*rel diff \S+$")
    assert any(cell.match(line) for line in section), text
    (case_line,) = [x for x in section if x.startswith("E       case: {")]
    case = case_from_json(json.loads(case_line.removeprefix("E       case: ")))
    assert case.queries[0].quantity == "policy"
    assert "Failing test case: test_goal_conditioning_matches_the_oracle(" in text
    assert "coherence/" not in text and "Explanation" not in text

    section = failure_section(done.stdout, "test_w_is_a_probability")
    assert any(re.match(r"E\s+t=\d+ s=\d+\s+got ", x) for x in section), section
    assert "coherence/" not in "\n".join(section)
    assert "FAILED test_wrong.py::test_w_is_a_probability" in done.stdout


class FakeConfig:
    """What the plugin's pytest_configure reads: the ini option and
    ``--hypothesis-profile``."""

    def __init__(self, ini: str = "", option: str | None = None) -> None:
        self.ini, self.option = ini, option

    def getini(self, name: str) -> str:
        assert name == "coherence_profile"
        return self.ini

    def getoption(self, name: str, default: object = None) -> object:
        assert name == "hypothesis_profile"
        return self.option


@pytest.fixture
def restore_profile() -> Iterator[None]:
    from hypothesis import settings

    name = settings.get_current_profile_name()
    yield
    settings.load_profile(name)


@pytest.mark.usefixtures("restore_profile")
def test_the_plugin_loads_a_profile_only_when_asked() -> None:
    """With no ini option the loaded profile stays; the ini option loads the
    plugin's profile unless ``--hypothesis-profile`` names one (hypothesis
    loads that one, registered first by the plugin); a wrong ini value is a
    usage error naming the option."""
    from hypothesis import settings

    from coherence.testing_plugin import pytest_configure

    settings.register_profile("mine", max_examples=7)
    settings.load_profile("mine")
    pytest_configure(FakeConfig())  # type: ignore[arg-type]
    pytest_configure(FakeConfig(option="coherence"))  # type: ignore[arg-type]
    pytest_configure(FakeConfig("coherence", "mine"))  # type: ignore[arg-type]
    assert settings.get_current_profile_name() == "mine"
    pytest_configure(FakeConfig("coherence-ci"))  # type: ignore[arg-type]
    assert settings.get_current_profile_name() == "coherence-ci"
    assert settings.default.derandomize and settings.default.deadline is None
    with pytest.raises(pytest.UsageError, match=r"coherence_profile: unknown .*'x'"):
        pytest_configure(FakeConfig("x"))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["coherence", "coherence-ci"])
def test_the_profiles_are_registered_on_import(name: str) -> None:
    """Importing coherence.testing registers both profiles without loading
    either (this run keeps the project's own profile)."""
    from hypothesis import settings

    import coherence.testing  # noqa: F401

    profile = settings.get_profile(name)
    assert profile.deadline is None and not profile.report_multiple_bugs
    assert profile.derandomize == (name == "coherence-ci")
    assert settings.get_current_profile_name() in ("ci", "dev")  # tests/conftest.py
