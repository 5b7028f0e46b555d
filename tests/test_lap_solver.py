"""The shadow-object LAP solver against an exhaustive reference, on random, tied, near-equal and
negative costs (hypothesis), and the real frame pair on which scipy's sparse solver never returned."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from celltrace.linking.lap import solve_lap

from conftest import shared_data


def objective(rows, cols, costs, d, b, r, c) -> float:
    """Total cost of links ``(r, c)``: link costs plus the deaths and births of everything unlinked."""
    best = {}
    for i, j, w in zip(rows.tolist(), cols.tolist(), costs.tolist()):
        if np.isfinite(w):
            best[(i, j)] = min(w, best.get((i, j), np.inf))
    return sum(best[(i, j)] for i, j in zip(r.tolist(), c.tolist())) + d.sum() - d[r].sum() + b.sum() - b[c].sum()


def brute_force(n, m, rows, cols, costs, d, b) -> float:
    """Minimum objective over every matching of the candidates, by enumeration (small problems)."""
    cand: dict[int, dict[int, float]] = {}
    for i, j, w in zip(rows.tolist(), cols.tolist(), costs.tolist()):
        if np.isfinite(w):
            cand.setdefault(i, {})[j] = min(w, cand.get(i, {}).get(j, np.inf))
    base = float(d.sum() + b.sum())

    def best(i: int, used: frozenset) -> float:
        if i == n:
            return 0.0
        value = best(i + 1, used)  # row i unlinked
        for j, w in cand.get(i, {}).items():
            if j not in used:
                value = min(value, w - d[i] - b[j] + best(i + 1, used | {j}))
        return value

    return base + best(0, frozenset())


COSTS = st.one_of(
    st.floats(-2.0, 10.0, allow_nan=False, allow_infinity=False),       # arbitrary, slightly negative
    st.sampled_from([0.0, 1.0, 1.0 + 1e-12, 1.0 - 1e-12, -1e-6, 2.0]),  # ties and near-ties
    st.just(np.inf), st.just(np.nan),                                   # forbidden
)


@st.composite
def problems(draw):
    n, m = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    k = draw(st.integers(0, n * m + 3)) if n and m else 0
    rows = np.array(draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k)) if n else [], np.int64)
    cols = np.array(draw(st.lists(st.integers(0, m - 1), min_size=k, max_size=k)) if m else [], np.int64)
    costs = np.array(draw(st.lists(COSTS, min_size=k, max_size=k)), np.float64)
    tied = draw(st.booleans())
    dcost = st.sampled_from([0.5, 1.0]) if tied else st.floats(0.0, 6.0)
    d = np.array(draw(st.lists(dcost, min_size=n, max_size=n)), np.float64)
    b = np.array(draw(st.lists(dcost, min_size=m, max_size=m)), np.float64)
    return n, m, rows, cols, costs, d, b


@settings(max_examples=400, deadline=None)
@given(problems())
def test_solve_lap_is_optimal_and_a_matching(problem):
    n, m, rows, cols, costs, d, b = problem
    r, c = solve_lap(n, m, rows, cols, costs, d, b)
    assert len(set(r.tolist())) == len(r) and len(set(c.tolist())) == len(c)
    allowed = {(i, j) for i, j, w in zip(rows.tolist(), cols.tolist(), costs.tolist()) if np.isfinite(w)}
    assert all((i, j) in allowed for i, j in zip(r.tolist(), c.tolist()))
    assert objective(rows, cols, costs, d, b, r, c) == pytest.approx(brute_force(n, m, rows, cols, costs, d, b),
                                                                    abs=1e-9)


def test_solve_lap_rejects_non_finite_alternative_costs():
    with pytest.raises(ValueError, match="finite"):
        solve_lap(1, 1, np.array([0]), np.array([0]), np.array([1.0]), np.inf, 1.0)


def dense_block_reference(n, m, rows, cols, costs, d, b) -> float:
    """The optimum of the (n+m) x (m+n) block matrix of the module docstring, solved densely."""
    big = 1e9
    full = np.full((n + m, m + n), big)
    full[rows, cols] = np.minimum(full[rows, cols], costs)
    full[np.arange(n), m + np.arange(n)] = d
    full[n + np.arange(m), np.arange(m)] = b
    full[n + cols, m + rows] = 0.0
    ri, ci = linear_sum_assignment(full)
    return float(full[ri, ci].sum())


def test_regression_psc_frame_pair_is_solved_quickly_and_optimally():
    """lap_hang_psc.npz: scipy's min_weight_full_bipartite_matching never returned on it. Solved in a
    child process with a time bound, so a regression fails this test instead of hanging CI."""
    path = shared_data("regressions/lap_hang_psc.npz")
    code = textwrap.dedent(f"""
        import numpy as np, time
        from celltrace.linking.lap import solve_lap
        z = np.load({str(path)!r})
        t = time.perf_counter()
        r, c = solve_lap(int(z['n']), int(z['m']), z['rows'], z['cols'], z['costs'], z['death_cost'], z['birth_cost'])
        print(time.perf_counter() - t, ' '.join(map(str, r)), '|', ' '.join(map(str, c)))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    seconds, links = proc.stdout.split(" ", 1)
    assert float(seconds) < 1.0
    r_txt, c_txt = links.split("|")
    r, c = np.array(r_txt.split(), np.int64), np.array(c_txt.split(), np.int64)
    z = np.load(path)
    n, m = int(z["n"]), int(z["m"])
    d, b = np.full(n, float(z["death_cost"])), np.full(m, float(z["birth_cost"]))
    got = objective(z["rows"], z["cols"], z["costs"], d, b, r, c)
    assert got == pytest.approx(dense_block_reference(n, m, z["rows"], z["cols"], z["costs"], d, b), abs=1e-9)
    assert len(r) > 50  # most of the 99 cells continue into the next frame
