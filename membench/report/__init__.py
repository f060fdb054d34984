"""The report: its model (`model.py`, built from the analysis), the shared table rows
(`tables.py`), one renderer per format (markdown/csv/json in `render.py`, `html.py`,
`latex.py`, `terminal.py`) and the plots.
"""
