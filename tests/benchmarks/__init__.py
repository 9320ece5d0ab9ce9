"""The benchmark suite behind ``make bench`` (run.py); not collected by pytest."""
