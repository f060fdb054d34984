"""The one exception type that reaches users as a single line (the CLI prints it, exits 2)."""


class MembenchError(Exception):
    """A user-facing error: what went wrong, where, and what to do about it."""
