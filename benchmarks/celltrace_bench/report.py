"""Results → Markdown tables, JSON and the scaling plot (log-log PNG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from celltrace_bench.worker import SCORE_KEYS

SCORE_HEAD = ["TRA", "DET", "SEG", "LNK", "BC(2)", "DIV F1", "MOTA", "IDF1"]


def _f(x: Any, nd: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows]
    return "\n".join(out)


def _status(r: dict[str, Any]) -> str | None:
    if r.get("status", "ok") == "ok":
        return None
    return f"{r.get('status')}: {str(r.get('error', r.get('timeout_s', '')))[:80]}"


def _scores(r: dict[str, Any]) -> list[Any]:
    s = r.get("scores") or {}
    return [s.get(k) for k in SCORE_KEYS]


def _mem(r: dict[str, Any]) -> str:
    if r.get("peak_mb") is None:
        return "–"
    return f"{r['peak_mb']:.0f}"


def accuracy_md(sec: dict[str, Any]) -> str:
    rows = []
    for r in sec["rows"]:
        st = _status(r)
        if st:
            rows.append([r["dataset"], r["method"], st] + [""] * 10)
            continue
        rows.append([r["dataset"], r["method"], str(r["frames"])] + _scores(r)
                    + [f"{r['s_per_frame']:.3f}", _mem(r), str(r.get("repeats", 1))])
    return _table(["dataset", "method", "frames"] + SCORE_HEAD + ["s/frame", "peak MiB", "runs"], rows)


def peers_md(sec: dict[str, Any]) -> str:
    rows = []
    for r in sec["rows"]:
        st = _status(r)
        if st:
            rows.append([r.get("dataset", ""), r.get("segmentation", ""), r.get("linker", ""), st] + [""] * 10)
            continue
        core = r.get("core_s")
        rows.append([r["dataset"], r["segmentation"], r["linker"], str(r["frames"])] + _scores(r)
                    + [f"{r['s_per_frame']:.4f}", f"{core / r['frames']:.4f}" if core is not None else "–", _mem(r)])
    return _table(["dataset", "segmentation", "linker", "frames"] + SCORE_HEAD
                  + ["s/frame", "core s/frame", "peak MiB"], rows)


def scaling_md(sec: dict[str, Any]) -> str:
    rows = []
    by_n: dict[int, dict[str, float]] = {}
    for r in sec["rows"]:
        st = _status(r)
        if st:
            rows.append([str(r.get("cells")), r.get("linker", ""), st, "", "", "", "", ""])
            continue
        by_n.setdefault(r["cells"], {})[r["linker"]] = r["s_per_frame"]
        rows.append([str(r["cells"]), r["linker"], f"{r['cells_per_frame']:.0f}", f"{r['s_per_frame']:.4f}",
                     _mem(r), f"{r['peak_mb'] - r['base_mb']:.0f}" if r.get("base_mb") else "–",
                     f"{r['link_F1']:.4f}", str(r.get("repeats", 1))])
    out = _table(["cells/frame (target)", "linker", "cells/frame (mean)", "s/frame (median)", "peak MiB",
                  "Δ MiB", "link F1", "runs"], rows)
    ratios = []
    for n, d in sorted(by_n.items()):
        ours = d.get("celltrace-lap")
        if ours:
            ratios.append([str(n)] + [f"{d[p] / ours:.1f}×" if p in d else "–" for p in ["laptrack", "btrack"]]
                          + ["yes" if ours <= 1.0 else "no"])
    if ratios:
        out += "\n\nPeer time ÷ ours (same run, same input; > 1 means ours is faster):\n\n"
        out += _table(["cells/frame", "laptrack ÷ ours", "btrack ÷ ours", "ours ≤ 1 s/frame"], ratios)
    return out


def memory_md(sec: dict[str, Any]) -> str:
    rows = []
    for r in sec["rows"]:
        st = _status(r)
        if st:
            rows.append([str(r.get("frames_requested")), "", st, "", "", ""])
            continue
        rows.append([str(r["frames_requested"]), str(r["frames"]), f"{r['s_per_frame']:.3f}", _mem(r),
                     f"{r['peak_mb'] - r['base_mb']:.0f}" if r.get("base_mb") else "–",
                     _f(r.get("end_anon_mb"), 0), _f(r.get("end_file_mb"), 0), f"{r['seconds']:.0f}"])
    out = _table(["frames asked", "frames run", "s/frame", "peak MiB", "Δ MiB", "anon MiB at end",
                  "file-backed MiB at end", "seconds"], rows)
    ok = [r for r in sec["rows"] if r.get("status", "ok") == "ok" and r.get("peak_mb")]
    if len(ok) >= 2:
        a, b = ok[0], ok[-1]
        slope = (b["peak_mb"] - a["peak_mb"]) / (b["frames"] - a["frames"])
        verdict = "flat (streams)" if abs(slope) * 1000 < 50 else "grows with movie length (does not stream)"
        out += (f"\n\nPeak memory {verdict}: {1000 * slope:+.0f} MiB per 1,000 frames between {a['frames']} and "
                f"{b['frames']} frames (target: flat, < 2 GB at 5,000 frames).")
    return out


def profile_md(r: dict[str, Any]) -> str:
    st = _status(r)
    if st:
        return st
    out = [f"{r['method']} on {r['dataset']} ({r['frames']} frames): {r['seconds']:.1f} s, "
           f"{r['s_per_frame']:.3f} s/frame (sampled wall time; tracking + writing the RES folder)", ""]
    out.append(_table(["stage", "seconds", "share"],
                      [[s["stage"], f"{s['seconds']:.1f}", f"{100 * s['share']:.0f} %"] for s in r["stages"]]))
    tm = r.get("timing") or {}
    if tm.get("total_s"):
        parts = {k: v for k, v in tm.items() if k != "total_s"}
        out += ["", f"The method's own stage timers (meta['timing'], inside track(); total {tm['total_s']:.1f} s): "
                + ", ".join(f"{k[:-2]} {v:.1f} s ({100 * v / tm['total_s']:.0f} %)" for k, v in parts.items())]
    out += ["", "Hottest celltrace functions (innermost celltrace frame):", ""]
    out.append(_table(["function", "seconds", "share"],
                      [[f["function"], f"{f['seconds']:.1f}", f"{100 * f['share']:.0f} %"] for f in r["functions"]]))
    return "\n".join(out)


def plot_scaling(sec: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    series: dict[str, list[tuple[float, float, float]]] = {}
    for r in sec["rows"]:
        if r.get("status", "ok") == "ok":
            series.setdefault(r["linker"], []).append((r["cells_per_frame"], r["s_per_frame"], r["peak_mb"]))
    if not series:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, pts in series.items():
        pts.sort()
        x = [p[0] for p in pts]
        axes[0].loglog(x, [p[1] for p in pts], "o-", label=name)
        axes[1].loglog(x, [p[2] for p in pts], "o-", label=name)
    axes[0].axhline(1.0, color="gray", ls="--", lw=0.8)
    axes[0].set(xlabel="cells per frame", ylabel="seconds per frame (median)", title="linking time")
    axes[1].set(xlabel="cells per frame", ylabel="peak RSS (MiB)", title="linking peak memory")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write_report(res: dict[str, Any], out: Path) -> None:
    (out / "results.json").write_text(json.dumps(res, indent=1, default=float))
    m = res.get("machine", {})
    sec = res.get("sections", {})
    lines = ["# celltrace benchmark", "",
             f"- commit `{m.get('commit_short')}`{' (+ uncommitted changes)' if m.get('dirty') else ''}, {m.get('date')}",
             f"- machine: {m.get('cores')} cores ({m.get('cpu')}), {m.get('memory_gb')} GB, load {_f(m.get('load_avg_1m'), 2)} at start; "
             f"GPU: {m.get('gpu', {}).get('name') if m.get('gpu', {}).get('available') else 'none'}",
             f"- versions: " + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items()),
             f"- command: `{res.get('command')}`; total {res.get('total_seconds', 0):.0f} s",
             f"- methods: {', '.join(res.get('methods', []))}; peers: "
             + ", ".join(f"{k} {v}" for k, v in res.get("peers", {}).items()),
             f"- sequences: {', '.join(res.get('sequences', []))}", ""]
    if "accuracy" in sec and "rows" in sec["accuracy"]:
        lines += [f"## 1. Accuracy (first {sec['accuracy']['frames']} frames of each sequence)", "",
                  accuracy_md(sec["accuracy"]), ""]
    if "peers" in sec and "rows" in sec["peers"]:
        lines += [f"## 2. Linking the same segmentation: ours vs peers (first {sec['peers']['frames']} frames)", "",
                  "Settings: " + ", ".join(f"`{v['file']}`" for v in sec["peers"]["settings"].values()), "",
                  peers_md(sec["peers"]), ""]
    if "scaling" in sec and "rows" in sec["scaling"]:
        fr = sec["scaling"]["frames"]
        fr = ", ".join(f"{v} at {k}" for k, v in fr.items()) if isinstance(fr, dict) else fr
        lines += [f"## 3. Linking scalability (synthetic point tables; frames per movie: {fr}; "
                  "density constant: 2048² px at 10,000 cells)", "", scaling_md(sec["scaling"]), "",
                  "![scaling](scaling.png)" if plot_scaling(sec["scaling"], out / "scaling.png") else "", ""]
    if "memory" in sec and "rows" in sec["memory"]:
        lines += ["## 4. Memory vs movie length (default pipeline, synthetic 512², ~80 cells/frame, "
                  "masks consumed frame by frame)", "", memory_md(sec["memory"]), ""]
    if "profile" in sec and "stages" in sec.get("profile", {}) or sec.get("profile", {}).get("status") not in (None, "ok"):
        lines += ["## Where the default pipeline spends its time", "", profile_md(sec["profile"]), ""]
    if "gpu" in sec:
        g = sec["gpu"]
        lines += ["## 5. GPU", ""]
        lines += [f"skipped: {g['skipped']}" if "skipped" in g else accuracy_md(g), ""]
    (out / "results.md").write_text("\n".join(lines))
