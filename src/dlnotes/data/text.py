"""Character-level language modelling: predict the next character at every step.

The default corpus needs no file and no network: the Zen of Python (the standard
library's ``this`` module) followed by a fixed list of sections of the Python language
reference that ship with every CPython as ``pydoc_data.topics`` (what ``help("for")``
prints), about 50 KB of English prose and code. It is identical on every machine with
the same Python minor version. ``path=`` any UTF-8 text file replaces it.
"""

from __future__ import annotations

import codecs
import contextlib
import importlib
import io
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor

from dlnotes.data.base import (
    BatchSize,
    DatasetNotFoundError,
    InMemoryDataModule,
    Split,
    check_fractions,
)
from dlnotes.data.spec import DataSpec

REFERENCE_TOPICS = (
    "for", "while", "if", "break", "continue", "function", "class", "lambda", "return",
    "yield", "raise", "try", "with", "import", "naming", "truth", "booleans", "exceptions",
)  # fmt: skip
"""The ``pydoc_data.topics`` sections of the default corpus, in order."""


def zen_of_python() -> str:
    """The Zen of Python, decoded from the ``this`` module without printing it."""
    with contextlib.redirect_stdout(io.StringIO()):
        this = importlib.import_module("this")
    return codecs.decode(this.s, "rot13")


def default_corpus() -> str:
    """The built-in corpus: the Zen of Python and the :data:`REFERENCE_TOPICS` sections
    of the language reference (only the Zen where ``pydoc_data`` is not installed)."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # pragma: no cover - stripped-down Python installations
        topics = {}
    parts = [zen_of_python()] + [topics[k].strip() for k in REFERENCE_TOPICS if k in topics]
    return "\n\n\n".join(parts) + "\n"


def read_corpus(path: str | Path) -> str:
    """The text of a UTF-8 file; a one-sentence error naming ``data.path`` otherwise."""
    file = Path(path).expanduser()
    if not file.exists():
        raise DatasetNotFoundError(
            f"data.path={path} does not exist; point data.path at a UTF-8 text file "
            f"or leave it null for the built-in corpus"
        )
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(
            f"data.path={path} could not be read as UTF-8 text ({type(err).__name__}); "
            f"point data.path at a UTF-8 text file"
        ) from err
    if not text:
        raise ValueError(f"data.path={path} is empty; give a file with some text in it")
    return text


class TextDataModule(InMemoryDataModule):
    """Next-character prediction on a text, many-to-many.

    The encoded text is cut *contiguously* into train / val / test parts (the first
    1 − val_fraction − test_fraction of the characters, then val, then test), so that
    no window of one part overlaps another part. Each part is then cut into windows of
    ``seq_len + 1`` characters every ``stride`` characters: X is a window's first
    ``seq_len`` indices, Y the same shifted by one (Y[:, t] is the character after X[:, t]).

    X, Y: (m, seq_len) int64 indices into :attr:`itos`, the sorted characters of the
    whole text (so val/test hold no unknown character); ``spec.vocab_size`` = len(itos).

    path:    a UTF-8 text file; ``None`` uses the built-in corpus (see the module doc).
    seq_len: steps T per sequence (back-propagation through time over T steps).
    stride:  characters between the starts of consecutive windows (``None``: ``seq_len``,
             non-overlapping windows; smaller values give more, overlapping, windows).
    """

    name = "text"

    def __init__(
        self,
        *,
        path: str | None = None,
        seq_len: int = 100,
        stride: int | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        batch_size: BatchSize = 64,
        seed: int = 0,
        train_size: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            batch_size=batch_size, seed=seed, train_size=train_size, num_workers=num_workers
        )
        if seq_len < 1:
            raise ValueError(f"data.seq_len must be >= 1, got {seq_len}")
        if stride is not None and stride < 1:
            raise ValueError(f"data.stride must be >= 1 or null, got {stride}")
        check_fractions(val_fraction, test_fraction)
        self.path = path
        self.seq_len = int(seq_len)
        self.stride = int(stride) if stride is not None else self.seq_len
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self.text = read_corpus(path) if path is not None else default_corpus()
        self.itos: list[str] = sorted(set(self.text))
        """Index → character."""
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}
        """Character → index."""
        vocab = len(self.itos)
        self._spec = DataSpec(
            task="multiclass",
            kind="sequence",
            in_features=vocab,
            out_features=vocab,
            num_classes=vocab,
            seq_len=self.seq_len,
            vocab_size=vocab,
            many_to_many=True,
            name=self.name,
        )
        self.class_names = list(self.itos)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> Tensor:
        """Characters → int64 indices (T,); every character must be in the vocabulary."""
        missing = sorted(set(text) - self.stoi.keys())
        if missing:
            raise ValueError(f"characters not in the vocabulary of the corpus: {missing!r}")
        return torch.tensor([self.stoi[c] for c in text], dtype=torch.long)

    def decode(self, indices: Tensor | Iterable[int]) -> str:
        """Indices (any shape, read in order) → the string they encode."""
        if isinstance(indices, Tensor):
            indices = indices.reshape(-1).tolist()
        return "".join(self.itos[int(i)] for i in indices)

    def _windows(self, ids: Tensor, part: str) -> Split:
        T = self.seq_len
        if len(ids) < T + 1:
            raise ValueError(
                f"the {part} part of the corpus has {len(ids)} characters, fewer than "
                f"data.seq_len + 1 = {T + 1}; lower data.seq_len or use a longer text"
            )
        windows = ids.unfold(0, T + 1, self.stride)  # (m, T + 1)
        return Split(windows[:, :-1].contiguous(), windows[:, 1:].contiguous())

    def _load(self) -> dict[str, Split]:
        ids = self.encode(self.text)
        n = len(ids)
        n_val, n_test = round(self.val_fraction * n), round(self.test_fraction * n)
        n_train = n - n_val - n_test
        parts = {
            "train": ids[:n_train],
            "val": ids[n_train : n_train + n_val],
            "test": ids[n_train + n_val :],
        }
        empty = Split(ids.new_empty(0, self.seq_len), ids.new_empty(0, self.seq_len))
        return {
            name: self._windows(part, name) if len(part) or name == "train" else empty
            for name, part in parts.items()
        }
