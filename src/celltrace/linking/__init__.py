"""Shared linking: frame-to-frame LAP with shadow objects, divisions, gap closing; links → tracks."""
