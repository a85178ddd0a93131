"""Test-wide settings: no thread oversubscription under xdist, no hypothesis deadlines."""

import os

import torch
from hypothesis import settings

workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))

settings.register_profile("dlnotes", deadline=None, print_blob=True)
settings.load_profile("dlnotes")
