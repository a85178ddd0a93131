"""Character-level text: the built-in corpus, windows, encode/decode, data.path errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dlnotes.data import DatasetNotFoundError, TextDataModule
from dlnotes.data.text import default_corpus


def test_default_corpus_is_offline_and_deterministic() -> None:
    text = default_corpus()
    assert text == default_corpus()
    assert text.startswith("The Zen of Python, by Tim Peters")
    assert 20_000 < len(text) < 200_000


def test_windows_are_next_character_pairs() -> None:
    dm = TextDataModule(seq_len=16)
    spec = dm.spec
    assert spec.many_to_many and spec.vocab_size == len(dm.itos) == spec.out_features
    X, Y = dm.X_train, dm.y_train
    assert X.dtype == Y.dtype == torch.long and X.shape[1:] == Y.shape[1:] == (16,)
    assert torch.equal(X[:, 1:], Y[:, :-1])
    assert torch.equal(Y[:-1, -1], X[1:, 0])  # non-overlapping, consecutive windows
    assert dm.decode(X[0]) == dm.text[:16]


def test_parts_are_contiguous_and_sized(tmp_path: Path) -> None:
    file = tmp_path / "corpus.txt"
    file.write_text("abcdefghij" * 100, encoding="utf-8")  # 1000 characters
    dm = TextDataModule(path=str(file), seq_len=9, val_fraction=0.1, test_fraction=0.2)
    assert dm.itos == list("abcdefghij")
    # windows of 10 characters every 9: (part − 10) // 9 + 1 of them
    assert (len(dm.X_train), len(dm.X_val), len(dm.X_test)) == (77, 11, 22)
    assert dm.decode(dm.X_val[0]) == dm.text[700:709]
    assert dm.decode(dm.X_test[0]) == dm.text[800:809]
    overlapping = TextDataModule(path=str(file), seq_len=9, stride=1)
    assert len(overlapping.X_train) == 800 - 10 + 1  # default fractions 0.1, 0.1


def test_encode_decode_round_trip() -> None:
    dm = TextDataModule()
    sample = "Beautiful is better than ugly."
    ids = dm.encode(sample)
    assert ids.dtype == torch.long and dm.decode(ids) == sample
    assert dm.decode(ids.tolist()) == sample
    assert all(dm.stoi[dm.itos[i]] == i for i in range(dm.vocab_size))
    with pytest.raises(ValueError, match="not in the vocabulary"):
        dm.encode("\x00")


def test_path_errors_name_data_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"
    with pytest.raises(DatasetNotFoundError, match=r"data\.path=.*missing\.txt does not exist"):
        TextDataModule(path=str(missing))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"data\.path=.*empty\.txt is empty"):
        TextDataModule(path=str(empty))
    binary = tmp_path / "binary.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(ValueError, match=r"data\.path=.*binary\.bin could not be read"):
        TextDataModule(path=str(binary))
    with pytest.raises(ValueError, match=r"data\.path=.* could not be read"):
        TextDataModule(path=str(tmp_path))  # a directory


def test_text_too_short_for_seq_len(tmp_path: Path) -> None:
    file = tmp_path / "short.txt"
    file.write_text("hello world", encoding="utf-8")
    dm = TextDataModule(path=str(file), seq_len=50)
    with pytest.raises(ValueError, match=r"data\.seq_len"):
        dm.setup()
