"""Hydra callbacks (``hydra.callbacks.<name>._target_``) used by the experiment configs.

:class:`PicklableConsole` is a work-around. ``hydra/launcher=joblib`` pickles the task
function to send it to its worker processes. ``dlnotes.cli.train.main`` is pickled by
value (the module attribute ``main`` is Hydra's decorated wrapper, not the function the
launcher holds), and with it the module-level ``rich.console.Console`` it refers to, whose
lock cannot be pickled: every joblib sweep fails with "cannot pickle '_thread.RLock'
object". Registering a reducer for ``Console`` before the launch (``on_multirun_start``
runs in the parent process) lets the console travel as "a new Console on the same
stream". Harmless once the CLI no longer keeps a console at module level — which it no
longer does since commit 3dc24f3 (the console is created inside ``main``): the callback
is now a no-op kept only for the experiment configs that still list it; it can go with
them.
"""

from __future__ import annotations

import copyreg
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


def _new_console(stderr: bool) -> Any:
    from rich.console import Console

    return Console(stderr=stderr)


def _reduce_console(console: Any) -> tuple[Any, tuple[bool]]:
    return _new_console, (bool(console.stderr),)


class PicklableConsole(Callback):
    """Make ``rich.console.Console`` picklable for the joblib launcher (see module doc)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from rich.console import Console

        copyreg.pickle(Console, _reduce_console)
