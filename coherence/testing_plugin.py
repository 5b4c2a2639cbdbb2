"""pytest plugin of :mod:`coherence.testing` (entry point ``coherence`` in the
``pytest11`` group, active once coherence is installed; ``-p
coherence.testing_plugin`` loads it explicitly, ``-p no:coherence`` turns it
off).

* The ``oracle`` fixture (session scope, so hypothesis' ``@given`` tests may
  use it): a :class:`coherence.testing.Oracle`, oracle answers and
  assertions through :class:`coherence.queries.Evaluator`.
* The hypothesis settings profiles "coherence" and "coherence-ci"
  (:func:`coherence.testing.register_profiles`) are registered when asked
  for and loaded only when asked for: by the ini option ``coherence_profile``
  (``[tool.pytest.ini_options] coherence_profile = "coherence"``) or by
  hypothesis' own ``--hypothesis-profile=coherence`` (which wins over the
  ini option). Otherwise the plugin imports nothing at start-up and leaves
  the loaded profile alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from coherence.testing import Oracle

INI = "coherence_profile"
_OURS = ("coherence", "coherence-ci")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the ini option ``coherence_profile``.

    Args:
        parser: pytest's option parser.

    Returns:
        None.
    """
    parser.addini(
        INI,
        "hypothesis settings profile to load at start-up: coherence (no "
        "deadline, one failure, replay blob) or coherence-ci (also "
        "derandomized); empty: leave hypothesis' profile alone",
        default="",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the profiles when one of them is asked for (before hypothesis'
    own plugin loads ``--hypothesis-profile``), and load the ini option's.

    Args:
        config: the pytest configuration.

    Returns:
        None. An unknown profile name is a one-line usage error.
    """
    wanted = str(config.getini(INI) or "").strip()
    given = config.getoption("hypothesis_profile", None)
    if wanted not in ("", *_OURS) and not given:
        raise pytest.UsageError(
            f"{INI}: unknown profile {wanted!r}; expected one of {', '.join(_OURS)}"
        )
    if not (wanted or given in _OURS):
        return
    try:
        from hypothesis import settings
    except ImportError:
        from coherence._extras import missing_extra

        raise pytest.UsageError(f"{INI}: {missing_extra('hypothesis')}") from None
    from coherence.testing import register_profiles

    register_profiles()
    if wanted and not given:
        settings.load_profile(wanted)


@pytest.fixture(scope="session")
def oracle() -> Oracle:
    """Oracle answers for tests: ``oracle(mdp, "policy", PolicySpec("G",
    k=2))`` (a float64 array), ``oracle.assert_matches(got, mdp, ...)`` and
    ``oracle.evaluator(mdp, backend)``.

    Returns:
        A :class:`coherence.testing.Oracle` (stateless, one per session).
    """
    from coherence.testing import Oracle

    return Oracle()
