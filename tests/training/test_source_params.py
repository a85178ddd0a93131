"""source_params reads from the source what importing a target and inspecting it gives."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dlnotes.training import source_params as sp
from dlnotes.training.source_params import source_params
from dlnotes.training.validate import INIT, signature

CONF = Path(__file__).resolve().parents[2] / "src" / "dlnotes" / "conf"
TARGETS = sorted(
    {t for f in CONF.rglob("*.yaml") for t in re.findall(r"_target_:\s*([\w.]+)", f.read_text())}
    | {INIT}
)


def _imported(target: str) -> tuple[str, tuple[str, ...], bool]:
    sig = signature(target)
    return sig.name, sig.params, sig.open


def test_every_target_of_the_configs_reads_as_its_import_does():
    # each one is read (a typo in any section is answered without imports), and each
    # gives the names inspect.signature gives after the import
    assert len(TARGETS) > 50
    for target in TARGETS:
        found = source_params(target)
        assert found is not None, target
        assert (found.name, found.params, found.open) == _imported(target), target


def test_reading_every_target_imports_neither_torch_nor_lightning():
    code = (
        "import sys\nfrom dlnotes.training.source_params import source_params\n"
        f"found = [source_params(t) for t in {TARGETS!r}]\n"
        "heavy = ('torch', 'lightning', 'sklearn')\n"
        "print(all(found), sorted(m for m in heavy if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "True []", proc.stderr[-2000:]


PACKAGE = {
    "__init__.py": """
        from .shapes import Square as Tile
        from .more import *
        Renamed = Tile
        try:
            from .shapes import Circle
        except ImportError:
            Circle = None
    """,
    "shapes.py": """
        import dataclasses
        from abc import ABC


        class Shape(ABC):
            def __init__(self, name, *args, colour="red", **kwargs):
                pass


        class Square(Shape):
            def __init__(self, side, /, width=1.0, *, filled=False):
                pass

            @classmethod
            def build(cls, spec, **hparams):
                return cls(**hparams)

            @staticmethod
            def helper(x):
                return x


        class Circle(Shape):
            pass


        @dataclasses.dataclass
        class Point:
            x: float = 0.0


        class Plain:
            pass


        def make(size, *, seed=0):
            pass
    """,
    "more.py": """
        from .diamond import Bottom

        __all__ = ["Bottom"]
    """,
    "diamond.py": """
        class Top:
            def __init__(self, top):
                pass


        class Left(Top):
            pass


        class Right(Top):
            def __init__(self, right, **kwargs):
                pass


        class Bottom(Left, Right):
            @classmethod
            def build(cls, *, seed):
                pass

    """,
}


@pytest.fixture
def package(tmp_path, monkeypatch):
    root = tmp_path / "srcpkg"
    for name, text in PACKAGE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    _forget()
    yield "srcpkg"
    _forget()
    for module in [m for m in sys.modules if m == "srcpkg" or m.startswith("srcpkg.")]:
        del sys.modules[module]


def _forget() -> None:
    for cached in (sp._module_file, sp._tree, source_params, signature):
        cached.cache_clear()


READ = [
    # a class's own __init__, positional-only names left out, keyword-only ones kept
    "srcpkg.shapes.Square",
    # a base's __init__, reached through ABC (a frozen module of the standard library)
    "srcpkg.shapes.Circle",
    "srcpkg.shapes.Plain",  # object.__init__: (self, /, *args, **kwargs)
    "srcpkg.shapes.make",
    # a classmethod taking **hparams accepts the class's __init__ names too
    "srcpkg.shapes.Square.build",
    # a re-export under another name; a star import
    "srcpkg.Tile",
    "srcpkg.Bottom",
    # C3: Bottom → Left → Right → Top, so Right's __init__ wins over Top's
    "srcpkg.diamond.Bottom",
    "srcpkg.diamond.Bottom.build",
    "srcpkg.Tile.build",
]


@pytest.mark.parametrize("target", READ)
def test_the_source_gives_what_the_import_gives(package, target):
    found = source_params(target)
    assert found is not None
    assert (found.name, found.params, found.open) == _imported(target)


def test_what_the_source_cannot_tell_is_left_to_the_import(package):
    assert source_params("srcpkg.Renamed") is None  # bound by an assignment
    assert source_params("srcpkg.Circle") is None  # bound inside a try
    assert source_params("srcpkg.shapes.Point") is None  # a dataclass writes its __init__
    assert source_params("srcpkg.shapes.Square.helper") is None  # not a classmethod
    assert source_params("srcpkg.shapes.Nothing") is None
    assert source_params("srcpkg.nowhere.Thing") is None
    assert source_params("math.sqrt") is None  # compiled
    assert source_params("srcpkg") is None  # a module is not a target


def test_the_names_of_a_class_with_a_diamond_follow_its_mro(package):
    from srcpkg.diamond import Bottom

    assert [c.__name__ for c in Bottom.__mro__] == ["Bottom", "Left", "Right", "Top", "object"]
    found = source_params("srcpkg.diamond.Bottom")
    assert found is not None and found.params == ("right",) and found.open
