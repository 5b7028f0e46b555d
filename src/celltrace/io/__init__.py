"""Readers and writers, one module per format (CTC, TIFF, zarr, CSV table, GEFF, napari)."""
