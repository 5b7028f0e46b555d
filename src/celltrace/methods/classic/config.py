"""Parameters of the classic tracker, with defaults measured on the CTC training sets.

Lengths are given as factors of the typical cell radius ``r`` (pixels), which is estimated from
the movie (:func:`~celltrace.segmentation.estimate_cell_radius`) unless ``cell_radius`` is set,
so that one set of defaults works for small nuclei and large cells alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from celltrace.linking.standard import LINKING_LIMITS, LAPLinkingConfig
from celltrace.methods.config import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, MethodConfig
from celltrace.segmentation.threshold import THRESHOLD_METHODS


@dataclass
class ClassicConfig(LAPLinkingConfig, MethodConfig):
    """Segmentation (threshold + distance-transform watershed) parameters, and the shared LAP
    linking parameters (:class:`~celltrace.linking.standard.LAPLinkingConfig`)."""

    method = "classic"
    # values allowed where not "finite and ≥ 0" (checked by MethodConfig.from_params)
    limits = {"background": FRACTION, "cell_radius": POSITIVE, "radius_frames": AT_LEAST_ONE, "min_cell_radius": NON_NEGATIVE, "threshold_factor": POSITIVE,
              "dim_rim_sigma_factor": POSITIVE, "speck_fraction": FRACTION,
              **LINKING_LIMITS}
    choices = {"threshold_method": THRESHOLD_METHODS}

    # --- scale
    cell_radius: float | None = None
    """Typical cell radius ``r`` in pixels; ``None`` = estimated from ``radius_frames`` frames
    (or, in linking-only mode, ``sqrt(median area / pi)`` of the given objects)."""
    radius_frames: int = 3
    """Number of frames, spread evenly over the movie, used to estimate ``r``."""
    min_cell_radius: float = 3.0
    """An estimate of ``r`` under this many pixels is camera noise, not cells: noise alone
    thresholds into specks whose estimate is 2.0–2.3 px (512² and 1024² frames of Gaussian or
    Poisson noise; the protocol's two SIM+ crops without a cell), and at that radius classic
    finds specks as cells (over 1,000 a 512² frame of noise; 19 a frame, 137–165 tracks, in those
    crops), at 3 px or more none. With an estimate under it, or none, classic warns and uses
    ``r`` = 10 px (:data:`~celltrace.methods.classic.tracker.NO_CELL_RADIUS`; a movie that starts
    on a blank field), and live tracking estimates again on each new frame until it has found a
    cell. The other estimates on the generalization protocol's cases are unchanged, 5.0 px
    (PhC-C2DL-PSC) or more; 0 = no check (the maintainers' baseline)."""
    radius_sigma_factor: float = 0.12
    """The estimate of ``r`` smooths the frames with ``min(2 px, radius_sigma_factor r)``
    (:func:`~celltrace.segmentation.estimate_cell_radius`), not a fixed 2 px, whose blur widens
    small cells, so that ``r`` follows the pixel size; 0 = a fixed 2 px. 0.12 chosen on the
    generalization protocol (``benchmarks/results/classic-radius-smoothing/``): cells of radius
    ≥ 16.7 px keep their estimate (GOWT1, SIM+, MSC), the synthetic movies' goes 10.6–11.0 → 9.5–9.9
    px (true 7.2–7.4) and their TRA sparse / dense / dim 0.948 / 0.764 / 0.802 → 0.950 / 0.790 /
    0.818, PSC detection F1 0.844 → 0.840, every other case within 0.003; 0.1 shrinks SIM+'s ``r``
    (17.0 → 16.4) and loses its LODO TRA 0.013."""

    # --- segmentation (see celltrace.segmentation.segment_nuclei)
    background: float = 0.125
    """Remove uneven illumination first (:func:`celltrace.segmentation.background.flatten_background`):
    the background is a plane fitted to it plus the image's lower envelope over windows of
    ``background`` × the field's longer side; 0 = off (a global threshold sees the raw brightness).
    0.125 chosen on the generalization protocol: PSC detection F1 0.845 vs 0.715, an illumination
    ramp no longer empties the movie (GOWT1 TRA 0.75 vs 0, SIM+ 0.48 vs 0), MSC leave-one-out 0.810
    vs 0.770, elsewhere within 0.01. The plane (``benchmarks/results/classic-background-plane/``)
    took the ramp cases from GOWT1 / SIM+ / MSC TRA 0.769 / 0.551 / 0.414 to 0.984 / 0.971 / 0.736,
    the rest within 0.004."""
    threshold_method: str = "li"
    """Global threshold of the smoothed image: ``li`` (min. cross-entropy), ``otsu``, ``triangle``, ``mean``."""
    log_threshold: bool = True
    """Threshold ``log(1 + I - min)`` instead of ``I``: takes dim cells in when brightness varies."""
    threshold_factor: float = 1.0
    """Scales the threshold above the image minimum (< 1: more foreground)."""
    noise_k: float = 2.0
    """The threshold is at least ``median + noise_k x 1.4826 MAD`` (background + noise_k noise sigmas)."""
    sigma_factor: float = 0.1
    """Gaussian smoothing of the image, ``sigma = sigma_factor r``."""
    distance_sigma_factor: float = 0.15
    """Smoothing of the distance transform before finding markers, ``sigma_factor r``."""
    min_distance_factor: float = 0.5
    """Markers (distance maxima) at least ``min_distance_factor r`` apart."""
    h_factor: float = 0.25
    """Neighbouring maxima whose saddle is shallower than ``h_factor r`` are one cell (h-maxima)."""
    division_shrink_weight: float = 64.0
    """Weight of ``max(0, ln(max(A_a, A_b) / (f A_m)))^2`` in the division cost,
    ``f`` = ``division_max_daughter_fraction``, where the mother continues into one daughter
    (``division_shrink_ended``): no daughter is larger than a fraction of her mother
    (a mother that keeps her size next to a birth did not divide; SIM+ 02 frame 131: a neighbour
    took a dividing mother's daughter); 0 = off. 64 (nearly a hard limit) with ``f`` 0.7 chosen on
    the generalization protocol (``benchmarks/results/classic-division-pruning/shrink/``, ``full/``):
    SIM+ BC(2) linking the GT markers 0.941 → 0.952, on classic's own masks spatial 0.412 → 0.452,
    LODO 0.400 → 0.423, the shift cases' mean 0.806 → 0.722 (one division, in the blur case); TRA
    within 0.004 on every case."""
    division_max_cost: float = 1.6
    """Largest accepted division cost (:attr:`LAPLinkingConfig.division_max_cost`, 1.5 there).
    1.6 chosen on the generalization protocol (``benchmarks/results/classic-division-cost/``): SIM+
    BC(2) LODO 0.717 → 0.745, two more of 02's 44 divisions found (costs 1.54 and 1.57: a condensed
    mother off her daughters' midpoint, a continuing daughter over 0.7 of her mother), no false one
    added, TRA 0.8944 → 0.8946; every other case unchanged in every measure (the GT markers linked:
    BC(2) 0.965 either way). 1.7 adds a false division (LODO BC(2) 0.737); 2.0 cost classic's own
    SIM+ masks 0.02 of BC(2) (``benchmarks/results/classic-division-max-cost/``)."""
    merge_ratio: float = 0.8
    """Merge two touching regions when the dimmer one is no brighter inside (median) than
    ``1 / merge_ratio`` × the seam where they meet: a protrusion cut off a large flat cell, not a
    second cell (:func:`celltrace.segmentation.slopes.merge_slopes`); 0 = off. 0.8 chosen on the
    generalization protocol (``benchmarks/results/classic-slope-merge/``): MSC TRA LODO 0.822 →
    0.863, spatial 0.904 → 0.913, shift mean / worst 0.659 / 0.346 → 0.738 / 0.414; GOWT1 and
    SIM+ shift means +0.004 / +0.005; PSC detection F1 −0.006, synthetic dense −0.004; 0.9 gains
    less on MSC."""
    division_join_frames: int = 1
    """Report a division this many frames after the segmentation first shows two daughters: in
    those frames the two are one object continuing the mother (their union and convex hull;
    :func:`celltrace.linking.mitosis.join_daughters`), as the CTC annotates a mother until
    cytokinesis; 0 = at once. Not applied to masks the user gives (``--masks``), nor live.
    1 chosen on the generalization protocol (``benchmarks/results/classic-division-join/``, with
    ``division_join_min_hull`` ``hull/``)."""
    division_join_min_hull: float = 1.2
    """... only where the convex hull of the two daughters is at least this many times their area
    (:func:`celltrace.segmentation.pieces.union_hull_ratio`): chromatin pieces with a gap or notch between
    them, not two round daughters pressed together (the synthetic movies' daughters, and SIM+
    daughters the segmentation parts on time); 1 = every pair. 1.2 chosen on the generalization
    protocol (``benchmarks/results/classic-division-join/hull/``)."""
    division_piece_fraction: float = 0.5
    """Take back a division whose daughter was a piece of her sister: her branch ends, before the
    movie's last frame and without dividing, with more than half of her last object under her
    sister's object of the next frame (the cut healed), and her median area over her branch is at
    most this fraction of her sister's over the same frames (a chromatin clump cut off a nucleus
    stays small; a daughter grows to her sister's size). Her objects are joined to her sister's
    (:func:`celltrace.linking.mitosis.take_back_remerged`); 0 = off. Not applied to masks the user
    gives (``--masks``), nor live. 0.5 chosen on the generalization protocol
    (``benchmarks/results/classic-take-back-pieces/``): SIM+ LODO TRA 0.876 → 0.881, BC(2) 0.674 →
    0.717 (false divisions on all of 02 21 → 15, none found lost), synthetic dense / dim TRA −0.006 /
    −0.001, every other case unchanged; without the size test SIM+ gains more (0.883 / 0.750) but
    true divisions whose daughters the segmentation merges again are lost (synthetic TRA up to
    −0.016, SIM+ spatial BC(2) 0.643 → 0.640)."""
    division_piece_frames: int = 0
    """... or when her branch is at most this many frames long, whatever her size (her last object
    still mostly under her sister's next): a nucleus cut into two halves for a few frames; 0 = the
    size test only. Off by default: on the generalization protocol
    (``benchmarks/results/classic-piece-frames/``) 5 takes SIM+ LODO (all of 02) TRA 0.8951 → 0.8976
    and BC(2) 0.745 → 0.778 (false divisions 15 → 11, none found lost), but loses the four other
    cases it changes: SIM+ spatial TRA 0.8664 → 0.8648 and BC(2) 0.667 → 0.615, synthetic dense /
    dim 0.7925 / 0.8255 → 0.7867 / 0.8201, PSC detection F1 0.8341 → 0.8325."""
    split_merged_cells: bool = True
    """Where gap closing joins a cell across frames in which she was part of another cell's object
    (two touching cells merged), cut her out of that object again along the two tracks
    (:func:`celltrace.linking.merges.split_merged`) and link her through the gap. Not applied to
    masks the user gives (``--masks``), nor live. Chosen on the generalization protocol
    (``benchmarks/results/classic-split-merged/``): MSC LODO TRA 0.861 → 0.873 (every gap link of
    MSC 02 crossed such a merge), SIM+ LODO 0.8806 → 0.8817, synthetic dense / dim +0.006 /
    +0.003, MSC shift mean 0.756 → 0.757; GOWT1, PSC and the linking family unchanged."""
    merge_split_frames: int = 10
    """Where a division's mother track absorbed another cell's track end at most this many frames
    before (more than half of that cell's last object inside the mother's next, her track at least
    2 objects long, at least half the area of the mother's object before, the merged object two
    cells' area), the division is that cell parting from the mother again: the "daughter"
    continues her track through a gap link (:func:`celltrace.linking.merges.reemerged_cells`),
    which ``split_merged_cells`` then cuts through the merged objects where it can; 0 = off. Not
    applied to masks the user gives (``--masks``), nor live. 10 chosen on the generalization
    protocol (``benchmarks/results/classic-merge-split/``): SIM+ BC(2) LODO 0.745 → 0.796 (false
    divisions on all of 02 15 → 9, none found lost), spatial 0.667 → 0.696, TRA 0.8951 → 0.8969 and
    0.8664 → 0.8708; synthetic dense / dim TRA 0.7925 / 0.8255 → 0.8144 / 0.8285, PSC detection F1
    0.8341 → 0.8358; the other 77 cases unchanged. On SIM+ 02, 20 frames give the same, 5 one false
    division more."""
    close_jumps: bool = True
    """Gap closing also joins a track end to a start in the very next frame, within the gap gate
    (``gap_distance_factor r``; :attr:`LAPLinkingConfig.close_jumps`): a daughter pushed more than
    ``r`` away from her sister in her second frame ends her track at the frame-to-frame gate, her
    division is then taken back as a short branch, and she starts again as a birth. Chosen on the
    generalization protocol (``benchmarks/results/classic-close-jumps/``): SIM+ BC(2) LODO 0.632 →
    0.674 (33 of 02's 44 divisions found instead of 30, no more false ones), TRA 0.875 → 0.876;
    61 of the 64 cases unchanged, GOWT1 LODO TRA −0.0001 (two links between unannotated objects)."""
    grow_factor: float = 0.75
    """Grow each object up to ``grow_factor r`` into the pixels around it that stand out of the
    background noise after heavier smoothing (:func:`celltrace.segmentation.growth.grow_objects`):
    dim cell rims that the global threshold leaves out, so that a detection covers its cell; 0 =
    off. 0.75 since the residual test (``grow_residual_k``), 0.5 before; first chosen with
    ``grow_sigma_factor`` 0.15 and ``grow_rim_fraction`` 0.4 on the generalization protocol
    (``benchmarks/results/classic-rim-growth/``): TRA SIM+ spatial 0.687 → 0.747, LODO
    0.698 → 0.733, MSC LODO 0.810 → 0.822, shift means up on all three datasets, the rest equal;
    SEG within 0.02 everywhere (SIM+ +0.04). ``grow_rim_fraction`` 0.2 gains more TRA (SIM+ 0.802)
    but costs SEG 0.05–0.08 on GOWT1, MSC and the synthetic movies."""
    grow_sigma_factor: float = 0.15
    """Smoothing of the image for the growth, ``sigma = grow_sigma_factor r``."""
    grow_noise_k: float = 3.0
    """A rim pixel must exceed the background by ``grow_noise_k`` noise deviations of the smoothed image."""
    grow_rim_fraction: float = 0.4
    """... and keep this fraction of its object's contrast (the blur of a bright core is no rim)."""
    grow_residual_k: float = 2.5
    """A rim pixel under ``grow_rim_fraction`` of its object's contrast is still taken where the
    image outside the objects alone, averaged over ``grow_sigma_factor r``, exceeds the background
    by ``grow_residual_k`` noise deviations: a dim part of the cell beside a bright core, not the
    core's blur (:func:`celltrace.segmentation.growth.grow_objects`); 0 = off. 2.5 with
    ``grow_factor`` 0.75 chosen on the generalization protocol
    (``benchmarks/results/classic-residual-rim/``): TRA SIM+ spatial 0.764 → 0.815, LODO 0.747 →
    0.831 (SIM+ 02 nuclei whose bright core is half the annotated nucleus), MSC LODO 0.861 →
    0.866, shift means equal or up, PSC detection F1 equal; SEG within 0.013 everywhere (SIM+
    +0.04 / +0.05); k 2 costs GOWT1 SEG 0.022, k 3 gains less (SIM+ LODO 0.832 without the margin)."""
    grow_residual_max_area: float = 1.5
    """... for objects smaller than ``grow_residual_max_area pi r^2`` only (a whole large cell is
    no core; the light scattered around MSC cells passes the residual test); 0 = every object."""
    grow_residual_margin: float = 2.0
    """... with the pixels within ``grow_residual_margin`` pixels of an object left out of the
    average: the blur of an object's edge (PhC-C2DL-PSC: SEG 0.655 without it, 0.726 with 2 px)."""
    dim_rim_factor: float = 1.0
    """Once the movie is linked, grow each dim object up to ``dim_rim_factor r`` into the faint rim
    around it (:func:`celltrace.segmentation.growth.grow_dim_objects`): pixels where the image
    outside every object (``grow_residual_margin`` px away from them), averaged over
    ``dim_rim_sigma_factor r``, exceeds the background by ``dim_rim_noise_k`` noise deviations of
    that average, for objects whose contrast is under ``dim_rim_fraction`` × the median of the
    frame's objects and whose area is under ``grow_residual_max_area pi r^2``: a nucleus barely above
    the noise whose threshold kept only its middle. The links, divisions and their costs are those of
    the objects before it. Not applied to masks the user gives (``--masks``); live tracking
    applies it to each frame before publishing it
    (:meth:`~celltrace.methods.classic.tracker.ClassicTracker.finish_frame`); 0 = off.
    1 with ``dim_rim_sigma_factor`` 0.45, ``dim_rim_noise_k`` 1.5, ``dim_rim_fraction`` 0.7 and
    ``dim_rim_max_gain`` 1.5 chosen on the generalization protocol
    (``benchmarks/results/classic-dim-rims/``): SIM+ TRA spatial 0.852 → 0.865, LODO 0.882 → 0.894
    (100 of the 288 markers classic missed on all of 02 were such nuclei), links and BC(2)
    unchanged, MSC dim 0.3 0.213 → 0.239, every other TRA unchanged; SEG within 0.007 (MSC LODO
    −0.007, GOWT1 −0.002, SIM+ +0.008). Without the gain limit SIM+ LODO gains more (0.897) but a
    dimmed GOWT1 nucleus grows into the haze around it (dim 0.3 SEG 0.698 → 0.592)."""
    dim_rim_sigma_factor: float = 0.45
    """Smoothing of that average, ``sigma = dim_rim_sigma_factor r``."""
    dim_rim_noise_k: float = 1.5
    """Noise deviations (of the average) by which a faint rim pixel exceeds the background."""
    dim_rim_fraction: float = 0.7
    """An object is dim when its contrast is under this fraction of the frame's median object contrast."""
    dim_rim_max_gain: float = 1.5
    """A dim object whose faint rim would be larger than this × her own area is left as she is
    (haze, not a rim); 0 = no limit."""
    faint_noise_k: float = 4.0
    """Add cell-sized faint objects where the threshold found nothing: components of the image
    averaged over ``faint_sigma_factor r`` (objects masked out) that exceed the background by
    ``faint_noise_k`` noise deviations, cover at least ``faint_min_area_factor pi r^2`` pixels and
    hold a disk of radius ``faint_min_inner_factor r``
    (:func:`celltrace.segmentation.faint.add_faint_objects`); 0 = off. A nucleus 1–2 grey levels
    above the background is under any global threshold set by bright cells (GOWT1 02: one such
    nucleus made 83 of classic's 90 misses). 4 with inner radius 0.6 r chosen on the
    generalization protocol (``benchmarks/results/classic-faint-objects/``): TRA GOWT1 LODO 0.959
    → 0.968, SIM+ spatial 0.750 → 0.764 and LODO 0.737 → 0.747, every other dataset and family
    within 0.005 (MSC shift mean 0.738 → 0.733); k = 3 gains MSC LODO (0.866) but loses the shift
    suite (MSC mean 0.705, worst 0.251)."""
    faint_sigma_factor: float = 0.3
    """Smoothing for the faint objects, ``sigma = faint_sigma_factor r`` (0.2 and 0.5 found fewer
    GOWT1 cells: TRA on all of 02 0.965 / 0.964 vs 0.969)."""
    faint_min_area_factor: float = 0.6
    """Smallest faint object, ``faint_min_area_factor pi r^2`` pixels."""
    faint_min_inner_factor: float = 0.6
    """A faint object holds a disk of radius ``faint_min_inner_factor r``: what flattening leaves of
    an uneven illumination forms bands thinner than that (MSC under the protocol's illumination
    ramp: 30 additions, none a cell, 0.29–0.45 r wide)."""
    faint_surround_factor: float = 1.5
    """The faint pass also takes a pixel whose average stands out of its own surroundings, the
    free pixels averaged over ``faint_surround_factor r``, by ``faint_noise_k`` deviations
    (:func:`celltrace.segmentation.faint.add_faint_objects`): a dim nucleus in a dark part of a
    field whose out-of-focus haze is brighter elsewhere; 0 = off (and off for cells under
    ``SURROUND_MIN_RADIUS`` = 8 px). 1.5 chosen on the generalization protocol
    (``benchmarks/results/classic-faint-surround/``): GOWT1 LODO TRA 0.969 → 0.984 (the
    annotated nucleus that made 61 of its 62 misses lies in a dark part of the field; 1.0 / 2.5:
    0.977 / 0.981), GOWT1 at 0.2 of its contrast (not in the suite) 0.642 → 0.718, MSC shift mean
    0.757 → 0.756 (gamma 0.5: 0.740 → 0.731), every other case within 0.002. It also finds dim
    nuclei that GOWT1 02's truth leaves unannotated (on all of 02: false objects 105 → 266,
    misses 62 → 11)."""
    hull_max_ratio: float = 2.0
    """Fill each object out to its convex hull (background pixels only) where the hull is
    ``hull_min_ratio``–``hull_max_ratio`` times the object's area and its axis ratio at least
    ``hull_min_roundness`` (:func:`celltrace.segmentation.convexity.fill_convex_hulls`): a nucleus
    of uneven brightness whose threshold kept a crescent; 0 = off. 2 with 1.15 and 0.6 chosen on
    the generalization protocol (``benchmarks/results/classic-convex-hulls/``): TRA SIM+ spatial
    0.815 → 0.834, LODO 0.831 → 0.859, shift mean 0.972 → 0.976, dim family 0.940 → 0.958; SIM+
    SEG +0.02 / +0.04, BC(2) 0.387 → 0.500 (spatial), 0.471 → 0.463 (LODO); every other TRA
    within 0.003, SEG within 0.009 (MSC, GOWT1). 1.1 and 0.5 gain more on SIM+ (LODO 0.870) but
    cost MSC SEG 0.016–0.019 and GOWT1 0.013; without the two limits MSC SEG loses 0.09–0.13."""
    hull_min_ratio: float = 1.15
    """An about convex object (hull under ``hull_min_ratio`` × its area) is left as it is."""
    hull_min_roundness: float = 0.6
    """The hull's minor / major axis ratio must be at least this (a nucleus, not a spindle cell)."""
    piece_ratio: float = 0.8
    """Merge adjacent objects whose shared border is at least ``piece_ratio`` × the smaller one's
    equivalent diameter, when together they are at most ``piece_max_area_factor pi r^2`` and their
    convex hull at most ``piece_max_hull_ratio`` × their area: pieces of one nucleus of uneven
    brightness that the watershed cut apart; two touching nuclei meet at a neck
    (:func:`celltrace.segmentation.pieces.merge_cut_pieces`); 0 = off. 0.9 with 2.5 and 1.3 first
    chosen on the generalization protocol (``benchmarks/results/classic-piece-merge/``): TRA SIM+
    spatial 0.834 → 0.848, LODO 0.859 → 0.873 (BC(2) 0.500 → 0.593, 0.463 → 0.494), dim mean 0.958
    → 0.969; SEG SIM+ +0.01; every other case within 0.004 (GOWT1 and PSC unchanged); lower ratios
    then merged the old synthetic movies' touching cells (dense TRA −0.003 to −0.008). 0.8 since
    ``benchmarks/results/classic-piece-ratio/`` (the four-draw dim family, the synthetic sisters
    that part): SIM+ noise-0.15 shift 0.939 → 0.954 (SIM+'s worst shift), dim 0.3 draw 2 0.915 →
    0.956 (a dimmed nucleus's two clumps, seam ratio 0.87), spatial BC(2) 0.643 → 0.667, MSC gain-3
    and noise-0.05 shifts +0.006 / +0.002, synthetic dense / dim −0.0015 / −0.002, 73 of 82 cases
    unchanged (GOWT1 and PSC all); 0.7 gains SIM+ a little more (LODO 0.8959, BC(2) 0.761) but
    costs the synthetic movies 0.007. Without the hull limit two MSC cells lying along each other
    merge (MSC spatial 0.912 → 0.901)."""
    piece_max_area_factor: float = 2.5
    """Largest merged object, ``piece_max_area_factor pi r^2`` pixels."""
    piece_max_hull_ratio: float = 1.3
    """Largest convex hull of a merged pair, × its area; 0 = no limit."""
    min_size_factor: float = 0.15
    """Objects smaller than ``min_size_factor pi r^2`` pixels are removed."""
    speck_fraction: float = 0.1
    """Objects inside the field smaller than this fraction of the frame's typical object area (the
    area-weighted median, :func:`~celltrace.segmentation.specks.drop_specks`) are removed too;
    0 = off. The limit above assumes round cells: for MSC's long, thin cells (about 10 000 px²) at
    the inscribed radius a crop of the field gives, 25 px, it is 294 px, a thirtieth of a cell.
    0.1 chosen on the generalization protocol (``benchmarks/results/classic-specks/``): MSC LODO
    TRA 0.873 → 0.879, shift mean /
    worst 0.758 / 0.684 → 0.805 / 0.757, dim 0.503 / 0.239 → 0.579 / 0.331, PSC detection F1
    0.832 → 0.834; GOWT1, SIM+ and the synthetic movies unchanged (on round nuclei 0.1 of a cell
    is under ``min_size_factor pi r^2``). Objects on the image border are kept (without that, a
    GOWT1 nucleus cut to a sliver by a crop's edge was dropped)."""
    border_min_size_factor: float | None = None
    """Objects on the image border are removed when smaller than ``border_min_size_factor pi r^2``
    instead (a cell cut by the edge of the field shows only a part of itself); ``None`` = the same
    limit as inside. Not lowered by default: on the generalization protocol
    (``benchmarks/results/classic-border-fragments/``) 0.05 keeps the GOWT1 nucleus a crop's corner
    cuts (GOWT1 crop 0.5 dense TRA 0.807 → 0.974) and MSC's cells entering the field (MSC LODO
    0.862 → 0.883), but adds parts of the cells that MSC's and GOWT1's truth leaves unannotated
    (MSC spatial 0.912 → 0.887, MSC shift mean 0.756 → 0.699, GOWT1 all of 02 0.969 → 0.967)."""
