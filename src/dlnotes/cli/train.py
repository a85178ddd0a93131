"""``dlnotes-train``: the Hydra app over ``conf/``.

dlnotes-train                                   # the default experiment
dlnotes-train model=deep_mlp data=moons model.activation=tanh
dlnotes-train -m model.activation=sigmoid,tanh,relu init=xavier,he
"""

from __future__ import annotations

import re
import secrets

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.syntax import Syntax

# overrides that say how a run is watched, not what it computes, stay out of its name
QUIET_PREFIXES = ("callbacks", "logger", "hydra", "print_config", "trainer.log_every_n_steps")


def _split_overrides(override_dirname: str) -> list[str]:
    """Split "a=1,b=[2,3]" at the commas that are not inside brackets or quotes."""
    items, depth, current = [], 0, ""
    for ch in override_dirname:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    return [*items, current] if current else items


def _run_name(override_dirname: str) -> str:
    """A folder-safe name for a run from what it overrides ("default" when nothing)."""
    items = [
        item
        for item in _split_overrides(override_dirname)
        if not item.lstrip("+~").startswith(QUIET_PREFIXES)
    ]
    name = re.sub(r"[^\w=,.\-+\[\]]", "_", ",".join(items))[:120]
    return name or "default"


def register_resolvers() -> None:
    """Resolvers used by conf/hydra/default.yaml (safe to call twice)."""
    if not OmegaConf.has_resolver("dlnotes_uid"):
        # random, and cached so that every use within one run gives the same id
        OmegaConf.register_new_resolver("dlnotes_uid", lambda: secrets.token_hex(2), use_cache=True)
    if not OmegaConf.has_resolver("dlnotes_name"):
        OmegaConf.register_new_resolver("dlnotes_name", _run_name)


register_resolvers()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Train one configuration; return the optimized metric to Hydra's sweeper."""
    from dlnotes.training.run import train  # heavy imports after Hydra parsed the CLI

    # created here, not at import: the joblib launcher pickles this function by value
    console = Console(stderr=True)
    hc = HydraConfig.get()
    run_dir = hc.runtime.output_dir
    if cfg.get("print_config"):
        console.print(Syntax(OmegaConf.to_yaml(cfg, resolve=True), "yaml", theme="ansi_dark"))
    result = train(cfg, run_dir, list(hc.overrides.task), dict(hc.runtime.choices))
    console.print(f"[bold green]Run finished[/] — logs, checkpoints and metrics.json in {run_dir}")
    console.print(f"Watch it with: tensorboard --logdir {run_dir}")
    metric = result.get(cfg.optimized_metric)
    return float(metric) if metric is not None else None


if __name__ == "__main__":
    main()
