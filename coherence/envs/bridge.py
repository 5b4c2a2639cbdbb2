"""BRIDGE tabular MDPs (Laidlaw, Russell and Dragan, "Bridging RL Theory and
Practice with the Effective Horizon", NeurIPS 2023; data CC-BY-4.0).

An ``.npz`` file holds ``transitions[S, A]`` (int: the next state, or -1 where
the step ends the episode; state 0 is the initial state; deterministic) and
``rewards[S, A]`` (float32). Rewards are read as the shortest decimal that
rounds back to the stored float32 (0.1, not its binary value). A step that ends
the episode with a positive reward is a goal.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Hashable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from coherence._io import read_bytes, read_npz
from coherence.envs.tabular import Outcome, exact_reward

__all__ = ["PACKAGED", "BridgeSource", "packaged_files", "resolve_bridge"]

PACKAGED = Path(__file__).resolve().parent / "data" / "bridge"
"""The BRIDGE files shipped with the package (CC-BY-4.0; README.md beside
them gives the attribution)."""


def packaged_files() -> list[Path]:
    """The shipped BRIDGE ``.npz`` files, sorted by name."""
    return sorted(PACKAGED.glob("*.npz"))


def resolve_bridge(name: str) -> Path:
    """The file a ``bridge:NAME`` source names: an existing path as given,
    else a shipped file of that name (``.npz`` optional); a one-line
    ValueError listing the shipped names otherwise."""
    path = Path(name)
    if path.exists() or os.sep in name or "/" in name:
        return path
    stem = name.removesuffix(".npz")
    shipped = PACKAGED / f"{stem}.npz"
    if shipped.is_file():
        return shipped
    names = ", ".join(p.stem for p in packaged_files())
    raise ValueError(
        f"bridge file {name!r}: no such file, and no shipped BRIDGE MDP of that "
        f"name (shipped: {names})"
    )


_LICENCE = (
    "CC-BY-4.0; BRIDGE dataset of Laidlaw, Russell and Dragan, NeurIPS 2023 "
    "(repository cassidylaidlaw/effective-horizon, data/mdps/)"
)


class BridgeSource:
    """One BRIDGE ``.npz`` MDP."""

    time_dependent = False

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Read and check the file; a one-line ValueError naming the file for a
        missing file, a missing ``transitions`` or ``rewards`` array, or arrays
        of the wrong shape, type or range."""
        where = f"bridge file {os.fspath(path)!r}"
        file = Path(path)
        # sizes from the zip and .npy headers are checked before decompressing
        raw = read_bytes(file, "bridge file")
        data = read_npz(file, "bridge file", data=raw)
        for required in ("transitions", "rewards"):
            if required not in data:
                raise ValueError(f"{where}: no array {required!r}")
        nxt = np.asarray(data["transitions"])
        rew = np.asarray(data["rewards"])
        if nxt.ndim != 2 or nxt.shape[0] < 1 or nxt.shape[1] < 1:
            raise ValueError(
                f"{where}: transitions must have shape (S, A), got {nxt.shape}"
            )
        if not np.issubdtype(nxt.dtype, np.integer):
            raise ValueError(f"{where}: transitions must be integers, got {nxt.dtype}")
        if rew.shape != nxt.shape:
            raise ValueError(
                f"{where}: rewards have shape {rew.shape}, transitions {nxt.shape}"
            )
        n_states, n_actions = (int(v) for v in nxt.shape)
        if ((nxt < -1) | (nxt >= n_states)).any():
            bad = nxt[(nxt < -1) | (nxt >= n_states)][0]
            raise ValueError(
                f"{where}: next state {int(bad)} outside -1..{n_states - 1}"
            )
        if not np.isfinite(rew).all():
            raise ValueError(f"{where}: rewards contain NaN or inf")
        self.path = file
        self.transitions = nxt.astype(np.int64)
        values = {float(v): exact_reward(v, where) for v in np.unique(rew)}
        self.rewards = [[values[float(v)] for v in row] for row in rew]
        self.actions = tuple(f"a{i}" for i in range(n_actions))
        self.reward_bounds = (max(values.values()), min(values.values()))
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self.shape = (n_states, n_actions)

    def initial(self) -> list[tuple[Hashable, Fraction]]:
        """State 0."""
        return [(0, Fraction(1))]

    def outcomes(self, state: Hashable, action: int, t: int) -> list[Outcome]:
        """The one outcome of ``transitions[state, action]`` (``t`` unused)."""
        del t
        assert isinstance(state, int)
        nxt = int(self.transitions[state, action])
        r = self.rewards[state][action]
        if nxt < 0:
            return [Outcome(Fraction(1), None, r, True, r > 0)]
        return [Outcome(Fraction(1), nxt, r, False, False)]

    def state_name(self, state: Hashable) -> str:
        """``s<index>`` (the file's own state index)."""
        return f"s{state}"

    def end_name(self, state: Hashable) -> str:
        """``episode ended`` (the file has no terminal states)."""
        del state
        return "episode ended"

    def prior(self, state: Hashable) -> tuple[Fraction, ...] | None:
        """Uniform."""
        del state
        return None

    def provenance(self) -> dict[str, Any]:
        """File name, its SHA-256, shape and licence."""
        return {
            "kind": "bridge",
            "file": self.path.name,
            "sha256": self.sha256,
            "shape": list(self.shape),
            "licence": _LICENCE,
            "rewards": "shortest decimal of each float32",
            "goal": "the episode ends (next state -1) with reward > 0",
        }
