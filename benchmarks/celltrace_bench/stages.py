"""Where the default pipeline spends its time: a sampling profiler attributing wall time to stages.

A background thread looks at the main thread's Python stack every ``interval`` seconds and charges
the time since its previous look to the *innermost celltrace frame* on that stack (numpy / scipy /
TIFF-decoding time lands on the celltrace function that called it). Frames are then grouped into
stages by module: ``io`` + ``movie`` + ``frames`` (reading frames), ``segmentation``, ``linking``,
``tracking`` (relabel, validation), ``methods.<name>`` (the method's own glue), ``synth`` (rendering a
synthetic input, not part of a real pipeline). Sampling keeps the overhead to a few percent, unlike
a deterministic profiler, so the measured run stays representative.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter

PKG = "celltrace"


def _where(frame) -> tuple[str, str] | None:
    while frame is not None:
        mod = frame.f_globals.get("__name__", "")
        if mod == PKG or mod.startswith(PKG + "."):
            return mod, frame.f_code.co_name
        frame = frame.f_back
    return None


def stage_of(module: str) -> str:
    parts = module.split(".")
    sub = parts[1] if len(parts) > 1 else "api"
    if sub in ("io", "movie", "frames"):
        return "read frames (io)"
    if sub == "methods" and len(parts) > 2:
        return f"methods.{parts[2]}" + (f".{parts[3]}" if len(parts) > 3 else "")
    return sub


class StageSampler:
    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.by_function: Counter = Counter()
        self._stop = threading.Event()
        self._main = threading.main_thread().ident

    def __enter__(self) -> "StageSampler":
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.total = time.perf_counter() - self._t0

    def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop.wait(self.interval):
            now = time.perf_counter()
            frame = sys._current_frames().get(self._main)
            where = _where(frame) or ("(outside celltrace)", "")
            self.by_function[where] += now - last
            last = now

    def stages(self) -> list[dict]:
        agg: Counter = Counter()
        for (mod, _), s in self.by_function.items():
            agg[stage_of(mod) if mod != "(outside celltrace)" else mod] += s
        tot = sum(agg.values()) or 1.0
        return [{"stage": k, "seconds": v, "share": v / tot} for k, v in agg.most_common()]

    def functions(self, n: int = 8) -> list[dict]:
        tot = sum(self.by_function.values()) or 1.0
        return [{"function": f"{m}.{f}" if f else m, "seconds": s, "share": s / tot}
                for (m, f), s in self.by_function.most_common(n)]
