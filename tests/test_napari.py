"""napari plugin (celltrace[napari]): npe2 manifest, CTC folder reader, "Track cells" widget.

Runs headless (Qt offscreen). Without napari installed the tests skip locally and FAIL under CI
(env CI set), where the extra must be installed.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from conftest import ctc_gt  # noqa: E402

try:
    import napari  # noqa: F401
    import npe2
except ImportError as exc:  # pragma: no cover - depends on the environment
    if os.environ.get("CI"):
        raise RuntimeError("napari is not installed: CI must install celltrace[napari] to run these tests") from exc
    pytest.skip(f"napari not installed (pip install celltrace[napari]): {exc}", allow_module_level=True)

import celltrace  # noqa: E402
from celltrace import Tracking  # noqa: E402
from celltrace.methods.base import Tracker, register  # noqa: E402

MANIFEST = Path(celltrace.__file__).parent / "napari" / "napari.yaml"


def first_frames(tr: Tracking, T: int) -> Tracking:
    lin = tr.lineage[tr.lineage["begin"] < T].copy()
    lin["end"] = lin["end"].clip(upper=T - 1)
    return Tracking(masks=np.asarray(tr.masks[:T]), lineage=lin)


@pytest.fixture(scope="module")
def plugin():
    """The celltrace manifest registered with npe2 (from the installed entry point if present)."""
    pm = npe2.PluginManager.instance()
    if "celltrace" not in pm._manifests:
        pm.register(npe2.PluginManifest.from_file(MANIFEST))
    return pm


@pytest.fixture
def viewer(plugin):
    v = napari.Viewer(show=False)
    yield v
    v.close()


@pytest.fixture(scope="module")
def sim_res(tmp_path_factory) -> tuple[Path, Tracking]:
    gt = first_frames(Tracking.from_ctc(ctc_gt("Fluo-N2DH-SIM+")), 30)
    folder = tmp_path_factory.mktemp("napari") / "02_RES"
    gt.to_ctc(folder, kind="res")
    return folder, gt


def test_manifest_is_valid():
    m = npe2.PluginManifest.from_file(MANIFEST)
    assert m.name == "celltrace"
    assert {c.id for c in m.contributions.commands} == {"celltrace.read_ctc", "celltrace.track_widget"}
    assert m.contributions.readers[0].accepts_directories
    import importlib

    for c in m.contributions.commands:  # every python_name resolves to a callable
        module, attr = c.python_name.split(":")
        assert callable(getattr(importlib.import_module(module), attr))


def test_reader_opens_a_ctc_res_folder(viewer, sim_res):
    folder, gt = sim_res
    layers = viewer.open(str(folder), plugin="celltrace")
    assert [l._type_string for l in layers] == ["labels", "tracks"]
    labels, tracks = layers
    assert labels.data.shape == (30, 773, 739)
    assert np.array_equal(np.asarray(labels.data[17]), np.asarray(gt.masks[17]))
    divisions = gt.divisions()
    assert len(divisions) >= 1
    for row in divisions.itertuples():
        for d in row.daughters:
            assert tracks.graph[d] == [row.parent]
    assert set(np.unique(tracks.data[:, 0]).astype(int)) == set(gt.lineage["label"])
    # the labels layer uses the report's colours
    from celltrace.report.overlay import label_colors

    lab = int(gt.lineage["label"].iloc[0])
    assert np.allclose(labels.colormap.map(np.array([lab]))[0][:3], label_colors(np.array([lab]))[0] / 255, atol=0.01)


def test_reader_declines_other_folders(plugin, tmp_path):
    from celltrace.napari._reader import get_reader

    assert get_reader(str(tmp_path)) is None
    assert get_reader(str(tmp_path / "nothing.tif")) is None
    assert get_reader(str(ctc_gt("Fluo-N2DH-GOWT1"))) is not None


class _Replay(Tracker):
    """Test double: 'tracks' by returning a stored tracking (the widget's plumbing is under test)."""

    name = "test-replay"
    result: Tracking | None = None

    def track(self, movie, masks=None, progress=True):  # noqa: ANN001
        assert movie.shape == self.result.shape
        return self.result


def test_widget_tracks_the_open_image(viewer, sim_res):
    _, gt = sim_res
    _Replay.result = gt
    register(_Replay)
    # the image layer is passed to the call rather than added to the viewer: drawing an image needs
    # OpenGL, which Qt's offscreen platform lacks (labels and tracks layers do not draw until shown)
    image = napari.layers.Image(np.zeros(gt.shape, np.uint16), name="movie")
    _, widget = viewer.window.add_plugin_dock_widget("celltrace", "Track cells")
    widget.reset_choices()
    assert "test-replay" in widget.method.choices and "classic" in widget.method.choices
    out = widget(image=image, method="test-replay", masks=None)
    assert [t for _, _, t in out] == ["labels", "tracks"]
    names = [l.name for l in viewer.layers]
    assert "movie test-replay masks" in names and "movie test-replay tracks" in names
    tracks = viewer.layers["movie test-replay tracks"]
    assert len(tracks.graph) == sum(len(d) for d in gt.divisions()["daughters"])
