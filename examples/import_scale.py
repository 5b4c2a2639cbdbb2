"""Time and memory of a large import and of G_1 on it (float64 numpy engine).

Run, for example (BRIDGE = coherence/envs/data/bridge, the shipped files):
  python examples/import_scale.py \
      bridge:$BRIDGE/MiniGrid-Empty-16x16-DistanceShaped-v0.npz --horizon 1300
  python examples/import_scale.py minigrid:MiniGrid-Empty-16x16-v0 \
      --horizon 200 --success exp:1 --no-answer

Prints the state count, the (t, s) pairs (horizon x states), the seconds of each
stage and the peak resident memory of the process. The numpy engine holds the
transitions as a dense (S, A, S) float64 array, so answering needs about
8 S^2 A bytes; ``--no-answer`` stops after writing the case.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from coherence.envs import case_json, import_source, to_mdp
from coherence.envs.output import write_case_json
from coherence.queries import Evaluator
from coherence.reference.operators import PolicySpec


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Import, write, build the MDP and answer J_prob(G_1), timing each stage."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source")
    parser.add_argument("--horizon", type=int, required=True)
    parser.add_argument("--success", default="goal")
    parser.add_argument("--max-states", type=int, default=2_000_000)
    parser.add_argument("--no-answer", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    table = import_source(
        args.source,
        horizon=args.horizon,
        success=args.success,
        max_states=args.max_states,
        progress=True,
    )
    t_import = time.perf_counter()
    print(
        f"{args.source} {args.success} T={args.horizon}: {table.n_states} states, "
        f"{table.n_pairs} (t, s) pairs, {table.n_successors} successor entries"
    )
    print(f"  import      {t_import - start:8.2f} s   peak {_peak_mib():8.0f} MiB")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "case.json"
        write_case_json(out, case_json(table))
        size = out.stat().st_size
    t_write = time.perf_counter()
    print(
        f"  write JSON  {t_write - t_import:8.2f} s   peak {_peak_mib():8.0f} MiB"
        f"   ({size / 2**20:.1f} MiB)"
    )
    mdp = to_mdp(table)
    t_mdp = time.perf_counter()
    print(f"  build MDP   {t_mdp - t_write:8.2f} s   peak {_peak_mib():8.0f} MiB")
    if args.no_answer:
        return
    ev = Evaluator(mdp, "numpy")
    j_prior = ev.value("J_prob", PolicySpec("prior"))
    j_g1 = ev.value("J_prob", PolicySpec("G", k=1))
    t_answer = time.perf_counter()
    print(
        f"  G_1 numpy   {t_answer - t_mdp:8.2f} s   peak {_peak_mib():8.0f} MiB"
        f"   J_prob prior {j_prior:.6g}, G_1 {j_g1:.6g}"
    )
    print(f"  total       {t_answer - start:8.2f} s")


if __name__ == "__main__":
    main()
