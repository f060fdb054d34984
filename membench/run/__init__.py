"""Running trials: one in the foreground (`train.py`), a suite on Ray Tune (`sweep.py`, the
story from YAML to report), the Ray cluster (`cluster.py`) and the live display.
"""
