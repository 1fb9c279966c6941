"""Generate ``nnlint/data/library_modules.txt``: the Module classes of well-known libraries.

nnlint never imports torch or the libraries it knows about. When a class's base comes from a library
that is not importable where nnlint runs (a pre-commit hook's own environment, CI without the
model's dependencies), this table is how it still knows that ``torchvision.models.ResNet`` or
``transformers.BertModel`` is an ``nn.Module`` class.

Two sources, both read mechanically -- nothing in the table is typed by hand:

* **torch** (``torch.nn``, ``torch.ao.nn`` and a few Module classes elsewhere in torch): the
  installed torch is imported here (the generator may; the linter may not). Every class that
  subclasses ``nn.Module`` is listed under every public path it can be imported from, with its
  train/eval behaviour, which is *observed*: each class is built from its signature (small sizes
  filled in), run on a small input in eval and in train mode, and the outputs compared; then each
  numeric or boolean constructor argument is turned off (0 / False) and on, to find the one
  argument that decides it (``Dropout(p)``, ``BatchNorm2d(track_running_stats)``,
  ``LSTM(dropout)`` with two layers). A class that cannot be run that way falls back to its
  source: it is sensitive when the code reachable from it reads ``self.training``, gated by the
  one boolean argument and-ed with ``self.training`` when there is one. A class that takes modules
  (an argument annotated as a Module, ``module``/``modules``, or a container base) is a
  ``container``: its behaviour is that of its contents.
* **the other libraries** (torchvision, timm, transformers, diffusers, lightning,
  pytorch_lightning, lightning_fabric): their wheels are downloaded with ``pip download --no-deps``
  and unpacked, never imported (torchvision's wheel cannot be imported against every torch). Every
  file is summarised with nnlint's own :func:`nnlint.project.summarise_source`, star imports are
  expanded (``__all__`` or the public names), and nnlint's own
  :class:`nnlint.project.ClassHierarchy` decides which classes are Module classes. A class is listed
  under its defining module and under every package (or module with ``__all__``) that exports it
  -- ``transformers.BertModel``, ``transformers.models.bert.BertModel``,
  ``transformers.models.bert.modeling_bert.BertModel``. Their mode is ``sensitive`` (conservative:
  a library model is assumed to hold dropout or batch norm).

Usage::

    python scripts/gen_library_modules.py                  # download the wheels, regenerate
    python scripts/gen_library_modules.py --sources DIR    # DIR holds the unpacked packages

File format (one class per line, sorted; see ``nnlint/library.py`` for the reader)::

    # comments; the header names the versions the table came from
    [torch]                                   a section per top-level package
    torch.nn.modules.dropout                  a module that defines Module classes
     Dropout arg:p:0:0.5 1 2                  class, mode, then where else it is exported:
                                              a number N is the same name in the package N levels
                                              up (1: torch.nn.modules, 2: torch.nn), a dotted
                                              name is any other path

Modes: ``s`` sensitive (the default, omitted for libraries), ``i`` insensitive, ``c`` container,
``arg:NAME:POSITION:DEFAULT`` sensitive iff that constructor argument is non-zero / truthy
(POSITION ``-`` for keyword-only).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import typing
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(Path(__file__).resolve().parent))  # the probe's worker imports this file by name

from nnlint.project import ClassHierarchy, summarise_source  # noqa: E402
from nnlint.runner import _libcst_summary  # noqa: E402  (the runner's fallback, as for any dependency)
from nnlint.semantic import ModuleSummary  # noqa: E402

OUTPUT = REPO / "nnlint" / "data" / "library_modules.txt"
DISTRIBUTIONS = ("torchvision", "timm", "transformers", "diffusers", "lightning", "pytorch_lightning")
# Packages walked in full in the installed torch, and modules whose own Module classes are listed.
TORCH_PACKAGES = ("torch.nn", "torch.ao.nn")
TORCH_MODULES = ("torch.jit", "torch.jit._script", "torch.fx", "torch.fx.graph_module")

SENSITIVE, INSENSITIVE, CONTAINER = "s", "i", "c"


@dataclass
class Entry:
    """One Module class: its mode token and the other qualified names it is exported under."""

    mode: str = SENSITIVE
    exports: set[str] = field(default_factory=set)


# -- torch, from the installed package --------------------------------------------------------


def torch_entries(packages: Iterable[str] = TORCH_PACKAGES, modules: Iterable[str] = TORCH_MODULES) -> dict[str, Entry]:
    """Canonical qualified name -> Entry for every Module class in the given torch namespaces."""
    import torch.nn as nn

    namespaces = dict(_import_torch_modules(packages, modules))
    found: dict[str, Entry] = {}
    classes: dict[str, type] = {}
    for name in sorted(namespaces):
        module = namespaces[name]
        for attr, value in sorted(vars(module).items()):
            if not (isinstance(value, type) and issubclass(value, nn.Module)):
                continue
            canonical = _canonical(value)
            if canonical is None:
                continue
            defined_here = canonical == f"{name}.{attr}"
            if not defined_here and not _exports(module, attr):
                continue
            classes[canonical] = value
            entry = found.setdefault(canonical, Entry())
            if not defined_here:
                entry.exports.add(f"{name}.{attr}")
    modes = _TorchModes()
    for canonical, cls in classes.items():
        found[canonical].mode = modes.mode(cls)
    return found


def _import_torch_modules(packages: Iterable[str], modules: Iterable[str]) -> Iterator[tuple[str, object]]:
    import pkgutil

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for package_name in packages:
            package = importlib.import_module(package_name)
            yield package_name, package
            for info in pkgutil.walk_packages(package.__path__, package_name + ".", onerror=lambda name: None):
                try:
                    yield info.name, importlib.import_module(info.name)
                except Exception:  # noqa: BLE001 - an optional backend missing: skip that module
                    continue
        for name in modules:
            try:
                yield name, importlib.import_module(name)
            except Exception:  # noqa: BLE001
                continue


def _canonical(cls: type) -> str | None:
    if "." in cls.__qualname__ or "<" in cls.__qualname__:
        return None
    module = sys.modules.get(cls.__module__)
    if module is None or getattr(module, cls.__qualname__, None) is not cls:
        return None
    return f"{cls.__module__}.{cls.__qualname__}"


def _exports(module: object, attr: str) -> bool:
    """Whether ``module`` exports ``attr``: its ``__all__``, or any public name of a package."""
    exported = getattr(module, "__all__", None)
    if exported is not None:
        return attr in exported
    return hasattr(module, "__path__") and not attr.startswith("_")


class _TorchModes:
    """Train/eval behaviour of torch Module classes, observed (or read from source when they cannot
    be run); memoised, since a class's children are classes too."""

    def __init__(self) -> None:
        import torch.nn as nn

        self.nn = nn
        self._modes: dict[type, str] = {}
        self._prober = _Prober()

    def mode(self, cls: type) -> str:
        if cls not in self._modes:
            self._modes[cls] = INSENSITIVE  # a cycle through children: assume nothing
            self._modes[cls] = self._compute(cls)
        return self._modes[cls]

    def _compute(self, cls: type) -> str:
        nn = self.nn
        if cls is nn.Module or self._takes_modules(cls):
            return CONTAINER
        signature = user_signature(cls)
        probe = self._prober.probe(cls)
        reads = reads_training(cls)
        if probe is not None:
            mode, observed = probe
            if mode is not None:
                return mode
            return SENSITIVE if observed or reads else INSENSITIVE
        # Could not be run: read the source.
        if reads:
            gate = training_gate(cls, signature)
            return gate or SENSITIVE
        for child in constructed_children(cls):
            if self.mode(child) not in (INSENSITIVE, CONTAINER):  # a container built empty is filled by __init__ too
                return SENSITIVE
        return INSENSITIVE

    def _takes_modules(self, cls: type) -> bool:
        """Built from modules (a constructor argument annotated as a Module, or named ``module`` /
        ``modules``), or running the ``forward`` of a class that is (a fused ``ConvReLU2d`` is a
        ``Sequential``)."""
        nn = self.nn
        owner = next((klass for klass in cls.__mro__ if "forward" in klass.__dict__), nn.Module)
        if owner is not cls and owner is not nn.Module and self._takes_modules(owner):
            return True
        init = next((klass.__dict__["__init__"] for klass in cls.__mro__ if "__init__" in klass.__dict__), None)
        if init is None or init is nn.Module.__init__:
            return False
        namespace = vars(sys.modules.get(init.__module__, object()))
        signatures = [inspect.signature(o) for o in typing.get_overloads(init)] or [_signature(init)]
        for signature in signatures:
            if signature is None:
                continue
            for param in list(signature.parameters.values())[1:]:
                if param.name in ("module", "modules") or _names_a_module(param.annotation, namespace, nn):
                    return True
        return False


class _Prober:
    """Runs :func:`probe_modes` in a worker process: some classes crash the interpreter when built
    from guessed arguments (a quantized convolution dies of SIGFPE). A crash counts as a class that
    cannot be run, and a fresh worker takes the next class. Workers are spawned, not forked: a fork
    of a process that has already run torch's OpenMP threads can hang."""

    def __init__(self) -> None:
        self._executor: object | None = None

    def probe(self, cls: type) -> tuple[str | None, bool] | None:
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool
        import multiprocessing

        if self._executor is None:
            self._executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        future = self._executor.submit(_probe_by_name, cls.__module__, cls.__qualname__)  # type: ignore[attr-defined]
        try:
            return future.result(timeout=300)
        except BrokenProcessPool:
            self._executor = None
            return None
        except TimeoutError:  # a class that hangs: stop its worker
            for process in list(getattr(self._executor, "_processes", {}).values()):
                process.terminate()
            self._executor = None
            return None

    def __del__(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()  # type: ignore[attr-defined]


def _probe_by_name(module: str, qualname: str) -> tuple[str | None, bool] | None:
    cls = getattr(importlib.import_module(module), qualname)
    return probe_modes(cls, user_signature(cls))


def _signature(function: object) -> inspect.Signature | None:
    try:
        return inspect.signature(function)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _names_a_module(annotation: object, namespace: dict, nn: object) -> bool:
    if annotation is inspect.Parameter.empty:
        return False
    if isinstance(annotation, typing.TypeVar):
        return annotation.__bound__ is not None and _names_a_module(annotation.__bound__, namespace, nn)
    text = annotation if isinstance(annotation, str) else repr(annotation)
    for word in re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text):
        value = namespace.get(word, getattr(nn, word, None)) if word != "Any" else None
        if isinstance(value, type) and issubclass(value, nn.Module):  # type: ignore[attr-defined]
            return True
    return False


def user_signature(cls: type) -> inspect.Signature | None:
    """The constructor's signature as users call it (without ``self``): the first ``@overload``
    that names its parameters (``LSTM(input_size, hidden_size, ...)`` rather than ``*args``)."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for overload in typing.get_overloads(init):
            signature = _signature(overload)
            if signature is not None and not any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values()):
                return signature.replace(parameters=list(signature.parameters.values())[1:])
        break
    return _signature(cls)


# The probe: build a class with small sizes, run it in eval and in train mode, compare.
_SHAPES = ((4, 4, 4), (4, 4), (4, 4, 4, 4), (4, 4, 4, 4, 4), (4,))


def _fill(param: inspect.Parameter) -> object:
    text = param.annotation if isinstance(param.annotation, str) else repr(param.annotation)
    if param.annotation is inspect.Parameter.empty:
        return 4
    if "bool" in text:
        return True
    if "int" in text:
        return 4
    if "float" in text:
        return 2.0
    raise _CannotBuild(param.name)


class _CannotBuild(Exception):
    pass


def _switches(signature: inspect.Signature) -> dict[str, object]:
    """Constructor arguments that can be turned off and on: numbers and booleans with a default."""
    return {
        p.name: p.default
        for p in signature.parameters.values()
        if type(p.default) in (bool, int, float) and p.kind is not p.VAR_KEYWORD and not p.name.startswith("_")
    }


def _configs(signature: inspect.Signature) -> list[dict[str, object]]:
    """Keyword arguments for the probe: required ones filled in and large sizes made small; then the
    same with every 1 made a 2 (an LSTM's dropout only acts between two layers)."""
    base: dict[str, object] = {}
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is inspect.Parameter.empty:
            base[param.name] = _fill(param)
        elif type(param.default) is int and param.default > 4:
            base[param.name] = 4
    more = dict(base)
    for param in signature.parameters.values():
        if type(param.default) is int and param.default == 1:
            more[param.name] = 2
    return [base, more] if more != base else [base]


def _flatten(value: object) -> list[object]:
    if isinstance(value, (tuple, list)):
        return [item for element in value for item in _flatten(element)]
    if isinstance(value, dict):
        return [item for key in sorted(value, key=str) for item in _flatten(value[key])]
    return [value]


def _differs(first: object, second: object) -> bool:
    import torch

    a, b = _flatten(first), _flatten(second)
    if len(a) != len(b):
        return True
    for x, y in zip(a, b):
        if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
            if x.shape != y.shape or x.dtype != y.dtype:
                return True
            if x.is_floating_point():
                if not torch.allclose(x, y, atol=1e-5, rtol=1e-4, equal_nan=True):
                    return True
            elif not torch.equal(x, y):
                return True
        elif type(x) is not type(y) or (not isinstance(x, torch.Tensor) and x != y):
            return True
    return False


def _inputs(count: int, shape: tuple[int, ...], integer: bool) -> list[object]:
    import torch

    generator = torch.Generator().manual_seed(0)
    if integer:
        return [torch.randint(0, 4, shape, generator=generator) for _ in range(count)]
    return [torch.randn(shape, generator=generator) for _ in range(count)]


def _run_both(cls: type, kwargs: dict[str, object], inputs: list[object]) -> bool:
    """Build and run in eval, then in train mode (batch norm updates its statistics in train);
    True when the outputs differ. Raises when the class cannot be built or run."""
    import torch

    torch.manual_seed(0)
    module = cls(**kwargs)
    module.eval()
    torch.manual_seed(1)
    evaluated = module(*[x.clone() for x in inputs])  # type: ignore[attr-defined]
    module.train()
    torch.manual_seed(1)
    trained = module(*[x.clone() for x in inputs])  # type: ignore[attr-defined]
    return _differs(evaluated, trained)


def probe_modes(cls: type, signature: inspect.Signature | None) -> tuple[str | None, bool] | None:
    """(the mode when one argument decides it, else None; whether eval and train ever differed),
    or None when the class cannot be built and run."""
    if signature is None:
        return None
    forward = _signature(getattr(cls, "forward", None))
    if forward is None:
        return None
    count = sum(
        1
        for p in list(forward.parameters.values())[1:]
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )
    try:
        configs = _configs(signature)
    except _CannotBuild:
        return None
    switches = _switches(signature)
    observed = False
    worked = False
    # name -> (turned off was insensitive everywhere it ran, turned on was sensitive somewhere)
    off_quiet: dict[str, bool] = dict.fromkeys(switches, True)
    on_loud: dict[str, bool] = dict.fromkeys(switches, False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for config in configs:
            inputs = None
            for shape in _SHAPES:
                for integer in (False, True):
                    candidate = _inputs(count, shape, integer)
                    try:
                        differs = _run_both(cls, config, candidate)
                    except Exception:  # noqa: BLE001 - wrong shape or dtype: try the next
                        continue
                    inputs = candidate
                    break
                if inputs is not None:
                    break
            if inputs is None:
                continue
            worked = True
            observed = observed or differs
            for name, default in switches.items():
                off = False if type(default) is bool else type(default)(0)
                on = True if type(default) is bool else (default if default else type(default)(0.5 if type(default) is float else 1))
                try:
                    if _run_both(cls, {**config, name: off}, inputs):
                        off_quiet[name] = False
                except Exception:  # noqa: BLE001 - cannot be turned off: not the deciding argument
                    off_quiet[name] = False
                try:
                    if _run_both(cls, {**config, name: on}, inputs):
                        on_loud[name] = True
                        observed = True
                except Exception:  # noqa: BLE001
                    pass
    if not worked:
        return None
    deciding = [name for name in switches if off_quiet[name] and on_loud[name]]
    if len(deciding) == 1:
        return _argument(signature, deciding[0]), observed
    return None, observed


def _argument(signature: inspect.Signature, name: str) -> str:
    params = list(signature.parameters.values())
    param = signature.parameters[name]
    position = "-"
    if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
        position = str(params.index(param))
    return f"arg:{name}:{position}:{param.default!r}"


# Source reading, for classes the probe cannot run.


def _class_trees(cls: type) -> Iterator[tuple[type, ast.ClassDef]]:
    import torch.nn as nn

    for klass in cls.__mro__:
        if klass is nn.Module or not (isinstance(klass, type) and issubclass(klass, nn.Module)):
            continue
        if not klass.__module__.startswith("torch"):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        tree = ast.parse(source)
        if tree.body and isinstance(tree.body[0], ast.ClassDef):
            yield klass, tree.body[0]


def _is_self_training(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "training"
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        and isinstance(node.ctx, ast.Load)
    )


def _diagnostic_only(statement: ast.If) -> bool:
    """``elif self.training: why_not = "training is enabled"``: a branch that only names a reason."""
    return all(
        isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str)
        for s in statement.body
    )


def _training_reads(cls: type) -> Iterator[tuple[ast.AST, list[ast.AST]]]:
    """Each read of ``self.training`` in the methods the class runs (each from the class the method
    resolution order takes it from), with its ancestors (outermost first)."""
    resolved: set[str] = set()
    for _, tree in _class_trees(cls):
        for item in tree.body:
            if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) or item.name in resolved:
                continue
            resolved.add(item.name)
            if item.name.startswith("__") and item.name not in ("__call__", "__init__"):
                continue
            stack: list[tuple[ast.AST, list[ast.AST]]] = [(item, [])]
            while stack:
                node, parents = stack.pop()
                if isinstance(node, ast.If) and _is_self_training_test(node.test) and _diagnostic_only(node):
                    stack.extend((child, [*parents, node]) for child in node.orelse)
                    continue
                if _is_self_training(node):
                    yield node, parents
                stack.extend((child, [*parents, node]) for child in ast.iter_child_nodes(node))


def _is_self_training_test(test: ast.AST) -> bool:
    return any(_is_self_training(node) for node in ast.walk(test))


def reads_training(cls: type) -> bool:
    return any(True for _ in _training_reads(cls))


def training_gate(cls: type, signature: inspect.Signature | None) -> str | None:
    """``arg:...`` when every read of ``self.training`` is and-ed with the same boolean constructor
    argument (``self.training and self.track_running_stats``)."""
    if signature is None:
        return None
    gates: set[str] = set()
    for node, parents in _training_reads(cls):
        boolop = next((p for p in reversed(parents) if isinstance(p, ast.BoolOp)), None)
        if boolop is None:
            return None
        names = {
            operand.attr
            for operand in boolop.values
            if isinstance(operand, ast.Attribute) and isinstance(operand.value, ast.Name) and operand.value.id == "self"
        }
        names = {n for n in names if n in signature.parameters and type(signature.parameters[n].default) is bool}
        if len(names) != 1:
            return None
        gates |= names
    if len(gates) != 1:
        return None
    return _argument(signature, gates.pop())


def constructed_children(cls: type) -> Iterator[type]:
    """Module classes that ``__init__`` assigns to ``self`` attributes (``self.drop = Dropout(p)``)."""
    import torch.nn as nn

    for klass, tree in _class_trees(cls):
        init = next((item for item in tree.body if isinstance(item, ast.FunctionDef) and item.name == "__init__"), None)
        if init is None:
            continue
        namespace = vars(sys.modules.get(klass.__module__, nn))
        for node in ast.walk(init):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                value = _resolve(node.value.func, namespace)
                if isinstance(value, type) and issubclass(value, nn.Module):
                    yield value
        return


def _resolve(node: ast.AST, namespace: dict) -> object:
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, namespace)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


# -- the other libraries, from their unpacked wheels -------------------------------------------


@dataclass
class _ModuleFacts:
    module: str
    is_package: bool
    summary: ModuleSummary
    stars: list[str]
    all_names: list[str] | None
    quiet: set[str]  # classes whose own code shows no sign of depending on the mode


def library_entries(root: Path, known_torch: set[str], packages: Iterable[str] | None = None) -> dict[str, Entry]:
    """Canonical qualified name -> Entry for the Module classes of the packages under ``root``."""
    from nnlint.names import torch_nn_layer_name

    facts = {}
    for package in sorted(packages if packages is not None else _top_packages(root)):
        for module_facts in _read_package(root, package):
            facts[module_facts.module] = module_facts
    namespaces = _Namespaces(facts)
    summaries = {
        module: ModuleSummary(module=module, aliases=namespaces.aliases(module), class_bases=f.summary.class_bases)
        for module, f in facts.items()
    }

    def known(qualname: str) -> bool:
        return qualname in known_torch or torch_nn_layer_name(qualname)

    hierarchy = ClassHierarchy(lambda path, module, is_package: summaries.get(module), [root], known=known, site_packages=False)
    module_classes = {
        f"{module}.{name}"
        for module in sorted(facts)
        for name in sorted(facts[module].summary.class_bases)
        if hierarchy.is_module_class(f"{module}.{name}")
    }
    quiet_memo: dict[str, bool] = {}

    def quiet(qualname: str, depth: int = 0) -> bool:
        """No sign of a mode in the class or any of its bases (``torch.nn.Module`` aside)."""
        if qualname in ("torch.nn.Module", "torch.nn.modules.module.Module", "object"):
            return True
        if qualname in quiet_memo or depth > 50:
            return quiet_memo.get(qualname, False)
        quiet_memo[qualname] = False
        module, _, name = qualname.rpartition(".")
        module_facts = facts.get(module)
        result = (
            module_facts is not None
            and name in module_facts.quiet
            and all(quiet(namespaces.resolve(base), depth + 1) for base in module_facts.summary.class_bases[name])
        )
        quiet_memo[qualname] = result
        return result

    # Public names only: what a module declares in `__all__`, or a package's public names; a
    # module without `__all__` publishes the public classes it defines, not what it imports.
    found: dict[str, Entry] = {}
    for module in sorted(facts):
        module_facts = facts[module]
        if module_facts.all_names is not None:
            published = set(module_facts.all_names)
        elif module_facts.is_package:
            published = set(namespaces.exported(module))
        else:
            published = {name for name in module_facts.summary.class_bases if not name.startswith("_")}
        for name in sorted(published):
            qualname = f"{module}.{name}"
            target = namespaces.resolve(qualname)
            if target not in module_classes:
                continue
            entry = found.setdefault(target, Entry(INSENSITIVE if quiet(target) else SENSITIVE))
            if target != qualname:
                entry.exports.add(qualname)
    return found


def _top_packages(root: Path) -> list[str]:
    return sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir() and entry.name.isidentifier() and (entry / "__init__.py").is_file()
    )


def _read_package(root: Path, package: str) -> Iterator[_ModuleFacts]:
    base = root / package
    for directory, subdirectories, files in os.walk(base):
        subdirectories[:] = sorted(d for d in subdirectories if d.isidentifier() and (Path(directory) / d / "__init__.py").is_file())
        relative = Path(directory).relative_to(root).parts
        for file in sorted(files):
            if not file.endswith(".py") or not file[:-3].isidentifier():
                continue
            is_package = file == "__init__.py"
            module = ".".join(relative if is_package else (*relative, file[:-3]))
            try:
                text = (Path(directory) / file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            summary = summarise_source(text, module, is_package) or _libcst_summary(text, module, is_package)
            if summary is None:
                continue
            tree = ast.parse(text)
            stars, all_names = _stars_and_all(tree, module, is_package)
            yield _ModuleFacts(module, is_package, summary, stars, all_names, _quiet_classes(tree, text))


# A library class is `insensitive` only when nothing in its code (or its bases') hints at a mode:
# no such word, and `__init__` builds its attributes from nothing but private helpers and builtins
# (a torchvision transform, an activation); anything else stays `sensitive`.
_MODE_WORDS = re.compile(r"training|drop|batch_?norm|instance_?norm|norm_layer|sync_?bn|\bbn", re.IGNORECASE)
_PLAIN_CALLS = frozenset(
    {"list", "tuple", "dict", "set", "frozenset", "int", "float", "str", "bool", "max", "min", "abs", "round", "sorted", "len", "super", "isinstance"}
)


def _quiet_classes(tree: ast.Module, text: str) -> set[str]:
    quiet = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and not _MODE_WORDS.search(ast.get_source_segment(text, node) or "training"):
            inits = [item for item in node.body if isinstance(item, ast.FunctionDef) and item.name == "__init__"]
            if any(_MODULE_PARAMETER.search(arg.arg) for init in inits for arg in ast.walk(init.args) if isinstance(arg, ast.arg)):
                continue  # built around a model it is given
            if all(_plain_call(call) for init in inits for call in ast.walk(init) if isinstance(call, ast.Call)):
                quiet.add(node.name)
    return quiet


_MODULE_PARAMETER = re.compile(r"model|module|net|layer|block|encoder|decoder|backbone|head|student|teacher", re.IGNORECASE)


def _plain_call(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in _PLAIN_CALLS or func.id.startswith("_") or func.id.endswith(("Error", "Exception", "Warning"))
    if isinstance(func, ast.Attribute):
        if func.attr in ("add_module", "register_module"):
            return False
        if isinstance(func.value, ast.Call) and isinstance(func.value.func, ast.Name) and func.value.func.id == "super":
            return True  # super().__init__(...)
        return func.attr.startswith("_") or (isinstance(func.value, ast.Name) and func.value.id in ("self", "torch", "math", "F", "warnings", "logger"))
    return False


def _stars_and_all(tree: ast.Module, module: str, is_package: bool) -> tuple[list[str], list[str] | None]:
    """The modules ``from M import *`` reads (anywhere at module level, ``if TYPE_CHECKING:``
    included) and the literal ``__all__`` (None when there is none)."""
    from nnlint.semantic import _relative_base

    stars: list[str] = []
    all_names: list[str] | None = None
    for node in _module_level(tree.body):
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            source = node.module or ""
            if node.level:
                base = _relative_base(module, is_package, node.level)
                source = ".".join(p for p in (base, source) if p)
            stars.append(source)
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                names = _literal_strings(node.value)
                if names is not None:
                    all_names = (all_names or []) + names if isinstance(node, ast.AugAssign) else names
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "extend"
                and isinstance(func.value, ast.Name)
                and func.value.id == "__all__"
                and node.value.args
            ):
                names = _literal_strings(node.value.args[0])
                if names is not None:
                    all_names = (all_names or []) + names
    return stars, all_names


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for statement in body:
        yield statement
        if isinstance(statement, (ast.If, ast.Try)):
            blocks = [statement.body, statement.orelse]
            if isinstance(statement, ast.Try):
                blocks += [statement.finalbody] + [h.body for h in statement.handlers]
            for block in blocks:
                yield from _module_level(block)


def _literal_strings(node: ast.AST | None) -> list[str] | None:
    if isinstance(node, (ast.List, ast.Tuple)) and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return [e.value for e in node.elts]  # type: ignore[attr-defined]
    return None


class _Namespaces:
    """What each module's namespace holds once star imports are expanded: name -> target."""

    def __init__(self, facts: dict[str, _ModuleFacts]) -> None:
        self.facts = facts
        self._aliases: dict[str, dict[str, str]] = {}
        self._busy: set[str] = set()

    def aliases(self, module: str) -> dict[str, str]:
        """The module's imports, plus a ``name -> source.name`` alias for every name a star import
        brings in (explicit imports and definitions win over star imports)."""
        if module in self._aliases:
            return self._aliases[module]
        facts = self.facts[module]
        if module in self._busy:
            return facts.summary.aliases
        self._busy.add(module)
        aliases: dict[str, str] = {}
        for source in facts.stars:
            if source not in self.facts:
                continue
            for name in self.exported(source):
                aliases.setdefault(name, f"{source}.{name}")
        aliases.update(facts.summary.aliases)
        for name in facts.summary.class_bases:
            aliases.pop(name, None)
        self._busy.discard(module)
        self._aliases[module] = aliases
        return aliases

    def exported(self, module: str) -> list[str]:
        """``from module import *``: its ``__all__``, else its public names."""
        facts = self.facts[module]
        if facts.all_names is not None:
            return sorted(set(facts.all_names))
        names = set(self.aliases(module)) | set(facts.summary.class_bases)
        return sorted(n for n in names if not n.startswith("_"))

    def resolve(self, qualname: str, depth: int = 0) -> str:
        """Follow re-exports to the defining ``module.Class``."""
        if depth > 50:
            return qualname
        module, _, name = qualname.rpartition(".")
        if module not in self.facts:
            return qualname
        if name in self.facts[module].summary.class_bases:
            return qualname
        target = self.aliases(module).get(name)
        if target is None or target == qualname:
            return qualname
        return self.resolve(target, depth + 1)


# -- the file ---------------------------------------------------------------------------------


def render(sections: dict[str, dict[str, Entry]], versions: dict[str, str]) -> str:
    lines = [
        "# nnlint: Module classes of well-known libraries. Generated by scripts/gen_library_modules.py;",
        "# do not edit. Format: see that script (and nnlint/library.py, which reads it).",
        "# From: " + ", ".join(f"{name} {version}" for name, version in sorted(versions.items())),
    ]
    for top in sorted(sections):
        entries = sections[top]
        if not entries:
            continue
        lines.append(f"[{top}]")
        by_module: dict[str, list[str]] = {}
        for qualname in entries:
            module, _, name = qualname.rpartition(".")
            by_module.setdefault(module, []).append(name)
        for module in sorted(by_module):
            lines.append(module)
            for name in sorted(by_module[module]):
                entry = entries[f"{module}.{name}"]
                tokens = [name]
                if entry.mode != SENSITIVE or top == "torch":  # sensitive goes without saying elsewhere
                    tokens.append(entry.mode)
                tokens += sorted((_export_token(module, name, e) for e in entry.exports), key=_token_order)
                lines.append(" " + " ".join(tokens))
    return "\n".join(lines) + "\n"


def _export_token(module: str, name: str, export: str) -> str:
    export_module, _, export_name = export.rpartition(".")
    parts = module.split(".")
    if export_name == name:
        for up in range(1, len(parts)):
            if ".".join(parts[:-up]) == export_module:
                return str(up)
    return export


def _token_order(token: str) -> tuple[int, int, str]:
    return (0, int(token), "") if token.isdigit() else (1, 0, token)


def _versions(root: Path) -> dict[str, str]:
    versions = {}
    for info in sorted(root.glob("*.dist-info")):
        name = version = None
        for line in (info / "METADATA").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Name: "):
                name = line[6:].strip()
            elif line.startswith("Version: "):
                version = line[9:].strip()
            elif not line:
                break
        if name and version:
            versions[name] = version
    return versions


def download(directory: Path, distributions: Iterable[str] = DISTRIBUTIONS) -> Path:
    """``pip download --no-deps`` the distributions and unpack every wheel into ``directory/src``."""
    wheels = directory / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", str(wheels), *distributions],
        check=True,
    )
    source = directory / "src"
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(source)
    return source


def generate(sources: Path | None, torch_packages: Iterable[str] = TORCH_PACKAGES, torch_modules: Iterable[str] = TORCH_MODULES, with_torch: bool = True) -> str:
    sections: dict[str, dict[str, Entry]] = {}
    versions: dict[str, str] = {}
    known_torch: set[str] = set()
    if with_torch:
        import torch

        versions["torch"] = torch.__version__
        torch_table = torch_entries(torch_packages, torch_modules)
        sections["torch"] = torch_table
        for canonical, entry in torch_table.items():
            known_torch.add(canonical)
            known_torch |= entry.exports
    if sources is not None:
        versions.update(_versions(sources))
        for qualname, entry in library_entries(sources, known_torch).items():
            sections.setdefault(qualname.partition(".")[0], {})[qualname] = entry
    return render(sections, versions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, help="directory of unpacked library packages (default: download the wheels)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--no-torch", action="store_true", help="leave out the torch section (no torch import)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temporary:
        sources = args.sources or download(Path(temporary))
        text = generate(sources, with_torch=not args.no_torch)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    classes = sum(1 for line in text.splitlines() if line.startswith(" "))
    print(f"{args.output}: {classes} classes, {len(text.encode()) // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
