"""Weights files from the last checkpoints of training runs that were stopped before their end.

    python scripts/checkpoint_weights.py MODELS_DIR

For every ``NAME.pt.ckpt/last.pt`` in MODELS_DIR without a finished ``NAME.pt``, writes ``NAME.pt``
(caliban segmentation weights, with the run's config as its checkpoint records it) and ``NAME.json``
(a manifest that says the run was cut short, at which step, with its settings and loss history).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from celltrace.methods.caliban.config import CalibanSegConfig  # noqa: E402
from celltrace.methods.caliban.segmentation_model import CalibanSegModel, save_model  # noqa: E402
from celltrace.train.loop import CHECKPOINT_NAME, load_checkpoint  # noqa: E402


def main(folder: Path) -> None:
    for ckpt in sorted(folder.glob(f"*.pt.ckpt/{CHECKPOINT_NAME}")):
        out = folder / ckpt.parent.name[: -len(".ckpt")]
        if out.exists():
            continue
        state = load_checkpoint(ckpt)
        settings = (state.get("extra") or {}).get("settings") or {}
        model = CalibanSegModel(CalibanSegConfig.from_params(**settings.get("config", {})))
        model.load_state_dict(state["model"])
        history = state["history"]
        save_model(model, out, extra={"manifest": {"steps": state["step"], "cut_short": True}})
        out.with_suffix(".json").write_text(json.dumps({
            "method": "caliban", "part": "segmentation", "cut_short": True, "steps": int(state["step"]),
            "settings": settings,
            "loss_last_100": sum(history["loss"][-100:]) / max(1, len(history["loss"][-100:])),
            "seconds": history.get("seconds")}, indent=1))
        print(f"{out}: from checkpoint at step {state['step']}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
