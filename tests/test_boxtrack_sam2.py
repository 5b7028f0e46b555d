"""The SAM2 adapter of BoxTrack: a randomly initialised tiny SAM2 (built from the ``sam2``
package's own modules) on a real GOWT1 frame — box prompts in, three proposals with object
tokens and objectness out, memory entries that condition the next frame, and the tracker's
plumbing end to end. Needs the optional extra ``sam2`` (``pip install 'celltrace[sam2]'``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sam2  # noqa: F401  (installed by the README's test command; a missing sam2 fails here)

from celltrace.io.tiff import read_frame

from conftest import ctc_gt, ctc_sequence


TINY_SAM2 = """
model:
  _target_: sam2.modeling.sam2_base.SAM2Base
  image_encoder:
    _target_: sam2.modeling.backbones.image_encoder.ImageEncoder
    scalp: 1
    trunk: {_target_: sam2.modeling.backbones.hieradet.Hiera, embed_dim: 16, num_heads: 1,
            stages: [1, 1, 2, 1], global_att_blocks: [3], window_pos_embed_bkg_spatial_size: [7, 7]}
    neck:
      _target_: sam2.modeling.backbones.image_encoder.FpnNeck
      position_encoding: {_target_: sam2.modeling.position_encoding.PositionEmbeddingSine, num_pos_feats: 32,
                          normalize: true, scale: null, temperature: 10000}
      d_model: 32
      backbone_channel_list: [128, 64, 32, 16]
      fpn_top_down_levels: [2, 3]
      fpn_interp_model: nearest
  memory_attention:
    _target_: sam2.modeling.memory_attention.MemoryAttention
    d_model: 32
    pos_enc_at_input: true
    layer:
      _target_: sam2.modeling.memory_attention.MemoryAttentionLayer
      activation: relu
      dim_feedforward: 64
      dropout: 0.0
      pos_enc_at_attn: false
      self_attention: {_target_: sam2.modeling.sam.transformer.RoPEAttention, rope_theta: 10000.0,
                       feat_sizes: [16, 16], embedding_dim: 32, num_heads: 1, downsample_rate: 1, dropout: 0.0}
      d_model: 32
      pos_enc_at_cross_attn_keys: true
      pos_enc_at_cross_attn_queries: false
      cross_attention: {_target_: sam2.modeling.sam.transformer.RoPEAttention, rope_theta: 10000.0,
                        feat_sizes: [16, 16], rope_k_repeat: true, embedding_dim: 32, num_heads: 1,
                        downsample_rate: 1, dropout: 0.0, kv_in_dim: 16}
    num_layers: 1
  memory_encoder:
    _target_: sam2.modeling.memory_encoder.MemoryEncoder
    out_dim: 16
    in_dim: 32
    position_encoding: {_target_: sam2.modeling.position_encoding.PositionEmbeddingSine, num_pos_feats: 16,
                        normalize: true, scale: null, temperature: 10000}
    mask_downsampler: {_target_: sam2.modeling.memory_encoder.MaskDownSampler, kernel_size: 3, stride: 2, padding: 1,
                       embed_dim: 32}
    fuser:
      _target_: sam2.modeling.memory_encoder.Fuser
      layer: {_target_: sam2.modeling.memory_encoder.CXBlock, dim: 32, kernel_size: 7, padding: 3,
              layer_scale_init_value: 1e-6, use_dwconv: true}
      num_layers: 1
  num_maskmem: 7
  image_size: 256
  sigmoid_scale_for_mem_enc: 20.0
  sigmoid_bias_for_mem_enc: -10.0
  use_mask_input_as_output_without_sam: true
  directly_add_no_mem_embed: true
  no_obj_embed_spatial: true
  use_high_res_features_in_sam: true
  multimask_output_in_sam: true
  iou_prediction_use_sigmoid: true
  use_obj_ptrs_in_encoder: true
  add_tpos_enc_to_obj_ptrs: true
  proj_tpos_enc_in_obj_ptrs: true
  use_signed_tpos_enc_to_obj_ptrs: true
  only_obj_ptrs_in_the_past_for_eval: true
  pred_obj_scores: true
  pred_obj_scores_mlp: true
  fixed_no_obj_ptr: true
  multimask_output_for_tracking: true
  use_multimask_token_for_obj_ptr: true
  multimask_min_pt_num: 0
  multimask_max_pt_num: 1
  use_mlp_for_obj_ptr_proj: true
  compile_image_encoder: false
"""


@pytest.fixture(scope="module")
def tiny_sam2(tmp_path_factory):
    from celltrace.methods.boxtrack.sam2_adapter import build_sam2_model

    folder = tmp_path_factory.mktemp("sam2")
    config = folder / "tiny_sam2.yaml"
    config.write_text(TINY_SAM2)
    torch.manual_seed(0)
    model = build_sam2_model(config, None)
    checkpoint = folder / "tiny_sam2.pt"
    torch.save({"model": model.state_dict()}, checkpoint)
    return config, checkpoint


def _frames_and_boxes():
    from celltrace.io.boxes import boxes_from_labels

    y, x, h, w = 300, 300, 256, 256
    frames = [read_frame(ctc_sequence("Fluo-N2DH-GOWT1") / f"t{t:03d}.tif")[y:y + h, x:x + w] for t in range(3)]
    gt = read_frame(ctc_gt("Fluo-N2DH-GOWT1") / "TRA" / "man_track000.tif")[y:y + h, x:x + w]
    return np.stack(frames), boxes_from_labels(gt)


def test_adapter_prompts_in_proposals_and_tokens_out(tiny_sam2):
    from celltrace.methods.boxtrack.sam2_adapter import SAM2Segmenter

    config, checkpoint = tiny_sam2
    seg = SAM2Segmenter.from_files(config, checkpoint)
    frames, boxes = _frames_and_boxes()
    assert len(boxes) >= 1
    xy = boxes[["x0", "y0", "x1", "y1"]].to_numpy()
    props = seg.propose(frames[0], xy, [[] for _ in xy], 0)
    assert len(props) == len(xy)
    for p in props:
        assert p.probs.shape[0] == 3 and p.tokens.shape == (3, 32) and p.objectness.shape == (3,)
        assert np.isfinite(p.probs).all() and ((0 <= p.objectness) & (p.objectness <= 1)).all()
        assert p.probs.shape[1] > 0 and p.probs.shape[2] > 0
    # a memory entry conditions the next frame: the proposals change with it
    from celltrace.methods.boxtrack.memory import MemoryBank

    bank = MemoryBank(7)
    bank.add(seg.memory_entry(props[0], 0), 0, 0.9)
    bank.add(seg.memory_entry(props[0], 1), 1, 0.8)
    with_memory = seg.propose(frames[2], xy[:1], [bank.entries], 2)[0]
    without = seg.propose(frames[2], xy[:1], [[]], 2)[0]
    assert not np.allclose(with_memory.probs, without.probs)


def test_tracker_runs_with_sam2(tiny_sam2, tmp_path):
    import celltrace

    config, checkpoint = tiny_sam2
    frames, boxes = _frames_and_boxes()
    result = celltrace.track(frames, method="boxtrack", boxes=boxes, sam2_checkpoint=str(checkpoint),
                             sam2_config=str(config), detect_new=False, min_score=0.0, min_objectness=0.0,
                             progress=False)
    assert result.meta["segmenter"] == "sam2"
    assert result.meta["weights_files"] == [str(checkpoint)]
    assert result.n_frames == 3 and result.validate() is result
