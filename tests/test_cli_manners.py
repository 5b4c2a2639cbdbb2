"""The command line's manners: version, ``python -m``, closed pipes, missing
extras and bad backends reported in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from coherence import __version__
from coherence.cli import main

ROOT = Path(__file__).resolve().parents[1]
RACE = str(ROOT / "coherence" / "cases" / "public" / "mountain-race.json")


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_version_and_python_dash_m() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "coherence", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert run.stdout.strip() == f"coherence {__version__}"


def test_a_closed_pipe_ends_quietly() -> None:
    """``coherence demo --json | head -1`` used to end in a BrokenPipeError."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "coherence", "demo", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_a_missing_extra_is_named() -> None:
    code = (
        "import sys; sys.modules['sympy'] = None\n"
        "from coherence.cli import main\n"
        "raise SystemExit(main(['derive', '--show', 'mountain-race']))\n"
    )
    run = _python(code)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == (
        "coherence: error: this command needs 'sympy': install the [theory] extra "
        "(pip install 'coherence[theory]')"
    )


def test_a_missing_backend_extra_is_named() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from coherence.cli import main\n"
        f"raise SystemExit(main(['conformance', 'run', {RACE!r}, '--out', "
        "sys.argv[1], '--backend', 'torch']))\n"
    )
    run = _python(code, str(ROOT / "build" / "never-written"))
    assert run.returncode == 2
    assert "install the [torch] extra" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (ROOT / "build" / "never-written").exists()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (
            ["conformance", "run", RACE, "--out", "x", "--backend", "fortran"],
            "unknown backend",
        ),
        (["conformance", "check", RACE, "--results", "x", "--only", "Z"], "--only"),
        (["generate", "--states", "99", "--out", "x"], "--states"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    argv: list[str],
    words: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err
    assert list(tmp_path.iterdir()) == []
