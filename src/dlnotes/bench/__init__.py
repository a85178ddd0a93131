"""``dlnotes-bench``: how close the hand-written ops and our framework layer run to
PyTorch's own, and how runs scale out — against the targets of the performance issue.

Sections: ``ops`` (every op of :mod:`dlnotes.functional` vs its twin), ``models`` (a
training step, manual vs autograd backward), ``lightning`` (Trainer.fit vs a plain loop),
``ddp`` (the same on 2 DDP processes, vs a plain DistributedDataParallel loop),
``sweep`` (a 4-job sweep, sequential vs joblib), ``demos`` (every experiment at its
default size; opt-in, minutes). See :mod:`dlnotes.cli.bench` for the command.
"""
