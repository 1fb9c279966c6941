"""What every check needs: building fresh instances, inputs, forward passes, losses, comparisons,
and the wrapper that restores global state and labels failures.

Every call into user code (factory, inputs, forward, loss, backward, `.to()`) goes through a
helper here that turns an exception into a one-line CheckFailure saying which call failed.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
import traceback
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase
from typing import Any, Union

import torch
from torch import nn

from pytest_nnlint.inputs import DeclaredInputs, Inputs
from pytest_nnlint.results import CheckFailure, CheckResult, CheckSkipped, Problem
from pytest_nnlint.spec import ModelSpec, SpecError
from pytest_nnlint.state import preserved_torch_state
from pytest_nnlint.walk import display_path

DeviceLike = Union[str, torch.device]

# (rtol, atol) for cross-device comparisons, per dtype.
DTYPE_TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float16: (1e-3, 1e-3),
    torch.bfloat16: (1.6e-2, 1e-2),
    torch.float32: (1e-4, 1e-5),
    torch.float64: (1e-7, 1e-7),
}

# Instances a factory has handed to a check. A factory that returns one of them again is handing
# out a shared (likely the user's own) instance, which the checks would then mutate.
_ISSUED: weakref.WeakSet[nn.Module] = weakref.WeakSet()


class Report:
    """Collects the problems, notes and details of one check run."""

    def __init__(self, check: str, spec: ModelSpec, device: torch.device) -> None:
        self.check = check
        self.spec = spec
        self.device = device
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.details: list[str] = []

    def fail(self, path: str, message: str, rule: str | None = None) -> None:
        self.problems.append(Problem(path, message, rule))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def detail(self, text: str) -> None:
        self.details.append(text)


CheckBody = Callable[[ModelSpec, torch.device, Report], None]
CheckFunction = Callable[..., CheckResult]


def check_function(name: str, *, accelerator_only: bool = False) -> Callable[[CheckBody], CheckFunction]:
    """Turn `body(spec, device, report)` into the public `check(spec, device="cpu")`.

    The public function validates its arguments, runs the body with grad enabled inside a
    preserved global torch state, and raises one CheckFailure listing every problem found.
    """

    def decorate(body: CheckBody) -> CheckFunction:
        @functools.wraps(body)
        def run(spec: ModelSpec, device: DeviceLike = "cpu") -> CheckResult:
            if not isinstance(spec, ModelSpec):
                raise TypeError(f"{name}: expected a ModelSpec, got {type(spec).__name__}")
            target = resolve_device(device)
            if accelerator_only and target.type == "cpu":
                raise CheckSkipped(f"{name} compares CPU with an accelerator; it does not run on cpu")
            report = Report(name, spec, target)
            with preserved_torch_state():
                torch.set_grad_enabled(True)
                try:
                    body(spec, target, report)
                except CheckFailure as failure:
                    report.problems.extend(failure.problems)
            inferred = inputs_description(spec)
            if inferred is not None:
                report.note(inferred)  # said once per model after the run
            problems = _apply_allowances(name, spec, report)
            if problems:
                raise CheckFailure(problems, check=name, model=spec.name, device=str(target), notes=report.notes)
            return CheckResult(name, spec.name, str(target), tuple(report.notes), tuple(report.details))

        run.check_name = name  # type: ignore[attr-defined]
        return run

    return decorate


def _apply_allowances(check: str, spec: ModelSpec, report: Report) -> list[Problem]:
    """The problems no allowance covers; the covered ones become notes naming the allowance."""
    remaining = []
    allowed: dict[Any, list[Problem]] = {}
    for problem in report.problems:
        allowance = spec.allowance_for(check, problem.path)
        if allowance is None:
            remaining.append(problem)
        else:
            allowed.setdefault(allowance, []).append(problem)
    for allowance, problems in allowed.items():
        paths = ", ".join(p.path for p in problems[:3]) + (", ..." if len(problems) > 3 else "")
        report.note(f"allowed by {allowance.describe()}: {len(problems)} problem(s) at {paths}, e.g. {problems[0]}")
    return remaining


def fatal(message: str, path: str = "", rule: str | None = None) -> CheckFailure:
    """A problem after which the check cannot go on."""
    return CheckFailure(Problem(path, message, rule))


def describe_exception(exc: BaseException) -> str:
    """`ValueError: bad shape (at models.py:12 in forward)` - the innermost frame of user code."""
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0] if str(exc) else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    user_frames = [f for f in frames if "torch" not in f.filename.replace("\\", "/").split("/")
                   and "pytest_nnlint" not in f.filename]
    if user_frames:
        frame = user_frames[-1]
        text += f" (at {frame.filename}:{frame.lineno} in {frame.name})"
    return text


# --- devices ---------------------------------------------------------------------------------


def resolve_device(device: DeviceLike) -> torch.device:
    """A torch.device to run on; CheckSkipped when it is not available here."""
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"invalid device {device!r}: {exc}") from None
    if target.type == "meta":
        raise ValueError("checks run on real devices; 'meta' is used automatically as a transfer target")
    if target.type == "cuda":
        if not torch.cuda.is_available():
            raise CheckSkipped("CUDA is not available (torch.cuda.is_available() is False)")
        if target.index is not None and target.index >= torch.cuda.device_count():
            raise CheckSkipped(f"{target} is not available ({torch.cuda.device_count()} CUDA device(s))")
    elif target.type == "mps":
        if not torch.backends.mps.is_available():
            raise CheckSkipped("MPS is not available (torch.backends.mps.is_available() is False)")
    return target


def on_device(tensor: torch.Tensor, device: torch.device) -> bool:
    """`cuda` matches `cuda:0`; an explicit index must match exactly."""
    return tensor.device.type == device.type and (device.index is None or tensor.device.index == device.index)


# --- building and running the user's model -----------------------------------------------------


def build_model(spec: ModelSpec, seed: int | None = None) -> nn.Module:
    """A fresh instance, as the factory builds it under `seed` (default: the spec's seed).

    Building real models (their weight initialisation) often costs more than all the checks
    together, so the first instance per (spec, seed) is kept as a pristine prototype and later
    ones are deep copies of it - unless a hook's closure could tie a copy to the prototype.
    """
    seed = spec.seed if seed is None else seed
    cache = spec_cache(spec)
    if not cache.copyable:
        return _call_factory(spec, seed)
    prototype = cache.prototypes.get(seed)
    if prototype is None:
        prototype = _call_factory(spec, seed)
    copied = _independent_copy(prototype)
    if copied is None:
        # The prototype becomes this caller's own instance; every later one is built afresh.
        cache.copyable = False
        cache.prototypes.clear()
        return prototype
    # The factory's own instance stays untouched as the prototype: even a factory that hands
    # out a model the user holds never has it mutated by a check.
    cache.prototypes[seed] = prototype
    return copied


def pristine_model(spec: ModelSpec) -> nn.Module:
    """An instance to read (walk its attributes) but never run, move or change: the kept
    prototype, so that reading costs no copy. Whether it can be copied is found out by the
    first `build_model` after it."""
    cache = spec_cache(spec)
    if not cache.copyable:
        return build_model(spec)
    prototype = cache.prototypes.get(spec.seed)
    if prototype is None:
        prototype = cache.prototypes[spec.seed] = _call_factory(spec, spec.seed)
    return prototype


def _independent_copy(model: nn.Module) -> nn.Module | None:
    """A deep copy that shares nothing mutable with `model`, or None when there cannot be one."""
    if not _copy_is_independent(model):
        return None
    try:
        return copy.deepcopy(model)
    except Exception:  # some models cannot be deep-copied: build them every time
        return None


def _call_factory(spec: ModelSpec, seed: int) -> nn.Module:
    torch.default_generator.manual_seed(seed)
    try:
        model = spec.factory()
    except (CheckFailure, SpecError):  # already phrased for the user
        raise
    except Exception as exc:
        if spec.discovered:  # a class found by discovery may simply need arguments it cannot get
            raise CheckSkipped(f"{_callable_name(spec.factory)}() could not be built without arguments: {describe_exception(exc)}") from None
        raise fatal(f"the factory {_callable_name(spec.factory)} raised {describe_exception(exc)}") from exc
    if not isinstance(model, nn.Module):
        raise fatal(
            f"the factory {_callable_name(spec.factory)} returned {type(model).__name__}, not a torch.nn.Module"
        )
    if model in _ISSUED:
        raise fatal(
            f"the factory {_callable_name(spec.factory)} returned an instance it returned before; "
            "it must build a new model on every call so that checks never touch a model you hold"
        )
    _ISSUED.add(model)
    return model


_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
               "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
               "_load_state_dict_post_hooks")


def _copy_is_independent(model: nn.Module) -> bool:
    """deepcopy shares functions (and their closures) with the original: a hook closing over a
    module would make a copy act on the prototype. Such models are built every time."""
    for module in model.modules():
        for name in _HOOK_DICTS:
            for hook in getattr(module, name, {}).values():
                if isinstance(hook, functools.partial) or getattr(hook, "__closure__", None):
                    return False
    return True


@dataclasses.dataclass
class SpecCache:
    """What the checks of one spec share within a process: prototypes, inferred inputs."""

    prototypes: dict[int, nn.Module | None] = dataclasses.field(default_factory=dict)
    copyable: bool = True
    inferred: Any = None  # (Inputs on the CPU, description) once inferred


# Items run model by model: two entries keep memory bounded while every check of a model hits.
_SPEC_CACHES: OrderedDict[int, tuple[ModelSpec, SpecCache]] = OrderedDict()
_CACHE_SIZE = 2


def spec_cache(spec: ModelSpec) -> SpecCache:
    entry = _SPEC_CACHES.get(id(spec))
    if entry is None or entry[0] is not spec:
        entry = (spec, SpecCache())
        _SPEC_CACHES[id(spec)] = entry
        while len(_SPEC_CACHES) > _CACHE_SIZE:
            _SPEC_CACHES.popitem(last=False)
    _SPEC_CACHES.move_to_end(id(spec))
    return entry[1]


def move(model: nn.Module, how: str, device: torch.device | None = None) -> None:
    """`model.to(device)`, `model.cuda()` or `model.cpu()`, checking that it returns the module."""
    call = f".to({device})" if how == "to" else f".{how}()"
    try:
        returned = model.to(device) if how == "to" else getattr(model, how)()
    except Exception as exc:
        raise fatal(f"model{call} raised {describe_exception(exc)}") from exc
    if returned is not model:
        raise fatal(
            f"model{call} returned {type(returned).__name__} instead of the module itself "
            "(an override of to()/cuda()/cpu() must return self)"
        )


def build_on(spec: ModelSpec, device: torch.device, seed: int | None = None) -> nn.Module:
    model = build_model(spec, seed)
    move(model, "to", device)
    return model


def make_inputs(spec: ModelSpec, device: torch.device) -> Inputs:
    """The spec's inputs for `device` (positional and keyword), all tensors on that device."""
    arguments = call_inputs(spec, device)
    check_input_devices(arguments, device)
    return arguments


def call_inputs(spec: ModelSpec, device: torch.device) -> Inputs:
    """`spec.inputs(device)` as Inputs; inferred from the model when the spec gives none."""
    if spec.inputs is None:
        return inferred_inputs(spec, device)
    try:
        value = spec.inputs(device)
    except (CheckFailure, SpecError):  # already phrased for the user
        raise
    except Exception as exc:
        raise fatal(f"inputs({device}) from {_callable_name(spec.inputs)} raised {describe_exception(exc)}") from exc
    if isinstance(value, Inputs):
        return value
    return Inputs(*value) if isinstance(value, tuple) else Inputs(value)


def inferred_inputs(spec: ModelSpec, device: torch.device) -> Inputs:
    """Inputs inferred once per spec (see pytest_nnlint.infer), copied to `device`."""
    from pytest_nnlint.infer import infer_inputs

    cache = spec_cache(spec)
    if cache.inferred is None:
        with preserved_torch_state():
            cache.inferred = infer_inputs(spec, build_model(spec), required=not spec.discovered)
    cpu_inputs, _ = cache.inferred
    return move_inputs(cpu_inputs, device, copy=True)


def inputs_description(spec: ModelSpec) -> str | None:
    """How the inputs were obtained, for a note: None when the user wrote an inputs callable."""
    if isinstance(spec.inputs, DeclaredInputs):
        return None
    if spec.inputs is None:
        cache = spec_cache(spec)
        return cache.inferred[1] if cache.inferred is not None else None
    return None


def check_input_devices(arguments: tuple[Any, ...], device: torch.device) -> None:
    for path, tensor in tensor_leaves(arguments, "inputs"):
        if not on_device(tensor, device):
            raise fatal(
                f"inputs({device}) returned a tensor on {tensor.device}; the inputs callable must "
                "create its tensors on the device it is given",
                path,
            )


def move_inputs(arguments: Any, device: torch.device, copy: bool = False) -> Any:
    """The same nested inputs with every tensor moved to `device` (`copy`: never the same tensor,
    so that a model writing into its inputs cannot change a cached original)."""
    if isinstance(arguments, torch.Tensor):
        moved = arguments.to(device)
        return moved.clone() if copy and moved is arguments else moved
    if isinstance(arguments, Inputs):
        return Inputs(
            *(move_inputs(item, device, copy) for item in arguments),
            **{key: move_inputs(item, device, copy) for key, item in arguments.kwargs.items()},
        )
    if isinstance(arguments, tuple) and hasattr(arguments, "_fields"):
        return type(arguments)(*(move_inputs(item, device, copy) for item in arguments))
    if isinstance(arguments, (list, tuple)):
        return type(arguments)(move_inputs(item, device, copy) for item in arguments)
    if isinstance(arguments, dict):
        return {key: move_inputs(item, device, copy) for key, item in arguments.items()}
    return arguments


def forward(model: nn.Module, arguments: Inputs, where: str) -> Any:
    """`model(*arguments, **arguments.kwargs)`. A failure names the input shapes (the usual cause) and, when devices
    were mixed, the tensors and modules the model holds outside its registries (they did not
    follow the model to its device)."""
    try:
        return call_model(model, arguments)
    except Exception as exc:
        shapes = ", ".join(f"{path} {tuple(t.shape)}" for path, t in tensor_leaves(arguments, "inputs"))
        reason = describe_exception(exc)
        problems = [Problem("", f"the forward pass {where} raised {reason}" + (f"; input shapes: {shapes}" if shapes else ""))]
        if MIXED_DEVICES.search(reason):
            problems += [
                Problem(item.path, f"suspect: not registered, so it stays on {item.value_device} when the model moves", item.rule)
                for item in _unregistered_with_devices(model)
            ]
        raise CheckFailure(problems) from exc


def call_model(model: nn.Module, arguments: Any) -> Any:
    if isinstance(arguments, Inputs):
        return model(*arguments, **arguments.kwargs)
    return model(*arguments)


# How torch words a device mismatch (as opposed to, say, an op without a kernel for a device).
MIXED_DEVICES = re.compile(r"(is not on the expected device|Expected all tensors to be on the same device|same device)")


@dataclasses.dataclass(frozen=True)
class _Suspect:
    path: str
    rule: str | None
    value_device: str


def _unregistered_with_devices(model: nn.Module) -> list[_Suspect]:
    from pytest_nnlint.walk import unregistered

    suspects = []
    for item in unregistered(model):
        if isinstance(item.value, torch.Tensor):
            device = str(item.value.device)
        else:
            devices = {str(t.device) for t in [*item.value.parameters(), *item.value.buffers()]}
            device = ", ".join(sorted(devices)) or "its device"
        suspects.append(_Suspect(item.path, item.rule, device))
    return suspects


def tensor_leaves(value: Any, path: str = "output") -> list[tuple[str, torch.Tensor]]:
    """Every tensor in a nested output (tensors, lists, tuples, dicts, dataclasses), with its path."""
    if isinstance(value, torch.Tensor):
        return [(path, value)]
    leaves: list[tuple[str, torch.Tensor]] = []
    if isinstance(value, Inputs):
        for index, item in enumerate(value):
            leaves += tensor_leaves(item, f"{path}[{index}]")
        for key, item in value.kwargs.items():
            leaves += tensor_leaves(item, f"{path}[{key!r}]")
        return leaves
    if isinstance(value, Mapping):
        for key, item in value.items():
            leaves += tensor_leaves(item, f"{path}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            leaves += tensor_leaves(item, f"{path}[{index}]")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            leaves += tensor_leaves(getattr(value, item.name), f"{path}.{item.name}")
    return leaves


def describe_value(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, Mapping):
        return f"a {type(value).__name__} with keys {list(value)[:5]}"
    return f"a {type(value).__name__}"


def compute_loss(spec: ModelSpec, output: Any) -> torch.Tensor:
    """The spec's loss, or a fixed random projection of every floating-point output tensor.

    Why a projection and not the sum: the sum of a normalised output (BatchNorm or LayerNorm
    without affine parameters at the end) is constant, so its gradient is exactly zero whatever
    the weights; a projection onto fixed random directions depends on every element. The
    directions come from a private generator seeded by the spec and the output's path, drawn on
    the CPU, so every device and every check sees the same loss.
    """
    if spec.loss is not None:
        try:
            loss = spec.loss(output)
        except (CheckFailure, SpecError):
            raise
        except Exception as exc:
            raise fatal(f"loss(output) from {_callable_name(spec.loss)} raised {describe_exception(exc)}") from exc
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise fatal(f"loss(output) must return a scalar tensor, got {shape}")
        return loss.reshape(())
    floating = [(path, t) for path, t in tensor_leaves(output) if t.is_floating_point()]
    if not floating:
        raise CheckSkipped(
            f"the forward pass returned {describe_value(output)} with no floating-point tensor to "
            "differentiate; give the ModelSpec a loss= callable"
        )
    total = torch.zeros((), dtype=torch.float32, device=floating[0][1].device)
    for index, (_, tensor) in enumerate(floating):
        direction = projection(spec.seed * 1_000_003 + index, tuple(tensor.shape)).to(tensor.device)
        # Scaled by 1/sqrt(n): a projection on n standard-normal directions stays O(1) in size.
        total = total + (tensor.float() * direction).sum() / max(1, tensor.numel()) ** 0.5
    return total


@functools.lru_cache(maxsize=16)
def projection(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """A fixed standard-normal tensor of `shape` (CPU, float32), the same on every call."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator)


def backward(loss: torch.Tensor, where: str) -> None:
    try:
        loss.backward()
    except Exception as exc:
        raise fatal(f"backward {where} raised {describe_exception(exc)}") from exc


def train_step_loss(spec: ModelSpec, model: nn.Module, device: torch.device, *, train: bool = True) -> torch.Tensor:
    """The loss of one seeded forward pass in train (or eval) mode: every check that trains sees
    the same dropout masks, whichever instance or cache it starts from."""
    model.train(train)
    arguments = make_inputs(spec, device)
    seeded(spec.seed, device)
    where = f"on {device}" if train else f"on {device} in eval mode"
    return compute_loss(spec, forward(model, arguments, where))


def reached_in_eval_mode(spec: ModelSpec, model: nn.Module, device: torch.device, names: set[str]) -> set[str]:
    """Of `names` (parameters without a gradient after the train-mode pass), those that get one
    from an eval-mode pass. Randomness (stochastic depth that skips a block, a random branch)
    can leave a parameter out of one train-mode pass; eval mode has none, so this pass decides
    whether the parameter takes part in the loss at all. Gradients are reset first and after."""
    parameters = dict(model.named_parameters())
    was_training = model.training
    model.zero_grad(set_to_none=True)
    loss = train_step_loss(spec, model, device, train=False)
    if loss.requires_grad:
        backward(loss, f"on {device} in eval mode")
    reached = {name for name in names if parameters[name].grad is not None}
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return reached


# --- freezing -----------------------------------------------------------------------------------


def matches_pattern(name: str, pattern: str) -> bool:
    """fnmatch, where a bare prefix `encoder` also covers `encoder.*`."""
    return fnmatchcase(name, pattern) or fnmatchcase(name, pattern + ".*")


def apply_frozen(spec: ModelSpec, model: nn.Module) -> set[str]:
    """Freeze the spec's patterns; return the names of every frozen parameter (the factory may
    have frozen some already). A pattern that matches nothing is an error: it is surely a typo."""
    parameters = dict(model.named_parameters())
    for pattern in spec.frozen:
        matched = [name for name in parameters if matches_pattern(name, pattern)]
        if not matched:
            sample = ", ".join(list(parameters)[:6]) + (", ..." if len(parameters) > 6 else "")
            raise fatal(f"frozen pattern {pattern!r} matches no parameter (parameters: {sample or 'none'})")
        for name in matched:
            parameters[name].requires_grad_(False)
    return {name for name, parameter in parameters.items() if not parameter.requires_grad}


def frozen_modules(spec: ModelSpec, model: nn.Module, frozen: set[str]) -> dict[str, nn.Module]:
    """Modules that count as frozen parts: all their own parameters are frozen; or, for modules
    without parameters of their own (BatchNorm with affine=False, activations, pools, the
    Sequential that holds a backbone), a frozen pattern covers their path or they lie inside a
    module all of whose parameters are frozen (a frozen backbone's ReLU may stay in eval with it)."""
    holding, trainable = set(), set()  # module paths with any parameter / any trainable one below them
    for name, _ in model.named_parameters():
        parts = name.split(".")[:-1]
        for depth in range(len(parts) + 1):
            ancestor = ".".join(parts[:depth])
            holding.add(ancestor)
            if name not in frozen:
                trainable.add(ancestor)
    all_frozen = holding - trainable - {""}
    result = {}
    for path, module in model.named_modules():
        prefix = path + ("." if path else "")
        own = [prefix + name for name, _ in module.named_parameters(recurse=False)]
        if own:
            if all(name in frozen for name in own):
                result[path] = module
        elif path and (
            any(matches_pattern(path, pattern) for pattern in spec.frozen) or _inside(path, all_frozen)
        ):
            result[path] = module
    return result


def _inside(path: str, ancestors: set[str]) -> bool:
    parts = path.split(".")
    return any(".".join(parts[:depth]) in ancestors for depth in range(1, len(parts) + 1))


# --- comparing outputs --------------------------------------------------------------------------


def tolerances(spec: ModelSpec, dtype: torch.dtype) -> tuple[float, float]:
    rtol, atol = DTYPE_TOLERANCES.get(dtype, (0.0, 0.0))
    return (spec.rtol if spec.rtol is not None else rtol, spec.atol if spec.atol is not None else atol)


def compare_leaves(
    reference: list[tuple[str, torch.Tensor]],
    other: list[tuple[str, torch.Tensor]],
    *,
    spec: ModelSpec | None = None,
) -> list[tuple[str, str]]:
    """(path, difference) for every leaf that differs: exactly when `spec` is None, else within
    the spec's dtype tolerances."""
    differences = []
    other_by_path = dict(other)
    if [path for path, _ in reference] != [path for path, _ in other]:
        return [("output", f"has a different structure: {[p for p, _ in reference]} vs {[p for p, _ in other]}")]
    for path, expected in reference:
        actual = other_by_path[path].detach().to(expected.device)
        expected = expected.detach()
        if actual.shape != expected.shape:
            differences.append((path, f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"))
            continue
        if actual.dtype != expected.dtype:
            differences.append((path, f"dtype {actual.dtype} != {expected.dtype}"))
            continue
        if spec is None or not expected.is_floating_point():
            same = bool(torch.eq(actual, expected).logical_or(actual.ne(actual) & expected.ne(expected)).all())
            rtol = atol = 0.0
        else:
            rtol, atol = tolerances(spec, expected.dtype)
            same = bool(torch.isclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True).all())
        if not same:
            differences.append((path, _difference_text(actual, expected, rtol, atol)))
    return differences


def _difference_text(actual: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float) -> str:
    if actual.is_floating_point() or actual.is_complex():
        gap = (actual.double() - expected.double()).abs()
        gap = gap[~gap.isnan()]
        worst = f"max abs difference {gap.max().item():.3g}" if gap.numel() else "NaN mismatch"
    else:
        worst = f"{int((actual != expected).sum())} element(s) differ"
    bound = f" (rtol={rtol:g}, atol={atol:g})" if rtol or atol else ""
    return worst + bound


def non_finite(leaves: list[tuple[str, torch.Tensor]]) -> list[tuple[str, str]]:
    """(path, counts) for floating leaves holding NaN or Inf."""
    found = []
    for path, tensor in leaves:
        if tensor.is_floating_point() and tensor.device.type != "meta":
            nans = int(tensor.isnan().sum())
            infs = int(tensor.isinf().sum())
            if nans or infs:
                found.append((path, f"{nans} NaN and {infs} Inf value(s) out of {tensor.numel()}"))
    return found


def module_label(path: str, module: nn.Module) -> str:
    return f"{display_path(path)} ({type(module).__name__})"


def _callable_name(value: Any) -> str:
    """`module:qualname` for functions; the repr for other callables (ImportedCallable's repr is
    its `module:callable` reference)."""
    name = getattr(value, "__qualname__", None)
    module = getattr(value, "__module__", None)
    return f"{module}:{name}" if name and module else repr(value)


def seeded(seed: int, device: torch.device | None = None) -> None:
    """Seed the CPU generator, and the generator of `device` when it is a CUDA device.
    (torch.manual_seed would also queue a seed for every CUDA device, even an uninitialised one.)"""
    torch.default_generator.manual_seed(seed)
    if device is not None and device.type == "cuda":
        with torch.cuda.device(device.index if device.index is not None else torch.cuda.current_device()):
            torch.cuda.manual_seed(seed)
