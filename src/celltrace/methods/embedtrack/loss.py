"""EmbedTrack's loss (paper §3.2): instance, bandwidth-variance and seed terms per frame, and the
tracking term, on normalised positions ``p = (y, x) / position_scale``.

For instance ``m`` with pixels ``P_m``, centre ``c_m`` and predicted bandwidths ``σ_k``:

* ``s̄_m = mean_{k∈P_m} σ_k``, ``s_m = exp(w_s · s̄_m)`` (per axis);
* shifted positions ``e_i = p_i + o_i``; Gaussian score
  ``d_{m,i} = exp(−(c_my − e_iy)²/s_my − (c_mx − e_ix)²/s_mx)``;
* ``L_instance = mean_m  Lovász(2·d_m − 1, 2·B_m − 1)`` (``B_m`` the mask of ``m``);
* ``L_var = mean_m  mean_{k∈P_m} ‖s̄_m − σ_k‖²``;
* ``L_seed = w_fg · mean_m mean_{k∈P_m} (d_{m,k} − D_k)² + mean_{j∈bg} D_j²`` (``d`` not
  differentiated through here: the seediness learns to predict it);
* ``L_seg = w_instance L_instance + w_var L_var + w_seed L_seed``;
* tracking: ``e^T_i = p_i + o^T_i`` for pixels at ``t``, scored against the centre ``c^{t−1}_m``
  with the bandwidth ``s^t_m`` of the instance at ``t``; ``L_track = mean_m Lovász(2·d^T_m − 1, 2·B^t_m − 1)``
  over instances that have a centre at ``t−1``;
* ``L = w_seg (L_seg(t−1) + L_seg(t)) + w_track L_track``.

Ignored pixels take no part in any term. The paper sums the instance terms over instances; we
average them (as the reference implementation of Neven et al. does), so the loss does not grow
with the number of cells in a crop. Crops are averaged over the batch.
"""

from __future__ import annotations

import torch

from celltrace.methods.embedtrack.config import EmbedTrackConfig


def lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovász extension of the Jaccard loss w.r.t. sorted errors (last dim): with
    ``G = Σ gt``, ``I_k = G − Σ_{≤k} gt``, ``U_k = G + Σ_{≤k} (1 − gt)``, ``J_k = 1 − I_k/U_k``, the
    weights are ``J_1, J_2 − J_1, …`` (Berman et al. 2018, Yu & Blaschko 2015)."""
    gts = gt_sorted.sum(-1, keepdim=True)
    intersection = gts - gt_sorted.cumsum(-1)
    union = gts + (1.0 - gt_sorted).cumsum(-1)
    jaccard = 1.0 - intersection / union
    return torch.cat([jaccard[..., :1], jaccard[..., 1:] - jaccard[..., :-1]], -1)


def lovasz_hinge(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Lovász hinge of binary ``labels`` ∈ {0, 1} and real ``logits`` (last dim = pixels; leading dims
    are independent problems, returned unreduced): errors ``1 − logit·(2·label − 1)`` sorted in
    decreasing order, ``Σ_k relu(err_k) · lovasz_grad_k``."""
    signs = 2.0 * labels - 1.0
    errors = 1.0 - logits * signs
    errors_sorted, perm = torch.sort(errors, dim=-1, descending=True)
    gt_sorted = torch.gather(labels, -1, perm)
    return (torch.relu(errors_sorted) * lovasz_grad(gt_sorted)).sum(-1)


def pixel_positions(h: int, w: int, scale: float, like: torch.Tensor) -> torch.Tensor:
    """``(2, h·w)`` normalised positions ``p = (y, x) / scale``."""
    ys = torch.arange(h, dtype=like.dtype, device=like.device) / scale
    xs = torch.arange(w, dtype=like.dtype, device=like.device) / scale
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([yy.reshape(-1), xx.reshape(-1)])


def _instance_stats(sigma: torch.Tensor, onehot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per instance: pixel count (M,), mean bandwidth s̄ (M, 2), variance term (M,)."""
    n = onehot.sum(1).clamp(min=1)                                    # (M,)
    mean = (onehot @ sigma.T) / n[:, None]                             # (M, 2)
    sq = onehot @ (sigma ** 2).T / n[:, None]                          # E[σ²]
    var = (sq - mean ** 2).sum(1).clamp(min=0)                         # E‖σ − s̄‖²
    return n, mean, var


def _scores(centres: torch.Tensor, emb: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``d_{m,i}`` of (M, 2) centres against (2, P) shifted positions with (M, 2) variances."""
    dy = centres[:, :1] - emb[None, 0]
    dx = centres[:, 1:] - emb[None, 1]
    return torch.exp(-dy ** 2 / s[:, :1] - dx ** 2 / s[:, 1:])


def seg_loss_single(out: dict[str, torch.Tensor], labels: torch.Tensor, ignore: torch.Tensor, centres: torch.Tensor,
                    config: EmbedTrackConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]:
    """``L_seg`` of one crop (outputs without the batch dim); returns the loss, its terms and the
    instances' ``s_m`` (for the tracking term; ``None`` without instances)."""
    c = config
    _, h, w = out["offset"].shape
    valid = ~ignore.reshape(-1)
    lab = labels.reshape(-1)[valid]
    pos = pixel_positions(h, w, c.position_scale, out["offset"])[:, valid]
    emb = pos + out["offset"].reshape(2, -1)[:, valid]
    sigma = out["sigma"].reshape(2, -1)[:, valid]
    seed = out["seed"].reshape(-1)[valid]
    m = centres.shape[0]
    zero = seed.sum() * 0.0
    bg = lab == 0
    bg_term = (seed[bg] ** 2).mean() if bg.any() else zero
    if m == 0:
        loss = c.w_seed * bg_term
        return loss, {"instance": zero, "var": zero, "seed": bg_term}, None
    onehot = (lab[None, :] == torch.arange(1, m + 1, device=lab.device)[:, None]).to(sigma.dtype)  # (M, P)
    present = onehot.sum(1) > 0
    n, mean, var = _instance_stats(sigma, onehot)
    s = torch.exp(c.w_s * mean)
    d = _scores(centres / c.position_scale, emb, s)                  # (M, P)
    inst = lovasz_hinge(2.0 * d - 1.0, onehot)[present].mean() if present.any() else zero
    var_term = var[present].mean() if present.any() else zero
    fg = ((onehot * (d.detach() - seed[None]) ** 2).sum(1) / n)[present].mean() if present.any() else zero
    seed_term = c.w_fg * fg + bg_term
    loss = c.w_instance * inst + c.w_var * var_term + c.w_seed * seed_term
    return loss, {"instance": inst, "var": var_term, "seed": seed_term}, s


def track_loss_single(track: torch.Tensor, labels: torch.Tensor, ignore: torch.Tensor, track_centres: torch.Tensor,
                      s: torch.Tensor | None, config: EmbedTrackConfig) -> torch.Tensor:
    """``L_track`` of one crop: pixels at ``t`` shifted by ``O^T`` against their centres at ``t−1``."""
    c = config
    zero = track.sum() * 0.0
    if s is None:
        return zero
    keep = ~torch.isnan(track_centres[:, 0])
    if not keep.any():
        return zero
    _, h, w = track.shape
    valid = ~ignore.reshape(-1)
    lab = labels.reshape(-1)[valid]
    emb = pixel_positions(h, w, c.position_scale, track)[:, valid] + track.reshape(2, -1)[:, valid]
    ids = torch.nonzero(keep).reshape(-1)
    onehot = (lab[None, :] == (ids + 1)[:, None]).to(track.dtype)
    present = onehot.sum(1) > 0
    if not present.any():
        return zero
    d = _scores(track_centres[ids] / c.position_scale, emb, s[ids])
    return lovasz_hinge(2.0 * d - 1.0, onehot)[present].mean()


def embedtrack_loss(outputs: dict, batch: dict, config: EmbedTrackConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """``L = w_seg (L_seg(t−1) + L_seg(t)) + w_track L_track`` averaged over the batch (module docstring);
    returns the loss and its terms as floats."""
    c = config
    n = batch["prev_image"].shape[0]
    total = 0.0
    parts: dict[str, float] = {"instance": 0.0, "var": 0.0, "seed": 0.0, "track": 0.0}
    for b in range(n):
        s_curr = None
        seg_sum = 0.0
        for frame in ("prev", "curr"):
            out = {k: v[b] for k, v in outputs[frame].items()}
            loss, terms, s = seg_loss_single(out, batch[f"{frame}_labels"][b], batch[f"{frame}_ignore"][b],
                                             batch[f"{frame}_centres"][b], c)
            seg_sum = seg_sum + loss
            for k, v in terms.items():
                parts[k] += float(v.detach()) / n
            if frame == "curr":
                s_curr = s
        tr = track_loss_single(outputs["track"][b], batch["curr_labels"][b], batch["curr_ignore"][b],
                               batch["track_centres"][b], s_curr, c)
        parts["track"] += float(tr.detach()) / n
        total = total + c.w_seg * seg_sum + c.w_track * tr
    return total / n, parts


__all__ = ["lovasz_grad", "lovasz_hinge", "pixel_positions", "seg_loss_single", "track_loss_single", "embedtrack_loss"]
