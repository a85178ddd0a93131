"""The keyword names a ``_target_`` takes, read from its source file, not imported.

A key typo on the command line (``data.batch_sise=3``) is answered from the signature of
the section's target. Importing the target to read it costs seconds (a datamodule
imports Lightning, PyTorch and scikit-learn: ~7 s on a 2-core CPU); parsing the files
that define it with :mod:`ast` costs milliseconds. :func:`source_params` reads what
:func:`inspect.signature` would report, following what an import does:

- a name re-exported by a package (``from lightning.pytorch.trainer import Trainer``,
  ``from x import *``) is looked up where it is defined;
- a class's ``__init__`` is the first one along its method resolution order (C3, as
  Python computes it), and so is a classmethod (``DeepMLP.from_data``) defined on a base;
- a classmethod that takes ``**hparams`` accepts its class's ``__init__`` keywords too.

Where the source cannot tell (a compiled module, a name bound by an assignment or inside
an ``if``, a dataclass, a subscripted base such as ``Generic[T]``), it returns None and
the caller imports the target instead. No module is imported here
(``importlib.util.find_spec`` of a top-level name locates it without running it).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from dataclasses import dataclass
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Literal

_Function = ast.FunctionDef | ast.AsyncFunctionDef
_MAX_DEPTH = 12
"""Re-exports and bases followed before giving up (a cycle, or a very deep chain)."""


@dataclass(frozen=True)
class SourceParams:
    """What :func:`dlnotes.training.validate.signature` reads, minus the type hints."""

    name: str
    params: tuple[str, ...]
    open: bool


@dataclass(frozen=True)
class _Def:
    """A class or function defined at the top of ``module``."""

    module: str
    node: ast.ClassDef | _Function


@functools.lru_cache(maxsize=256)
def _module_file(module: str) -> Path | None:
    """The ``.py`` file of ``module`` (a package's ``__init__.py``), found as an import
    would find it, without running it or its packages."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
        for i, _ in enumerate(rest):
            if spec is None or spec.submodule_search_locations is None:
                return None
            name = ".".join([top, *rest[: i + 1]])
            spec = PathFinder.find_spec(name, list(spec.submodule_search_locations))
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    # a frozen module of the standard library (abc) keeps the name of its file
    origin = getattr(spec.loader_state, "filename", None) or spec.origin or ""
    return Path(origin) if origin.endswith(".py") else None


@functools.lru_cache(maxsize=256)
def _tree(module: str) -> ast.Module | None:
    path = _module_file(module)
    if path is None:
        return None
    try:
        return ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The module a ``from ... import`` in ``module`` names, relative levels resolved."""
    if not node.level:
        return node.module or ""
    path = _module_file(module)
    parts = module.split(".")
    if path is None or path.name != "__init__.py":
        parts = parts[:-1]  # a module's own package
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])


def _binds(stmt: ast.stmt, name: str) -> bool:
    """Whether ``stmt`` binds ``name`` in the scope it runs in: an assignment, a
    ``del``, a loop or ``with`` target, an import, or a definition inside an ``if`` or a
    ``try`` (the bodies of functions and classes are scopes of their own)."""
    todo: list[ast.AST] = [stmt]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            if node.id == name:
                return True
        elif isinstance(node, ast.alias):
            if (node.asname or node.name.split(".")[0]) == name:
                return True
        elif isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name == name:
                return True
            continue
        elif isinstance(node, ast.Lambda):
            continue
        todo.extend(ast.iter_child_nodes(node))
    return False


def _lookup(module: str, name: str, depth: int = 0) -> _Def | str | None:
    """What ``name`` is at the top of ``module``: a definition, a module's name, or
    None (not found, or bound in a way the source cannot tell)."""
    tree = _tree(module)
    if tree is None or depth > _MAX_DEPTH:
        return None
    for stmt in reversed(tree.body):  # the last binding wins
        if isinstance(stmt, ast.ClassDef | _Function):
            if stmt.name == name:
                return _Def(module, stmt)
        elif isinstance(stmt, ast.ImportFrom):
            source = _absolute(module, stmt)
            for alias in stmt.names:
                if alias.name == "*":
                    found = _lookup(source, name, depth + 1)
                    if found is not None:
                        return found
                elif (alias.asname or alias.name) == name:
                    found = _lookup(source, alias.name, depth + 1)
                    submodule = f"{source}.{alias.name}"
                    return found or (submodule if _tree(submodule) else None)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname == name:
                    return alias.name
                if alias.asname is None and alias.name.split(".")[0] == name:
                    return name
        elif _binds(stmt, name):
            return None  # an assignment, or a binding inside if/try/for: cannot tell
    return None


def _resolve(module: str, expr: ast.expr, depth: int) -> _Def | str | None:
    """A base-class expression (``Optimizer``, ``L.LightningDataModule``) of ``module``."""
    if isinstance(expr, ast.Name):
        return _lookup(module, expr.id, depth + 1)
    if isinstance(expr, ast.Attribute):
        owner = _resolve(module, expr.value, depth + 1)
        if isinstance(owner, str):
            return _lookup(owner, expr.attr, depth + 1) or (
                f"{owner}.{expr.attr}" if _tree(f"{owner}.{expr.attr}") else None
            )
    return None


def _mro(cls: _Def, depth: int = 0) -> list[_Def] | None:
    """The C3 linearization of ``cls`` without ``object`` (None: a base the source
    cannot resolve, or an inconsistent order). A metaclass does not change it, nor
    which ``__init__`` ``cls.__init__`` finds."""
    node = cls.node
    if not isinstance(node, ast.ClassDef) or depth > _MAX_DEPTH:
        return None
    bases: list[_Def] = []
    for expr in node.bases:
        if isinstance(expr, ast.Name) and expr.id == "object":
            continue
        base = _resolve(cls.module, expr, depth)
        if not isinstance(base, _Def):
            return None
        bases.append(base)
    orders = []
    for base in bases:
        order = _mro(base, depth + 1)
        if order is None:
            return None
        orders.append(order)
    orders.append(bases)
    merged = [cls]
    while any(orders):
        heads = [order[0] for order in orders if order]
        head = next((h for h in heads if not any(h in order[1:] for order in orders)), None)
        if head is None:
            return None
        merged.append(head)
        orders = [order[1:] if order and order[0] == head else order for order in orders]
    return merged


def _member(mro: list[_Def], name: str) -> tuple[_Def, _Function] | Literal[False] | None:
    """The first definition of method ``name`` along ``mro`` and its class; False where
    no class defines it, None where one binds it in a way the source cannot tell."""
    for cls in mro:
        assert isinstance(cls.node, ast.ClassDef)
        for stmt in reversed(cls.node.body):
            if isinstance(stmt, _Function) and stmt.name == name:
                return cls, stmt
            if _binds(stmt, name):
                return None
    return False


def _decorated(node: ast.ClassDef | _Function, name: str) -> bool:
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if (isinstance(target, ast.Name) and target.id == name) or (
            isinstance(target, ast.Attribute) and target.attr == name
        ):
            return True
    return False


def _keywords(fn: _Function, bound: bool) -> tuple[list[str], bool]:
    """The names a call can pass by keyword, as ``inspect.signature`` lists them (a
    bound method without its first argument), and whether it takes ``**kwargs``."""
    args = fn.args
    positional = [*args.posonlyargs, *args.args]
    skipped = positional[:1] if bound else []
    names = [a.arg for a in [*args.args, *args.kwonlyargs] if a not in skipped]
    return [n for n in names if n not in ("self", "cls")], args.kwarg is not None


def _init(cls: _Def) -> tuple[list[str], bool] | None:
    mro = _mro(cls)
    if mro is None or any(_decorated(c.node, "dataclass") for c in mro):
        return None
    found = _member(mro, "__init__")
    if found is False:  # object.__init__: (self, /, *args, **kwargs)
        return [], True
    return None if found is None else _keywords(found[1], bound=False)


@functools.lru_cache(maxsize=128)
def source_params(target: str) -> SourceParams | None:
    """The keyword names ``target`` (``pkg.module.Class``, ``pkg.module.function``, or
    ``pkg.module.Class.classmethod``) takes, from its source; None where the source
    cannot tell."""
    parts = target.split(".")
    cut = next((i for i in range(len(parts), 0, -1) if _tree(".".join(parts[:i]))), 0)
    if not cut or cut == len(parts) or len(parts) - cut > 2:
        return None
    found = _lookup(".".join(parts[:cut]), parts[cut])
    if not isinstance(found, _Def):
        return None
    attrs = parts[cut + 1 :]
    if not attrs:  # a class or a function
        if isinstance(found.node, ast.ClassDef):
            init = _init(found)
            if init is None:
                return None
            names, open_ = init
        else:
            names, open_ = _keywords(found.node, bound=False)
        return SourceParams(f"{found.module}.{found.node.name}", tuple(names), open_)
    mro = _mro(found) if isinstance(found.node, ast.ClassDef) else None
    member = _member(mro, attrs[0]) if mro else None
    if not member or not _decorated(member[1], "classmethod"):
        return None  # only a classmethod (a from_data-style builder) is read
    owner, method = member
    names, open_ = _keywords(method, bound=True)
    if open_:  # **hparams: what the class's __init__ takes
        init = _init(found)
        if init is None:
            return None
        names, open_ = [*names, *init[0]], init[1]
    assert isinstance(owner.node, ast.ClassDef)
    return SourceParams(f"{owner.module}.{owner.node.name}.{method.name}", tuple(names), open_)
