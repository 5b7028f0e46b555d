"""Readers and writers, one module per format: movies (tiff, ctc sequences) and results (ctc, table,
geff, napari_tracks, trackmate, trk, mot, omezarr); :mod:`celltrace.io.formats` is the registry of
result formats that ``convert``, ``info`` and the napari reader use."""
