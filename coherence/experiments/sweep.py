"""Sweeps: resumable, parallel, with provenance, to Parquet and CSV.

Each item (one instance of one experiment) has a content key: the SHA-256 of
its parameters' canonical JSON together with the case hash, the package
version and the code digest (:func:`code_digest`: the source of
``coherence.experiments``, ``coherence.reference``, ``coherence.backends``
and ``coherence._numbers``), so a change of code or parameters never reuses
an old result. Beside each table, ``NAME.manifest.json`` records the code
digest, the parameters, the instance set and whether it is the experiment's
whole published list (``complete``). A finished item is written at once, atomically, as
``DIR/NAME.parts/KEY.json``; a rerun skips items whose part exists, so an
interrupted sweep (Ctrl-C, a dead scheduler) resumes and loses no finished
result. The tables ``DIR/NAME.parquet`` and ``DIR/NAME.csv`` are written last,
each atomically (temporary file, then rename): a reader never sees half a table.

Work runs in a local process pool (chunks of items per task) or, with
``scheduler``, on a Dask distributed cluster (``dask.distributed.Client``); a
progress bar shows finished items.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import cache
from pathlib import Path
from typing import Any

from coherence import __version__
from coherence._io import (
    atomic_write_text,
    atomic_write_with,
    check_input_file,
    check_output_target,
    ensure_directory,
    path_inside,
    plain_stem,
    read_text,
)
from coherence.experiments.authors import tree_case
from coherence.experiments.runs import _tree, case_hash, run_item

__all__ = [
    "MAX_TABLE_BYTES",
    "SCHEDULER_PROTOCOLS",
    "check_scheduler",
    "check_sweep_targets",
    "code_digest",
    "item_key",
    "read_manifest",
    "read_table",
    "run_sweep",
]

_CODE = ("experiments", "reference", "backends")


@cache
def code_digest() -> str:
    """SHA-256 over the source files the rows depend on (path and bytes of
    every ``.py`` of coherence/experiments, reference, backends, and
    coherence/_numbers.py, sorted by path), plus the shipped data files."""
    root = Path(__file__).resolve().parent.parent
    files = [root / "_numbers.py"]
    for sub in _CODE:
        files += sorted((root / sub).rglob("*.py"))
    files += sorted((root / "experiments" / "data").glob("*"))
    h = hashlib.sha256()
    for f in sorted(files):
        if f.is_file():
            h.update(f.relative_to(root).as_posix().encode("utf-8") + b"\0")
            h.update(f.read_bytes() + b"\0")
    return h.hexdigest()


def item_key(item: dict[str, Any]) -> str:
    """The content key of an item (parameters + case hash + version + code)."""
    body = {
        "item": item,
        "case": case_hash(tree_case(_tree(item))),
        "version": __version__,
        "code": code_digest(),
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _run_chunk(
    chunk: list[tuple[str, dict[str, Any]]],
) -> list[tuple[str, list[dict[str, Any]]]]:
    return [(key, run_item(item)) for key, item in chunk]


#: Largest Parquet table read.
MAX_TABLE_BYTES = 256 * 2**20
#: Protocols ``--scheduler`` accepts (an address without one is tcp).
SCHEDULER_PROTOCOLS = ("tcp", "tls", "ws", "wss", "inproc")


def check_scheduler(address: str, timeout: float = 5.0) -> Any:
    """A connected ``dask.distributed.Client``; a one-line ValueError naming
    the address when it cannot be reached, speaks another protocol, or does not
    finish the whole handshake within ``timeout`` seconds (plus a second of
    grace); a peer that accepts and never answers is left behind in a daemon
    thread."""
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"--scheduler: expected an address, got {address!r}")
    protocol, sep, _ = address.partition("://")
    if sep and protocol not in SCHEDULER_PROTOCOLS:
        raise ValueError(
            f"--scheduler {address!r}: protocol {protocol!r} is not supported; "
            f"expected {', '.join(p + '://' for p in SCHEDULER_PROTOCOLS)}"
        )
    try:
        distributed: Any = importlib.import_module("dask.distributed")
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise ValueError(
            f"--scheduler: dask.distributed is unavailable ({exc})"
        ) from None
    import asyncio
    import threading

    comm: Any = importlib.import_module("distributed.comm")
    outcome: dict[str, Any] = {}

    async def handshake() -> None:
        # Dask's own connection handshake, bounded as a whole; only a peer that
        # completes it gets a Client (a failed Client lingers until its close
        # times out)
        link = await asyncio.wait_for(comm.connect(address, timeout=timeout), timeout)
        await link.close()

    def connect() -> None:
        try:
            asyncio.run(handshake())
            outcome["client"] = distributed.Client(address, timeout=timeout)
        except BaseException as exc:  # reported below, in one line
            outcome["error"] = exc

    thread = threading.Thread(target=connect, name="scheduler-handshake", daemon=True)
    thread.start()
    thread.join(2 * timeout + 1.0)
    if "client" in outcome:
        return outcome["client"]
    failure = outcome.get("error")
    if failure is None or (isinstance(failure, TimeoutError) and not str(failure)):
        raise ValueError(
            f"--scheduler: cannot reach {address!r} (no Dask handshake within "
            f"{timeout:g} s; --scheduler-timeout)"
        )
    if isinstance(failure, (KeyboardInterrupt, SystemExit)):
        raise failure
    text = " ".join(str(failure).split())[:200] or type(failure).__name__
    if isinstance(failure, MemoryError):  # a frame length read from a foreign peer
        text = f"the peer does not speak Dask's protocol: {text}"
    raise ValueError(f"--scheduler: cannot reach {address!r} ({text})")


def _write_tables(rows: list[dict[str, Any]], out: Path, name: str) -> list[Path]:
    pa: Any = importlib.import_module("pyarrow")
    pacsv: Any = importlib.import_module("pyarrow.csv")
    pq: Any = importlib.import_module("pyarrow.parquet")

    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    table = pa.table({c: [row.get(c) for row in rows] for c in columns})
    table = table.replace_schema_metadata(
        {"coherence_version": __version__, "sweep": name}
    )
    paths = []
    writers: tuple[tuple[str, Any], ...] = (
        (".parquet", pq.write_table),
        (".csv", pacsv.write_csv),
    )
    for suffix, writer in writers:
        target = path_inside(out, name, suffix)

        def write(tmp: str, writer: Any = writer) -> None:
            writer(table, tmp)

        atomic_write_with(target, write)
        paths.append(target)
    return paths


def read_manifest(directory: str | os.PathLike[str], name: str) -> dict[str, Any]:
    """``DIR/NAME.manifest.json`` (a one-line ValueError when missing or bad)."""
    path = path_inside(directory, name, ".manifest.json")
    try:
        data = json.loads(read_text(path, "manifest"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the manifest ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the manifest is not a JSON object")
    return data


def check_sweep_targets(out: str | os.PathLike[str], name: str) -> None:
    """Before any work: the tables and manifest a sweep writes into ``out``
    must be absent or regular files (never a FIFO or device), and an existing
    ``NAME.parquet`` must be this sweep's own table (a foreign file is refused,
    not replaced); a one-line ValueError otherwise."""
    base = Path(out)
    for suffix in (".parquet", ".csv", ".manifest.json"):
        check_output_target(path_inside(base, name, suffix))
    table = path_inside(base, name, ".parquet")
    if not table.exists():
        return
    pq: Any = importlib.import_module("pyarrow.parquet")
    try:
        meta = pq.read_schema(os.fspath(table)).metadata or {}
    except (OSError, ValueError) as exc:
        text = " ".join(str(exc).split())[:120]
        raise ValueError(
            f"{os.fspath(table)}: exists and is not a readable Parquet table "
            f"({text}); move it away or choose another --out"
        ) from None
    found = meta.get(b"sweep", b"").decode("utf-8", "replace")
    if found != name:
        raise ValueError(
            f"{os.fspath(table)}: exists and is not a table of the {name} sweep "
            f"(its metadata names {found or 'no sweep'}); move it away or choose "
            "another --out"
        )


def read_table(
    path: str | os.PathLike[str], sweep: str | None = None
) -> list[dict[str, Any]]:
    """The rows of a sweep's Parquet table; with ``sweep``, the table's
    metadata must name that sweep (a foreign Parquet file is a one-line
    ValueError, not a missing column later)."""
    pq: Any = importlib.import_module("pyarrow.parquet")
    check_input_file(path, "table", MAX_TABLE_BYTES)
    try:
        table = pq.read_table(os.fspath(path))
    except (OSError, ValueError) as exc:
        text = " ".join(str(exc).split())
        raise ValueError(f"{os.fspath(path)}: cannot read the table ({text})") from None
    if sweep is not None:
        meta = table.schema.metadata or {}
        found = meta.get(b"sweep", b"").decode("utf-8", "replace")
        if found != sweep:
            raise ValueError(
                f"{os.fspath(path)}: not a table of the {sweep} sweep (its "
                f"metadata names {found or 'no sweep'}); move it away or choose "
                "another --out"
            )
    return list(table.to_pylist())


def run_sweep(
    items: Sequence[dict[str, Any]],
    out: str | os.PathLike[str],
    name: str,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    scheduler_timeout: float = 5.0,
    chunk: int = 4,
    progress: bool = True,
    on_result: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run ``items`` (see :func:`coherence.experiments.runs.run_item`), resuming
    from ``out/name.parts``, and write ``out/name.parquet`` and ``.csv``.

    ``workers`` = 0 runs in this process; None uses the CPU count; ``scheduler``
    (an address) uses Dask instead. Returns every row, in item order.
    """
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk <= 0:
        raise ValueError(f"chunk: expected a positive integer, got {chunk!r}")
    if workers is not None and (isinstance(workers, bool) or workers < 0):
        raise ValueError(f"workers: expected a non-negative integer, got {workers!r}")
    plain_stem(name)
    check_sweep_targets(out, name)
    parts = path_inside(Path(out), name, ".parts")
    if parts.exists() and (parts.is_symlink() or not parts.is_dir()):
        raise ValueError(f"{os.fspath(parts)!r}: exists and is not a directory")
    client = (
        check_scheduler(scheduler, timeout=scheduler_timeout)
        if scheduler is not None
        else None
    )
    directory = ensure_directory(out)
    parts.mkdir(exist_ok=True)
    keyed = [(item_key(it), dict(it)) for it in items]
    todo = [(k, it) for k, it in keyed if not path_inside(parts, k, ".json").exists()]
    chunks = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]

    from tqdm import tqdm

    bar = tqdm(
        total=len(keyed),
        initial=len(keyed) - len(todo),
        desc=name,
        disable=not progress,
        unit="instance",
    )

    def save(results: list[tuple[str, list[dict[str, Any]]]]) -> None:
        for key, rows in results:
            # Infinity is allowed here: an effective horizon may be infinite
            atomic_write_text(
                path_inside(parts, key, ".json"),
                json.dumps({"key": key, "rows": rows}) + "\n",
            )
            bar.update(1)
            if on_result is not None:
                on_result(key)

    try:
        if client is not None:
            try:
                dask_completed: Any = importlib.import_module(
                    "dask.distributed"
                ).as_completed

                futures = [client.submit(_run_chunk, c, pure=False) for c in chunks]
                for fut in dask_completed(futures):
                    save(fut.result())
            finally:
                client.close()
        elif workers == 0 or len(chunks) <= 1:
            for c in chunks:
                save(_run_chunk(c))
        else:
            n = workers or os.cpu_count() or 1
            with ProcessPoolExecutor(max_workers=n) as pool:
                pending = [pool.submit(_run_chunk, c) for c in chunks]
                try:
                    for fut in as_completed(pending):
                        save(fut.result())
                except BaseException:
                    for fut in pending:
                        fut.cancel()
                    raise
    finally:
        bar.close()
    rows: list[dict[str, Any]] = []
    for key, _ in keyed:
        data = json.loads(read_text(path_inside(parts, key, ".json"), "sweep part"))
        rows.extend(data["rows"])
    _write_tables(rows, directory, name)
    atomic_write_text(
        path_inside(directory, name, ".manifest.json"),
        json.dumps(manifest(items, name, [k for k, _ in keyed], len(rows)), indent=1)
        + "\n",
    )
    return rows


def manifest(
    items: Sequence[dict[str, Any]], name: str, keys: Sequence[str], rows: int
) -> dict[str, Any]:
    """What a table holds: code digest, version, the parameters shared by all
    items and those that vary, the instance set, and ``complete``: whether
    the instances are exactly the experiment's published list with default
    parameters (:func:`coherence.experiments.runs.instance_items`)."""
    from coherence.experiments.runs import instance_items

    experiments = sorted({str(it.get("experiment")) for it in items})
    complete = False
    if len(experiments) == 1:
        try:
            default = instance_items(experiments[0])
        except ValueError:
            default = []
        complete = [dict(it) for it in items] == default
    shared: dict[str, Any] = {}
    if items:
        for k, v in items[0].items():
            if k in ("family", "seed", "actions", "depth", "stochastic", "clip"):
                continue
            if all(it.get(k) == v for it in items):
                shared[k] = v
    return {
        "format": "coherence-sweep-manifest/1",
        "sweep": name,
        "experiments": experiments,
        "coherence_version": __version__,
        "code_digest": code_digest(),
        "parameters": shared,
        "complete": complete,
        "instances": len(items),
        "rows": rows,
        "instance_set": [
            [it.get("family"), it.get("seed"), it.get("clip")] for it in items
        ],
        "keys": list(keys),
    }
