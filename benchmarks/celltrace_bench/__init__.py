"""celltrace benchmark harness (benchmarks/harness.py); not part of the package."""
