"""metrics.json: the final numbers of one run, written atomically into its folder, and its
``status``: ok, diverged, interrupted (resumable) or failed (with the ``error``)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

# tag logged by Task → key of metrics.json
TAGS = {
    "train/loss": "train_loss",
    "val/loss": "val_loss",
    "test/loss": "test_loss",
    "train/acc": "train_acc",
    "val/acc": "val_acc",
    "test/acc": "test_acc",
}


def final_metrics(
    callback_metrics: dict[str, Any], classification: bool = True
) -> dict[str, float | None]:
    """The final values of the Task's tags; every key present (None when not logged or
    not finite), accuracies only for classification."""
    out: dict[str, float | None] = {}
    for tag, key in TAGS.items():
        if key.endswith("_acc") and not classification:
            continue
        value = callback_metrics.get(tag)
        if value is None:
            out[key] = None
            continue
        value = float(value.item() if hasattr(value, "item") else value)  # a tensor, or a number
        out[key] = value if math.isfinite(value) else None
    return out


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as JSON to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def not_started_record(overrides: list[str] | None = None) -> dict[str, Any]:
    """metrics.json of a sweep job that an interruption of the sweep kept from starting:
    interrupted at step 0, with no checkpoint (the continued sweep starts it afresh)."""
    return {
        "status": "interrupted",
        "interrupted": True,
        "not_started": True,
        "signal": "SIGINT",
        "epochs": 0,
        "steps": 0,
        "seconds": 0.0,
        "diverged": False,
        "checkpoint": None,
        "resume_command": None,
        "overrides": list(overrides or []),
    }


def failure_record(error: str, overrides: list[str] | None = None, **facts: Any) -> dict[str, Any]:
    """metrics.json of a run that failed: ``status: failed``, the one-sentence ``error``,
    the overrides and whatever else is known (epochs, steps, ...)."""
    return {"status": "failed", "error": error, **facts, "overrides": list(overrides or [])}
