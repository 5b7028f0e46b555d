"""The result folder's writers (celltrace.io.results): cells.csv written a chunk of frames at a time
is the whole table's CSV, also across frames without cells."""

from __future__ import annotations

import io

import numpy as np

from celltrace import Tracking, open_movie
from celltrace.io.results import write_cell_table
from celltrace.tracking import make_lineage
from conftest import ctc_gt, ctc_sequence


def test_chunked_cell_table_equals_the_whole_table_on_real_gt():
    gt = Tracking.from_ctc(ctc_gt("Fluo-N2DH-SIM+")).window(0, 5)
    movie = open_movie(ctc_sequence("Fluo-N2DH-SIM+")).frames[:5]
    table = gt.cell_table(movie)
    for chunk in (2, 64):
        out = io.StringIO()
        assert write_cell_table(gt, out, movie, chunk=chunk) == len(table)
        assert out.getvalue() == table.to_csv(index=False)


def test_chunks_of_empty_frames_and_an_empty_tracking():
    masks = np.zeros((5, 6, 6), np.uint16)
    masks[3, 2:4, 2:4] = 1
    tr = Tracking(masks=masks, lineage=make_lineage([(1, 3, 3, 0)]))
    for chunk in (1, 2, 3):
        out = io.StringIO()
        write_cell_table(tr, out, chunk=chunk)
        assert out.getvalue() == tr.cell_table().to_csv(index=False)
    empty = Tracking(masks=np.zeros((3, 4, 4), np.uint16), lineage=make_lineage([]))
    out = io.StringIO()
    assert write_cell_table(empty, out, chunk=2) == 0
    assert out.getvalue() == empty.cell_table().to_csv(index=False)
