"""Typed configs: what a model and a training run are, the identity that names a trial, and
the named task instances. Above the tasks, below everything that builds or runs a model.
"""
