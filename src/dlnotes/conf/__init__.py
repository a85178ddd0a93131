"""Hydra configuration of dlnotes-train (the top-level conf/ links here)."""
