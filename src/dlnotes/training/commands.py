"""Commands printed for a user to paste: an override's value quoted for Hydra's grammar,
then every word quoted for the shell.

A run folder's name holds its overrides (``…_data=moons,trainer.max_epochs=30``), and
Lightning names checkpoints ``epoch=1-step=6.ckpt``: unquoted, Hydra reads the ``=`` and
``,`` of such a path as grammar, and the command fails.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from pathlib import Path

PLAIN = re.compile(r"[\w/.\-+:~@%]+")
"""Values that Hydra's grammar reads as one unquoted string."""


def override(key: str, value: str | Path) -> str:
    """``key=value``, the value in single quotes when Hydra's grammar would read it as
    more than a plain string (a ``'`` inside is escaped)."""
    text = str(value)
    if PLAIN.fullmatch(text):
        return f"{key}={text}"
    return f"{key}='{text.replace(chr(39), chr(92) + chr(39))}'"


def shell_word(word: str) -> str:
    """``word`` quoted for a POSIX shell; in double quotes where it holds a ``'`` (a
    Hydra-quoted override), which reads better than shlex's ``'"'"'``."""
    quoted = shlex.quote(word)
    if quoted == word or "'" not in word:
        return quoted
    return '"' + re.sub(r'([\\"$`])', r"\\\1", word) + '"'


def shell_join(words: Iterable[str]) -> str:
    """The words as one shell command line."""
    return " ".join(shell_word(w) for w in words)
