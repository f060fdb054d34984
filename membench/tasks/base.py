"""What every task generator provides, and strict checking of its parameters."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from membench.errors import MembenchError
from membench.registry import Registry, did_you_mean

IGNORE = -100
"""A target token that is neither trained on nor scored: a task whose scored positions vary
from example to example (zoology's MQAR queries, flip-flop's reads) marks the others with it
(torch's cross-entropy `ignore_index` default). Every example scores at least one position."""


@dataclass(frozen=True)
class Param:
    """An integer task parameter: default, inclusive lower bound, meaning."""

    default: int
    minimum: int
    help: str


class Task:
    """A synthetic task generator.

    Subclasses set `params` and implement `generate` (vectorised torch, deterministic for
    a generator state), `vocab_size`, `lengths`, and `solve` (a plain-Python reference used in
    tests). Token ids are in [0, vocab_size); models add their own special tokens. A task whose
    answers belong at source positions (a recall answer at its query) says so in
    `answer_positions`.
    """

    name: str = ""
    description: str = ""
    params: dict[str, Param] = {}
    difficulty: str = ""  # the parameter that makes an instance harder (length, pairs ...)
    answers_in_input: bool = False
    """True where an answer also stands later in the source (a next-token task: MAD's recall,
    flip-flop): only a model whose answer rows never read later positions is valid on it (a
    causal encoder whose memory reads memory alone); `membench.config.identity` refuses others."""
    partial_targets: bool = False
    """True where some target positions are IGNORE (the scored positions vary by example)."""

    def resolve(self, overrides: dict | None = None) -> dict[str, int]:
        """Defaults filled in, overrides checked: unknown names and out-of-range values fail."""
        values = {k: p.default for k, p in self.params.items()}
        for key, value in (overrides or {}).items():
            if key not in self.params:
                known = sorted(self.params)
                raise MembenchError(
                    f"unknown parameter '{key}' for task '{self.name}': "
                    f"{did_you_mean(key, known)}known: {', '.join(known)}"
                )
            if isinstance(value, bool) or not isinstance(value, int):
                raise MembenchError(
                    f"task '{self.name}' parameter '{key}' must be an integer, got {value!r}"
                )
            values[key] = value
        for key, value in values.items():
            if value < self.params[key].minimum:
                raise MembenchError(
                    f"task '{self.name}' parameter '{key}' = {value} is out of range: "
                    f"must be >= {self.params[key].minimum}"
                )
        self.check(values)
        return values

    def check(self, params: dict[str, int]) -> None:
        """Constraints between parameters; raise MembenchError naming them."""

    def generate(self, n: int, generator: torch.Generator, **params) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def generate_held_out(
        self, n: int, generator: torch.Generator, **params
    ) -> tuple[torch.Tensor, ...]:
        """The held-out set's examples: `generate`'s unless the published task tests on another
        distribution or scores fewer positions than it trains on (flip-flop's sparse test, MAD's
        recall: trained on every next token, scored where a value can be recalled)."""
        return self.generate(n, generator, **params)

    def vocab_size(self, **params) -> int:
        raise NotImplementedError

    def lengths(self, **params) -> tuple[int, int]:
        """(source length, target length)."""
        raise NotImplementedError

    def answer_positions(self, **params) -> list[int] | None:
        """Where each target token is read: one source index per target position (target t at
        src[answer_positions[t]]), or None (the default) for separate answer slots after the
        source. Built-in encoders predict target t from the output row at that source position;
        models that do not take the keyword are never told."""
        return None

    def output_vocab(self, **params) -> int:
        """How many symbols a target position can take: uniform guessing scores 1/this."""
        return self.vocab_size(**params)

    def chance(self, **params) -> float:
        """Token accuracy of uniform guessing over the target symbols."""
        return 1.0 / self.output_vocab(**params)

    def solve(self, src: list[int], **params) -> list[int]:
        """The held-out targets of `src` (IGNORE where the held-out set scores nothing)."""
        raise NotImplementedError


TASKS: Registry[Task] = Registry("task")


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: register one instance of the task under its `name`."""
    TASKS.add(cls.name, cls())
    return cls


def randint(low: int, high: int, shape: tuple[int, ...], generator: torch.Generator):
    return torch.randint(low, high, shape, generator=generator, device=generator.device)
