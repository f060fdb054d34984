"""A suite file -> a validated `Suite` -> the trials it stands for; the `tune:` block; the
JSON Schemas of suite files and records. Above the models: loading a suite imports its users'
model factories, so a typo fails before anything runs.
"""
