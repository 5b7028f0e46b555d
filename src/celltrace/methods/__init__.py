"""Tracking methods, each a sibling package with the same anatomy; see :mod:`celltrace.methods.base`."""
