"""Real environments and published benchmarks as cases (``coherence import``).

Sources (``SOURCE`` on the command line):

* ``gymnasium:ID`` -- toy-text environments through their own table ``P``
  (FrozenLake-v1, FrozenLake8x8-v1, CliffWalking-v1, Taxi-v4);
* ``minigrid:ID`` -- MiniGrid layouts through their own ``step``, enumerated
  breadth first from ``reset(seed=SEED)``;
* ``bridge:PATH`` (or a path ending ``.npz``) -- BRIDGE tabular MDPs;
* ``gambling`` and ``doc-bandit`` -- the published stochastic benchmarks.

Each import returns a :class:`~coherence.envs.tabular.Table` (successor lists);
:func:`case_json` makes the ``coherence-case/1`` object, :func:`to_mdp` the
in-memory MDP, :func:`write_case` writes the file atomically. Success maps are
documented in :mod:`coherence.envs.success`, the enumeration in
:mod:`coherence.envs.tabular`, and both in docs/envs.md.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from typing import Any

from coherence.envs.output import (
    DEFAULT_QUERIES,
    case_json,
    end_probability,
    to_mdp,
    write_case_json,
)
from coherence.envs.success import SuccessMap, parse_success_map
from coherence.envs.tabular import (
    DEFAULT_MAX_STATES,
    Source,
    Table,
    check_horizon,
    check_max_states,
    tabulate,
)

__all__ = [
    "DEFAULT_MAX_STATES",
    "DEFAULT_QUERIES",
    "DroppedRewardWarning",
    "SuccessMap",
    "Table",
    "case_json",
    "end_probability",
    "from_benchmark",
    "from_bridge",
    "from_gymnasium",
    "from_minigrid",
    "import_source",
    "make_source",
    "parse_success_map",
    "to_mdp",
    "write_case",
]


def _case_name(label: str, options: Mapping[str, Any], smap: SuccessMap, T: int) -> str:
    parts = [
        label,
        *(f"{k}-{v}" for k, v in sorted(options.items())),
        smap.spec,
        f"T{T}",
    ]
    text = "_".join(str(p) for p in parts)
    return re.sub(r"[^A-Za-z0-9._-]", "-", text).strip("-.") or "imported"


class DroppedRewardWarning(UserWarning):
    """A success map ignores some of the source's reward information."""


def make_source(
    source: str,
    *,
    horizon: int,
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> tuple[Source, str]:
    """The :class:`~coherence.envs.tabular.Source` named by ``source`` and a
    label for it; a one-line ValueError for an unknown kind or id."""
    opts = dict(options or {})
    if not isinstance(source, str) or not source:
        raise ValueError(f"SOURCE: expected a non-empty string, got {source!r}")
    kind, _, rest = source.partition(":")
    if source.endswith(".npz") and kind not in ("bridge",):
        kind, rest = "bridge", source
    if kind in ("gambling", "doc-bandit") and not rest:
        kind, rest = "benchmark", source
    if kind == "gymnasium":
        from coherence.envs.toytext import ToyTextSource

        return ToyTextSource(rest, opts), f"gymnasium-{rest}"
    if kind == "minigrid":
        from coherence.envs.grid import GridSource

        grid = GridSource(rest, opts, seed=seed, horizon=horizon)
        return grid, f"minigrid-{rest}_seed-{seed}"
    if kind in ("bridge", "benchmark") and opts:
        raise ValueError(f"--option: {kind} sources take no options, got {opts!r}")
    if kind == "bridge":
        from coherence.envs.bridge import BridgeSource, resolve_bridge

        path = resolve_bridge(rest)
        return BridgeSource(path), f"bridge-{path.stem}"
    if kind == "benchmark":
        from coherence.envs.benchmarks import BenchmarkSource

        return BenchmarkSource(rest), rest
    raise ValueError(
        f"SOURCE: unknown source {source!r}; expected gymnasium:ID, minigrid:ID, "
        "bridge:PATH.npz, gambling or doc-bandit"
    )


def import_source(
    source: str,
    *,
    horizon: int,
    success: str | SuccessMap = "goal",
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
    max_states: int = DEFAULT_MAX_STATES,
    name: str | None = None,
    progress: bool = False,
    warn: bool = True,
) -> Table:
    """Import ``source`` as a case table (successor lists) at ``horizon``.

    Every argument is checked before the environment is built or enumerated;
    errors are one-line ValueErrors naming the argument. Where the success map
    ignores reward information (``Table.warnings``: positive rewards on steps
    that do not end the episode under ``goal``, ...), each line is also issued
    as a :class:`DroppedRewardWarning` unless ``warn`` is False.
    """
    T = check_horizon(horizon)
    limit = check_max_states(max_states)
    smap = success if isinstance(success, SuccessMap) else parse_success_map(success)
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"--name: expected a non-empty string, got {name!r}")
    src, label = make_source(source, horizon=T, options=options, seed=seed)
    opts = dict(options or {})
    table = tabulate(
        src,
        T,
        smap,
        name=name or _case_name(label, opts, smap, T),
        max_states=limit,
        progress=progress,
    )
    where = src.provenance()
    version = where.get("package_version", "")
    table.description = (
        f"{source}{' ' + repr(opts) if opts else ''} imported"
        f"{' from ' + str(where['package']) + ' ' + str(version) if version else ''}"
        f" at horizon {T}; {smap.describe()}"
    )
    if warn:
        for line in table.warnings:
            warnings.warn(line, DroppedRewardWarning, stacklevel=2)
    return table


def from_gymnasium(
    env_id: str,
    horizon: int,
    success: str = "goal",
    options: Mapping[str, Any] | None = None,
    max_states: int = DEFAULT_MAX_STATES,
) -> Table:
    """A gymnasium toy-text environment (its own ``P``) as a case table."""
    return import_source(
        f"gymnasium:{env_id}",
        horizon=horizon,
        success=success,
        options=options,
        max_states=max_states,
    )


def from_minigrid(
    env_id: str,
    horizon: int,
    success: str = "goal",
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
    max_states: int = DEFAULT_MAX_STATES,
) -> Table:
    """A MiniGrid layout (its own ``step``, from ``reset(seed=seed)``) as a
    case table."""
    return import_source(
        f"minigrid:{env_id}",
        horizon=horizon,
        success=success,
        options=options,
        seed=seed,
        max_states=max_states,
    )


def from_bridge(
    path: str | os.PathLike[str],
    horizon: int,
    success: str = "goal",
    max_states: int = DEFAULT_MAX_STATES,
) -> Table:
    """A BRIDGE ``.npz`` MDP as a case table."""
    return import_source(
        f"bridge:{os.fspath(path)}",
        horizon=horizon,
        success=success,
        max_states=max_states,
    )


def from_benchmark(name: str, horizon: int = 1, success: str = "goal") -> Table:
    """``gambling`` or ``doc-bandit`` as a case table."""
    return import_source(name, horizon=horizon, success=success)


def write_case(
    table: Table, path: str | os.PathLike[str], *, queries: bool = True
) -> None:
    """Write the table as a case file, atomically (nothing is written when
    serialising fails)."""
    write_case_json(path, case_json(table, queries=queries))
