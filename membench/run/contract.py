"""A user's model checked before anything trains: built for a trial and run on 2 examples of
its task, so an error it raises, logits or predictions of the wrong shape, or an option it never
reads is one line (`membench train`, `membench compare`), not a failed record per trial."""

from __future__ import annotations

import torch

from membench import tasks
from membench.config.identity import TrialSpec
from membench.errors import MembenchError


class ReadOptions(dict):
    """A factory's options that remember which ones the factory read (by key, get, `in`, or
    all of them by iteration), so an option it never reads (a typo) can be named."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)

    def keys(self):
        self.read.update(super().keys())
        return super().keys()

    def items(self):
        self.read.update(super().keys())
        return super().items()

    def __iter__(self):
        self.read.update(super().keys())
        return super().__iter__()


def check_contract(spec: TrialSpec) -> None:
    """A user's model (a factory) built for this trial and run on 2 examples before anything
    trains: options it never reads, an error it raises, and logits or predictions of the wrong
    shape are one MembenchError line each, naming the factory."""
    from membench.models import factory_keywords, load_factory

    if not spec.factory:
        return
    task = tasks.get(spec.task)
    src_len, tgt_len = task.lengths(**spec.task_params)
    vocab = task.vocab_size(**spec.task_params)
    factory = load_factory(spec.factory)
    extra = factory_keywords(factory, answer_positions=task.answer_positions(**spec.task_params))
    options = ReadOptions(spec.model)
    where = f"{spec.factory} on {spec.task} {spec.task_params}"
    src, tgt = task.generate(2, torch.Generator().manual_seed(0), **spec.task_params)
    try:
        model = factory(options, vocab, src_len, tgt_len, **extra)
        logits = model(src, tgt.clamp(min=0))
        tokens = model.predict(src, tgt_len)
    except Exception as err:  # a user's code: whatever it raises is theirs to fix
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise MembenchError(f"{where}: raised {type(err).__name__}: {first}") from None
    unread = sorted(set(spec.model) - options.read)
    if unread:
        from membench.registry import did_you_mean

        hint = did_you_mean(unread[0], sorted(options.read)) if options.read else ""
        raise MembenchError(
            f"{where}: option '{unread[0]}' is never read by the factory: {hint}it reads "
            f"{', '.join(sorted(options.read)) or 'no option'}"
        )
    want = (2, tgt_len, vocab)
    if tuple(getattr(logits, "shape", ())) != want:
        raise MembenchError(
            f"{where}: forward returned logits of shape {tuple(getattr(logits, 'shape', ()))}; "
            f"the contract is (batch, target length, vocab) = {want} (docs/variants.md: 'Your "
            "own model')"
        )
    if tuple(getattr(tokens, "shape", ())) != want[:2]:
        raise MembenchError(
            f"{where}: predict returned shape {tuple(getattr(tokens, 'shape', ()))}; the contract "
            f"is (batch, target length) = {want[:2]}"
        )
