"""digits and breast_cancer (bundled with scikit-learn)."""

from __future__ import annotations

import torch
from sklearn.datasets import load_breast_cancer, load_digits

from dlnotes.data import BreastCancerDataModule, DigitsDataModule


def test_digits_are_8x8_images_in_unit_range(check) -> None:
    dm = DigitsDataModule(val_fraction=0.1, test_fraction=0.2)
    images = torch.tensor(load_digits().images, dtype=torch.float32).unsqueeze(1) / 16
    check.partition(dm, images)
    m = len(images)
    assert len(dm.X_test) == round(0.2 * m) and len(dm.X_val) == round(0.1 * m)
    assert dm.X_train.shape[1:] == (1, 8, 8)
    assert float(dm.X_train.min()) == 0.0 and float(dm.X_train.max()) == 1.0
    assert set(dm.y_test.tolist()) == set(range(10))  # stratified: every digit in test


def test_digits_normalize_uses_training_statistics() -> None:
    dm = DigitsDataModule(normalize=True)
    assert abs(float(dm.X_train.mean())) < 1e-5
    assert abs(float(dm.X_train.std()) - 1) < 1e-4
    assert abs(float(dm.X_test.mean())) > 1e-6  # test is shifted by the *training* mean


def test_breast_cancer_is_standardized_with_training_statistics() -> None:
    dm = BreastCancerDataModule()
    assert dm.X_train.shape[1] == 30
    assert torch.allclose(dm.X_train.mean(0), torch.zeros(30), atol=1e-4)
    assert torch.allclose(dm.X_train.std(0), torch.ones(30), atol=1e-4)
    assert not torch.allclose(dm.X_val.mean(0), torch.zeros(30), atol=1e-4)
    assert dm.class_names == ["malignant", "benign"]
    assert len(dm.feature_names) == 30


def test_breast_cancer_raw_features_partition_the_data_set(check) -> None:
    dm = BreastCancerDataModule(standardize=False)
    bunch = load_breast_cancer()
    check.partition(dm, torch.tensor(bunch.data, dtype=torch.float32))
    positives = float(bunch.target.mean())
    for y in (dm.y_train, dm.y_val, dm.y_test):  # stratified
        assert abs(float(y.mean()) - positives) < 0.02
