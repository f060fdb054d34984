"""What the records say: statistics for small-seed comparisons, summaries across tasks,
capacity, attention, knockouts, per-position accuracy and the choice of a tuned point. Pure:
DataFrames and dicts in, numbers, dicts and sentences out.
"""
