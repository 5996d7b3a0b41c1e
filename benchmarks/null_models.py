"""Time each built-in null model on the 96-region set, against a plain-loop baseline.

Prints one JSON line per null model: the median and minimum wall time (s) of
``--repeats`` randomisations of the 96-region matrix (swaps_per_edge = 10
where the model has the parameter), what the model did (its history step),
and ``speedup_vs_baseline`` = baseline median / model median, and how far the
last surrogate is from the connectome (``jaccard`` of the directed edge sets,
the change of each graph measure, and ``distance_seconds``, the time of
:func:`encephagen.connectome_view.distance`). The baseline,
measured in the same run, is a straightforward pure-Python sequential
Maslov-Sneppen loop (spec section 7, self-loops left out) written below.

With the package ``cect`` installed, the same lines follow for the
neuron-level models on the Cook 2019 hermaphrodite (302 neurons, gap
junctions rewired), with ``gap_pairs_moved``, the gap-junction pairs not
joined in the connectome; ``speedup_vs_baseline`` is left out there (the
baseline runs on the 96-region set).

    python benchmarks/null_models.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import time
import zipfile
from collections.abc import Callable

import attrs
import numpy as np
import tvb_data

from encephagen.connectome import Connectome
from encephagen.connectome_view import distance
from encephagen.invariants import check_invariants
from encephagen_builtins.null_models import (
    CellClassPreserving,
    DegreePreserving,
    ErdosRenyi,
    Spatial,
    StrengthPreserving,
    WeightShuffle,
)


def load_96() -> Connectome:
    """The 96-region set as the published code read it (rows = sources), with tract lengths."""
    path = os.path.join(os.path.dirname(tvb_data.__file__), "connectivity", "connectivity_96.zip")
    with zipfile.ZipFile(path) as z:
        w = np.loadtxt(z.open("weights.txt"))
        tl = np.loadtxt(z.open("tract_lengths.txt"))
        labels = [line.split()[0] for line in z.read("centres.txt").decode().splitlines() if line.strip()]
    return Connectome(w, labels, tract_lengths=tl, name="tvb:connectivity_96")


def baseline_maslov_sneppen(w: np.ndarray, swaps_per_edge: float, seed: int) -> tuple[np.ndarray, int]:
    """Plain sequential loop: ``swaps_per_edge * n_edges`` attempts on the between-region edges."""
    b = w.copy()
    np.fill_diagonal(b, 0.0)
    src, dst = np.nonzero(b)
    edges = [[int(s), int(d)] for s, d in zip(src, dst)]
    weights = [float(b[s, d]) for s, d in zip(src, dst)]
    present = {(s, d) for s, d in edges}
    rng = random.Random(seed)
    m, applied = len(edges), 0
    for _ in range(int(round(swaps_per_edge * m))):
        i = rng.randrange(m)
        j = rng.randrange(m - 1)
        if j >= i:
            j += 1
        a, bb = edges[i]
        c, d = edges[j]
        if a == d or c == bb or (a, d) in present or (c, bb) in present:
            continue
        present.discard((a, bb))
        present.discard((c, d))
        present.add((a, d))
        present.add((c, bb))
        edges[i][1] = d
        edges[j][1] = bb
        applied += 1
    out = np.diag(np.diag(w)).copy()
    for (s, d), v in zip(edges, weights):
        out[s, d] = v
    return out, applied


def timed(fn: Callable[[int], object], repeats: int) -> tuple[list[float], object]:
    times, result = [], None
    for seed in range(repeats):
        t0 = time.perf_counter()
        result = fn(seed)
        times.append(time.perf_counter() - t0)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    c = load_96()
    base_times, (base_w, base_applied) = timed(lambda s: baseline_maslov_sneppen(c.weights, 10, s), args.repeats)
    base_med = statistics.median(base_times)
    print(json.dumps({
        "model": "baseline:pure_python_sequential_maslov_sneppen",
        "swaps_per_edge": 10,
        "seconds_median": round(base_med, 5),
        "seconds_min": round(min(base_times), 5),
        "repeats": args.repeats,
        "detail": f"{base_applied} of {round(10 * c.n_edges)} attempted swaps applied",
    }))

    models = [
        DegreePreserving(swaps_per_edge=10),
        ErdosRenyi(),
        WeightShuffle(),
        StrengthPreserving(swaps_per_edge=10),
        Spatial(swaps_per_edge=10),
        Spatial(),
    ]
    for model in models:
        row = measure(model, c, args.repeats)
        print(json.dumps({**row, "speedup_vs_baseline": round(base_med / row["seconds_median"], 2)}))
    if importlib.util.find_spec("cect") is None:
        return
    from encephagen_builtins.connectomes.celegans import CelegansConnectome

    worm = CelegansConnectome(dataset="cook2019_herm").load()
    for model in (
        DegreePreserving(gap_junctions="rewire"),
        ErdosRenyi(gap_junctions="rewire"),
        WeightShuffle(gap_junctions="rewire"),
        CellClassPreserving(gap_junctions="rewire"),
        CellClassPreserving(match="targets", gap_junctions="rewire"),
    ):
        print(json.dumps(measure(model, worm, args.repeats)))


def measure(model: object, c: Connectome, repeats: int) -> dict[str, object]:
    """Times, edges moved, invariants and distance of ``repeats`` surrogates of ``c`` (the last one measured)."""
    times, sur = timed(lambda s: model.randomize(c, np.random.default_rng(s)), repeats)  # type: ignore[attr-defined]
    violations = check_invariants(model, c, sur)
    moved = int(np.count_nonzero((sur.between != 0) & (c.between == 0)))
    t0 = time.perf_counter()
    jaccard, changes = distance(c.weights, sur.weights)
    distance_seconds = time.perf_counter() - t0
    row: dict[str, object] = {
        "model": model.name,  # type: ignore[attr-defined]
        "connectome": c.name,
        "params": attrs.asdict(model),
        "seconds_median": round(statistics.median(times), 5),
        "seconds_min": round(min(times), 5),
        "repeats": repeats,
        "edges_moved": moved,
        "invariants_hold": not violations,
        "jaccard": round(jaccard, 4),
        "change": {m: round(d, 4) for m, _, _, d in changes},
        "distance_seconds": round(distance_seconds, 5),
        "detail": sur.history[-1],
    }
    if c.gap_junctions is not None:
        row["gap_pairs_moved"] = int(np.count_nonzero(np.triu((sur.gap_junctions != 0) & (c.gap_junctions == 0), 1)))
    return row


if __name__ == "__main__":
    main()
