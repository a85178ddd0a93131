"""The Lightning/Hydra layer: Task, callbacks, one run, reports."""

import warnings

# Set here, so that every process that trains sees them (DDP's spawned processes import
# this package, not dlnotes.training.run): in-memory tensors need no worker processes,
# a library deprecation that users cannot act on, an empty val/test split, which
# dlnotes.training.held_out announces in its own words, and an epoch shorter than
# trainer.log_every_n_steps (the Task logs its epoch means whatever the interval).
warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
warnings.filterwarnings("ignore", message=r".*treespec, LeafSpec.*")
warnings.filterwarnings("ignore", message=r".*across ranks is zero.*")
warnings.filterwarnings("ignore", message=r".*is smaller than the logging interval.*")
