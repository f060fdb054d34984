"""Trial records on disk and the tables made from them: one JSON file per trial, written
atomically; the fingerprint of the code that made each record.
"""
