"""The experiments of Karwowski and Douglas (arXiv 2510.06545), reproduced exactly.

* :mod:`.authors` — their random tree MDPs bit for bit, and the published instances;
* :mod:`.measures` — exact kappa, returns, and their clipped trajectory KL;
* :mod:`.horizon` — the effective horizon, exactly (both GORP variants, greedy Q^k);
* :mod:`.runs`, :mod:`.sweep` — the experiments and resumable parallel sweeps;
* :mod:`.audit`, :mod:`.figures`, :mod:`.report` — verdicts, figures, the report.

See docs/experiments.md.
"""

__all__: list[str] = []
