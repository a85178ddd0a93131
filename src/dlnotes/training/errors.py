"""The user's errors as one sentence each: :class:`ConfigError` and the helpers that word
them.

Nothing here imports PyTorch or Lightning, so that a command line Hydra cannot compose
(an option a group does not have, an override it cannot parse) is answered in a fraction
of a second instead of after the seconds those imports take.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence


class ConfigError(ValueError):
    """A config a run cannot start with; the message is one sentence for the user."""


def did_you_mean(word: str, candidates: Sequence[str], prefix: str = "") -> str:
    """ " (did you mean <prefix><closest>?)" or "" when nothing is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""


def sentence(text: str) -> str:
    """One sentence: the first line of ``text``, capital-free as keys are, ending in "."."""
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "unknown error")
    return line if line.endswith((".", "?", "!")) else line + "."
