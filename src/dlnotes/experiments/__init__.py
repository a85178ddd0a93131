"""Support code of the experiment suite (``experiments/`` and ``conf/experiment/``):
callbacks that record the curves a demo is about, an augmenting image datamodule, and
the report helpers that turn a finished sweep into the tables and figures of a demo's
README."""
