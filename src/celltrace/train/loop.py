"""The one training loop every learned method uses: seeded, resumable, checkpointed atomically.

A step is ``loss = loss_fn(model, batch)``; ``loss.backward()``; optional gradient-norm clipping
(``||g||_2 <= clip_norm``); ``optimizer.step()``; optional ``scheduler.step()``. The loop keeps the
loss history and, every ``checkpoint_every`` steps and at the end, writes ``last.pt`` holding the
model, optimizer (and scheduler) state, the step, the history and the states of the python, numpy
and torch random generators — so a run that is killed continues from its last checkpoint exactly
as if it had never stopped (same parameters, same losses), provided the batches are reproducible:

* ``batches`` as a **callable** ``batches(step) -> batch`` (recommended; e.g. a sampler seeded with
  ``(seed, step)``): step ``k`` gets the same batch whether or not the run was resumed;
* ``batches`` as an **iterable**: consumed in order. On resume the random generators are restored,
  so an endless stream that draws from the global generators continues where it stopped; an
  iterable with its own position (a list, a DataLoader) is fast-forwarded past the steps already
  done with ``fast_forward=True``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from celltrace.errors import CelltraceError
from celltrace.io.atomic import atomic_file

CHECKPOINT_NAME = "last.pt"

LossResult = Union[torch.Tensor, tuple[torch.Tensor, dict[str, float]]]
LossFn = Callable[[torch.nn.Module, Any], LossResult]
"""``loss_fn(model, batch) -> loss`` or ``(loss, {name: value})`` (extra numbers are logged)."""


@dataclass
class History:
    """What a run did: ``loss[k]`` is the loss of step ``k``; ``parts[name][k]`` the logged terms."""

    loss: list[float] = field(default_factory=list)
    parts: dict[str, list[float]] = field(default_factory=dict)
    steps: int = 0
    resumed_from: int | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"loss": list(self.loss), "parts": {k: list(v) for k, v in self.parts.items()}, "steps": self.steps,
                "resumed_from": self.resumed_from, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        return cls(loss=list(d.get("loss", [])), parts={k: list(v) for k, v in d.get("parts", {}).items()},
                   steps=int(d.get("steps", 0)), resumed_from=d.get("resumed_from"), seconds=float(d.get("seconds", 0.0)))

    def mean_last(self, n: int = 20) -> float:
        """Mean loss of the last ``n`` steps (NaN before the first step)."""
        return float(np.mean(self.loss[-n:])) if self.loss else float("nan")


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """States of the python, numpy and torch generators (as picklable plain objects)."""
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators saved by :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int,
                    history: History, scheduler: Any = None, extra: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically: a temporary file beside ``path``, renamed onto it when complete,
    so a crash mid-write leaves the previous checkpoint intact."""
    path = Path(path)
    payload = {"format": "celltrace-checkpoint", "version": 1, "step": int(step),
               "model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "scheduler": scheduler.state_dict() if scheduler is not None else None,
               "history": history.as_dict(), "rng": rng_state(), "extra": extra or {}}
    with atomic_file(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    # our own files: they hold numpy/python RNG states, which the weights-only unpickler refuses
    return torch.load(Path(path), map_location=map_location, weights_only=False)


def checkpoint_folder(out: str | Path, checkpoint_dir: str | Path | None = None) -> Path:
    """Where a training run that writes the weights ``out`` keeps its checkpoints:
    ``checkpoint_dir`` if given, else ``<out>.ckpt/`` beside it (so an interrupted run resumes)."""
    out = Path(out)
    return Path(checkpoint_dir) if checkpoint_dir is not None else out.with_name(out.name + ".ckpt")


def load_initial_weights(model: torch.nn.Module, init: str | Path,
                         load_model: Callable[[str | Path], torch.nn.Module]) -> None:
    """Start ``model`` from the weights file ``init`` (read by the method's ``load_model``) instead of
    a random initialisation; weights of another network give one error line naming the file."""
    try:
        model.load_state_dict(load_model(init).state_dict())
    except RuntimeError as exc:
        raise CelltraceError(f"{init}: initial weights do not fit the network of this config "
                             f"({str(exc).splitlines()[0]})") from None


def _plain(x: Any) -> Any:
    """``x`` as plain JSON values (tuples become lists, paths strings), for comparing settings."""
    import json

    return json.loads(json.dumps(x, default=str, sort_keys=True))


def check_settings(ckpt: Path, stored: dict[str, Any] | None, settings: dict[str, Any]) -> None:
    """Refuse (one line) to resume the checkpoint ``ckpt`` of a run whose ``stored`` settings differ
    from ``settings`` (or were not recorded)."""
    hint = "use --restart (resume=False) to start over, or another --out"
    if stored is None:
        raise CelltraceError(f"{ckpt}: checkpoint without a record of its settings, so it cannot be resumed "
                             f"safely; {hint}")
    new = _plain(settings)
    diffs = []
    for key in sorted(set(stored) | set(new)):
        a, b = stored.get(key), new.get(key)
        if a != b:
            if isinstance(a, dict) and isinstance(b, dict):
                keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                diffs += [f"{key}.{k} {a.get(k)!r} (now {b.get(k)!r})" for k in keys]
            else:
                diffs.append(f"{key} {a!r} (now {b!r})")
    if diffs:
        shown = "; ".join(diffs[:4]) + (f"; and {len(diffs) - 4} more" if len(diffs) > 4 else "")
        raise CelltraceError(f"{ckpt}: checkpoint of a run with other settings: {shown}; {hint}")


def _batch_stream(batches: Iterable[Any] | Callable[[int], Any], start: int, fast_forward: bool) -> Iterator[Any]:
    if callable(batches) and not isinstance(batches, Iterable):
        step = start
        while True:
            yield batches(step)
            step += 1
    it = iter(batches)
    if fast_forward:
        for _ in range(start):
            next(it)
    yield from it


def to_device(batch: Any, device: torch.device | str | None) -> Any:
    """Move every tensor of a (nested) batch to ``device``."""
    if device is None:
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def fit(model: torch.nn.Module, loss_fn: LossFn, batches: Iterable[Any] | Callable[[int], Any],
        optimizer: torch.optim.Optimizer, *, steps: int, checkpoint_dir: str | Path | None = None, seed: int = 0,
        resume: bool = True, log_every: int = 10, checkpoint_every: int | None = None, progress: bool = True,
        clip_norm: float | None = None, scheduler: Any = None, device: torch.device | str | None = None,
        fast_forward: bool = False, on_log: Callable[[int, History], None] | None = None,
        settings: dict[str, Any] | None = None) -> History:
    """Train ``model`` for ``steps`` optimisation steps (in total, counting those of a resumed run).

    Parameters
    ----------
    loss_fn
        ``loss_fn(model, batch)`` → scalar loss, or ``(loss, {name: float})``.
    batches
        ``batches(step) -> batch`` or an iterable of batches (see the module docstring).
    checkpoint_dir
        Where ``last.pt`` is written (atomically) every ``checkpoint_every`` steps (default: every
        ``log_every`` steps) and at the end; ``None``: no checkpoints.
    seed
        Seeds python, numpy and torch before the first step (a resumed run restores their states instead).
    resume
        Continue from ``checkpoint_dir/last.pt`` when it exists (a finished run returns at once).
    settings
        What makes a run this run (seed, data, config…; JSON-able), stored in every checkpoint: a
        checkpoint is resumed only when its settings are the same, else :class:`CelltraceError`
        (start over with ``resume=False``, the CLI's ``--restart``).
    clip_norm
        Clip the global gradient norm to this value (the paper's Keras ``clipnorm``).

    Returns the :class:`History` (losses of every step, including those of the resumed part).
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, not {steps}")
    ckpt = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    every = checkpoint_every or max(1, log_every)
    extra = {"settings": _plain(settings)} if settings is not None else None
    history = History()
    start = 0
    seed_everything(seed)
    if device is not None:  # before the optimizer state is loaded: it is cast to the parameters' device
        model.to(device)
    if ckpt is not None and resume and ckpt.exists():
        state = load_checkpoint(ckpt, map_location="cpu")  # RNG states must stay CPU tensors
        if settings is not None:
            check_settings(ckpt, (state.get("extra") or {}).get("settings"), settings)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        history = History.from_dict(state["history"])
        start = int(state["step"])
        history.resumed_from = start
        set_rng_state(state["rng"])
    model.train()
    from tqdm.auto import tqdm

    bar = tqdm(total=steps, initial=min(start, steps), desc="training", unit="step", disable=not progress)
    t0 = time.perf_counter()
    base_seconds = history.seconds
    step = start
    try:
        stream = _batch_stream(batches, start, fast_forward) if start < steps else iter(())
        for step in range(start, steps):
            try:
                batch = next(stream)
            except StopIteration:
                break
            batch = to_device(batch, device)
            optimizer.zero_grad(set_to_none=True)
            out = loss_fn(model, batch)
            loss, parts = (out if isinstance(out, tuple) else (out, {}))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {float(loss.detach())} at step {step}")
            loss.backward()
            if clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            history.loss.append(float(loss.detach()))
            for k, v in parts.items():
                history.parts.setdefault(k, []).append(float(v))
            history.steps = step + 1
            bar.update(1)
            if (step + 1) % max(1, log_every) == 0 or step + 1 == steps:
                bar.set_postfix(loss=f"{history.mean_last(log_every):.4g}")
                if on_log is not None:
                    on_log(step + 1, history)
            if ckpt is not None and ((step + 1) % every == 0 or step + 1 == steps):
                history.seconds = base_seconds + time.perf_counter() - t0
                save_checkpoint(ckpt, model, optimizer, step + 1, history, scheduler, extra)
    finally:
        bar.close()
    history.seconds = base_seconds + time.perf_counter() - t0
    if ckpt is not None and history.steps and not ckpt.exists():
        save_checkpoint(ckpt, model, optimizer, history.steps, history, scheduler, extra)
    if history.loss and not math.isfinite(history.loss[-1]):
        raise FloatingPointError("training diverged")
    return history


__all__ = ["fit", "check_settings", "History", "seed_everything", "rng_state", "set_rng_state", "save_checkpoint", "load_checkpoint",
           "to_device", "CHECKPOINT_NAME"]
