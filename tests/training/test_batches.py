"""Sizes of the training batches that check_batch_norm_batches looks at."""

import pytest

from dlnotes.training.batches import batch_sizes


@pytest.mark.parametrize(
    ("samples", "batch_size", "processes", "sizes"),
    [
        (180, 64, 1, [64, 64, 52]),
        (180, 179, 1, [179, 1]),
        (180, "full", 1, [180]),
        (5, 64, 1, [5]),
        (180, 89, 2, [89, 1]),  # 90 samples a process
        (181, 91, 2, [91]),  # the sampler pads 181 to 2 × 91
        (1, 4, 1, [1]),
    ],
)
def test_batch_sizes_of_one_process(samples, batch_size, processes, sizes):
    assert batch_sizes(samples, batch_size, processes) == sizes
