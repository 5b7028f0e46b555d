"""SAM2 (Ravi et al. 2024; the ``sam2`` package) as BoxTrack's segmentation module — the paper's
setting — behind the same two calls as our compact segmenter (:mod:`.infer`).

Needs the optional extra ``sam2`` and SAM2 weights on disk: ``--param sam2_checkpoint=FILE
sam2_config=NAME`` (``NAME`` a config of the package, e.g. ``configs/sam2.1/sam2.1_hiera_l.yaml``,
or a YAML file path). Per frame, the image encoder runs once; per prompt:

* the box becomes SAM2's two corner points (labels 2, 3) in the model's ``image_size`` square;
* memory: the track's bank entries (our :class:`MemoryBank` decides which are kept) are handed to
  SAM2's memory attention as its conditioning frame (the oldest entry) and its recent frames (the
  others, newest first) — so SAM2 attends to exactly the frames BoxTrack's score-based bank chose,
  not to its own FIFO window;
* the mask decoder gives ``K = 3`` proposals with their output tokens (the object tokens ``z_k``;
  SAM2.1 configs set ``use_multimask_token_for_obj_ptr``, else one token serves all three),
  predicted IoUs and an object score; objectness ``= σ(object score) · IoU_k``;
* a kept proposal's memory entry is SAM2's memory encoding of its mask plus its object pointer.

Only the model's own modules are used (no ``torchvision``; SAM2's predictor classes need it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from celltrace.errors import CelltraceError
from celltrace.methods.boxtrack.infer import Proposals
from celltrace.methods.boxtrack.memory import MemoryEntry
from celltrace.methods.boxtrack.targets import normalise
from celltrace.methods.boxtrack.window import prompt_windows, window_extent

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VIRTUAL_FRAME = 10_000
"""Frame index the current frame gets inside SAM2's memory bookkeeping (entries sit before it)."""


def build_sam2_model(config: str | Path, checkpoint: str | Path | None, device: str = "cpu") -> Any:
    """A SAM2 model from a config (package config name, or a YAML file) and a checkpoint (``None``:
    random weights). Problems are one :class:`CelltraceError` line."""
    try:
        import importlib

        importlib.import_module("sam2")  # initialises hydra's config module (package configs by name)
        from hydra.utils import instantiate
        from omegaconf import OmegaConf
    except ImportError as exc:
        raise CelltraceError(f"boxtrack: SAM2 needs the optional extra: pip install 'celltrace[sam2]' ({exc})") from None
    path = Path(config)
    try:
        if path.suffix in (".yaml", ".yml") and path.is_file():
            cfg = OmegaConf.load(path)
        else:
            from hydra import compose

            cfg = compose(config_name=str(config))
        OmegaConf.resolve(cfg)
        model = instantiate(cfg.model, _recursive_=True)
    except Exception as exc:  # hydra/omegaconf raise many kinds
        raise CelltraceError(f"{config}: not a usable SAM2 config ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if checkpoint is not None:
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
            model.load_state_dict(state["model"] if "model" in state else state)
        except Exception as exc:
            raise CelltraceError(f"{checkpoint}: not a SAM2 checkpoint for {config} ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    return model.to(device).eval()


class SAM2Segmenter:
    """SAM2 behind :class:`~celltrace.methods.boxtrack.infer.Segmenter` (module docstring)."""

    def __init__(self, model: Any, device: str = "cpu", context: float = 3.0):
        self.model = model
        self.device = device
        self.context = context
        self._frame: tuple[int, Any] | None = None

    @classmethod
    def from_files(cls, config: str | Path, checkpoint: str | Path | None, device: str = "cpu") -> "SAM2Segmenter":
        return cls(build_sam2_model(config, checkpoint, device), device)

    # ------------------------------------------------------------------ image
    def _features(self, image: np.ndarray) -> dict[str, Any]:
        key = id(image)
        if self._frame is None or self._frame[0] != key:
            m = self.model
            S = m.image_size
            f = torch.from_numpy(np.clip(normalise(image), 0, 1)).to(self.device)
            x = F.interpolate(f[None, None], size=(S, S), mode="bilinear", align_corners=False, antialias=True)
            mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
            std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
            x = (x.expand(1, 3, S, S) - mean) / std
            backbone = m.forward_image(x)
            _, feats, pos, sizes = m._prepare_backbone_features(backbone)
            self._frame = (key, {"feats": feats, "pos": pos, "sizes": sizes, "shape": image.shape[-2:]})
        return self._frame[1]

    # ------------------------------------------------------------------ proposals
    @torch.no_grad()
    def propose(self, image: np.ndarray, boxes: np.ndarray, memories: Sequence[Sequence[MemoryEntry]],
                t: int) -> list[Proposals]:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            return []
        fr = self._features(image)
        return [self._propose_one(fr, box, list(mem)) for box, mem in zip(boxes, memories)]

    def _memory_dict(self, entries: list[MemoryEntry]) -> dict[str, dict[int, Any]]:
        """SAM2's ``output_dict`` for a track's bank: the oldest entry conditions, the others are
        its recent frames, newest first."""
        ordered = sorted(entries, key=lambda e: e.frame)
        cond, rest = ordered[0], ordered[1:]
        out = {"cond_frame_outputs": {VIRTUAL_FRAME - len(rest) - 1: cond.tokens}, "non_cond_frame_outputs": {}}
        for r, e in enumerate(reversed(rest), start=1):
            out["non_cond_frame_outputs"][VIRTUAL_FRAME - r] = e.tokens
        return out

    def _propose_one(self, fr: dict[str, Any], box: np.ndarray, memory: list[MemoryEntry]) -> Proposals:
        m = self.model
        S = m.image_size
        H, W = fr["shape"]
        feats, pos, sizes = fr["feats"], fr["pos"], fr["sizes"]
        empty = not memory
        pix = m._prepare_memory_conditioned_features(
            frame_idx=VIRTUAL_FRAME, is_init_cond_frame=empty, current_vision_feats=feats[-1:],
            current_vision_pos_embeds=pos[-1:], feat_sizes=sizes[-1:],
            output_dict=self._memory_dict(memory) if not empty else {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}},
            num_frames=VIRTUAL_FRAME + 1)
        high_res = [x.permute(1, 2, 0).view(1, x.size(2), *s) for x, s in zip(feats[:-1], sizes[:-1])]
        scale = np.array([S / W, S / H, S / W, S / H])
        coords = torch.tensor((box * scale).reshape(1, 2, 2), dtype=torch.float32, device=self.device)
        labels = torch.tensor([[2, 3]], dtype=torch.int32, device=self.device)
        sparse, dense = m.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=None)
        low, ious, tokens, obj_logit = m.sam_mask_decoder(
            image_embeddings=pix, image_pe=m.sam_prompt_encoder.get_dense_pe(), sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense, multimask_output=True, repeat_image=False,
            high_res_features=high_res if m.use_high_res_features_in_sam else None)
        low = low.float()
        logits = F.interpolate(low, size=(H, W), mode="bilinear", align_corners=False)[0]  # (K, H, W)
        window = prompt_windows(box[None], self.context, 16.0)[0]
        rows, cols = window_extent(window, (H, W))
        probs = torch.sigmoid(logits[:, rows, cols]).cpu().numpy()
        k = probs.shape[0]
        obj = torch.sigmoid(obj_logit.float()).reshape(-1)[0]
        iou = ious.float().reshape(-1)[:k].clamp(0, 1)
        objectness = (obj * iou).cpu().numpy()
        z = tokens[0].float()
        if z.shape[0] != k:  # a config without use_multimask_token_for_obj_ptr: one token for all
            z = z[:1].expand(k, -1)
        state = {"feats": feats, "sizes": sizes, "low": low, "tokens": tokens[0], "obj_logit": obj_logit}
        return Proposals((rows.start, cols.start), probs, z.cpu().numpy(), objectness, state)

    def memory_entries(self, chosen: Sequence[tuple[Proposals, int]]) -> list[dict[str, Any]]:
        return [self.memory_entry(p, k) for p, k in chosen]

    @torch.no_grad()
    def memory_entry(self, proposals: Proposals, k: int) -> dict[str, Any]:
        """SAM2's memory of proposal ``k``: ``maskmem_features``, ``maskmem_pos_enc``, ``obj_ptr``."""
        m = self.model
        st = proposals.state
        S = m.image_size
        high = F.interpolate(st["low"][:, k:k + 1], size=(S, S), mode="bilinear", align_corners=False)
        feats, pos = m._encode_new_memory(current_vision_feats=st["feats"], feat_sizes=st["sizes"],
                                          pred_masks_high_res=high, object_score_logits=st["obj_logit"],
                                          is_mask_from_pts=True)
        token = st["tokens"][min(k, st["tokens"].shape[0] - 1)][None]
        ptr = m.obj_ptr_proj(token)
        if m.pred_obj_scores:
            appearing = (st["obj_logit"] > 0).float()
            if m.fixed_no_obj_ptr:
                ptr = appearing * ptr
            ptr = ptr + (1 - appearing) * m.no_obj_ptr
        return {"maskmem_features": feats, "maskmem_pos_enc": pos, "obj_ptr": ptr}


__all__ = ["SAM2Segmenter", "build_sam2_model"]
