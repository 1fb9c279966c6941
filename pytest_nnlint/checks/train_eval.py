"""`train-eval`: eval() reaches every submodule and train() brings them back, eval-mode outputs
are deterministic and finite."""

from __future__ import annotations

import inspect
import re

import torch
from torch import nn

from pytest_nnlint.checks._support import (
    Report,
    apply_frozen,
    build_on,
    check_function,
    compare_leaves,
    forward,
    frozen_modules,
    make_inputs,
    module_label,
    non_finite,
    seeded,
    tensor_leaves,
)
from pytest_nnlint.checks._random_trace import RandomCalls
from pytest_nnlint.checks.registration import is_stateless
from pytest_nnlint.inputs import Inputs
from pytest_nnlint.spec import ModelSpec
from pytest_nnlint.walk import Reached, display_path, walk


@check_function("train-eval")
def train_eval(spec: ModelSpec, device: torch.device, report: Report) -> None:
    model = build_on(spec, device)
    frozen = apply_frozen(spec, model)  # frozen parts may legitimately stay in eval after train()
    reached = walk(model)
    reachable = [item for item in reached if item.is_module]

    model.eval()
    stuck = [item for item in reachable if item.value.training]
    _report_stuck_registered(model, [item for item in stuck if item.registered], "eval", report)
    unregistered = [item for item in stuck if not item.registered]
    stateless = [item for item in unregistered if is_stateless(item, reached)]
    for item in unregistered:
        if item not in stateless:
            report.fail(item.path, _unreached_message(item), item.rule)

    arguments = make_inputs(spec, device)
    exact = device.type == "cpu"
    with torch.no_grad():
        seeded(spec.seed, device)
        first = tensor_leaves(forward(model, arguments, f"on {device} in eval mode"))
        second = tensor_leaves(forward(model, arguments, f"on {device} in eval mode"))
        if stateless:
            # A module that holds nothing and that eval() cannot reach matters only if its mode
            # changes the output: put it in eval by hand and compare.
            for item in stateless:
                item.value.eval()
            seeded(spec.seed, device)
            settled = tensor_leaves(forward(model, arguments, f"on {device} in eval mode"))
    if stateless:
        matters = bool(compare_leaves(first, settled, spec=None if exact else spec))
        for item in stateless:
            if matters:
                report.fail(item.path, _unreached_message(item), item.rule)
            else:
                report.note(
                    f"{item.path}: {type(item.value).__name__} held in a plain {item.container or 'attribute'} stays in "
                    "training mode after model.eval(), but it holds no state and the eval-mode output is the same "
                    "either way"
                )
        if not matters:
            stuck = [item for item in stuck if item not in stateless]
    differences = compare_leaves(first, second, spec=None if exact else spec)
    if differences and stuck:
        culprits = ", ".join(display_path(item.path) for item in stuck[:5])
        rule = "NN205" if stuck[0].registered else stuck[0].rule
        for path, difference in differences:
            report.fail(
                path,
                f"differs between two eval-mode passes on the same input ({difference}); modules left in "
                f"training mode: {culprits}",
                rule,
            )
    elif differences:
        _judge_eval_randomness(spec, model, arguments, device, differences, report)
    for path, counts in non_finite(first):
        report.fail(path, f"is not finite in eval mode: {counts}")

    model.train()
    allowed_in_eval = set(frozen_modules(spec, model, frozen))
    not_back = [
        Reached(path, module, True, "submodule")
        for path, module in model.named_modules()
        if not module.training and path not in allowed_in_eval
    ]
    _report_stuck_registered(model, not_back, "train", report)


def _judge_eval_randomness(
    spec: ModelSpec,
    model: nn.Module,
    arguments: Inputs,
    device: torch.device,
    differences: list[tuple[str, str]],
    report: Report,
) -> None:
    """Eval-mode outputs differ with every module in eval mode. Two more passes, each from the
    same seed, one of them traced, tell the causes apart: dropout left on (NN202), deliberate
    sampling (a VAE or diffusion model draws noise in eval mode too: a note), or state that
    forward changes and reads (the passes differ even from the same seed)."""
    trace = RandomCalls()
    with torch.no_grad():
        seeded(spec.seed, device)
        with trace:
            traced = tensor_leaves(forward(model, arguments, f"on {device} in eval mode"))
        seeded(spec.seed, device)
        again = tensor_leaves(forward(model, arguments, f"on {device} in eval mode"))
    same_under_seed = not compare_leaves(traced, again, spec=None if device.type == "cpu" else spec)
    for path, difference in differences:
        text = f"differs between two eval-mode passes on the same input ({difference})"
        if trace.active_dropout:
            report.fail(
                path,
                f"{text}: dropout stays active in eval mode ({trace.active_dropout[0]}); "
                "pass training=self.training, or use an nn.Dropout module",
                "NN202",
            )
        elif not same_under_seed:
            report.fail(
                path,
                f"{text}, even from the same random seed: forward changes state that it reads (a counter, "
                "a cache, statistics updated in eval mode)",
            )
        elif not trace.samplers:
            report.fail(
                path,
                f"{text}: randomness stays active in eval, e.g. F.dropout(x, p) without training=self.training",
                "NN202",
            )
    if same_under_seed and trace.samplers and not trace.active_dropout:
        paths = ", ".join(path for path, _ in differences[:3]) + (", ..." if len(differences) > 3 else "")
        report.note(
            f"{paths}: random in eval mode because forward samples ({', '.join(trace.samplers[:3])}), "
            "not through dropout: deliberate sampling (a VAE, a diffusion or GAN sampler); from the same "
            "seed the eval-mode passes agree"
        )


def _unreached_message(item: Reached) -> str:
    held = f"held in a plain {item.container}" if item.container else f"inside {item.inside}"
    return (
        f"{type(item.value).__name__} {held} stays in training mode after model.eval(): "
        "eval()/train() only reach registered submodules"
    )


def _report_stuck_registered(model: nn.Module, stuck: list[Reached], mode: str, report: Report) -> None:
    """Modules that did not follow model.eval() / model.train(). When a train() override that
    does not call super().train(mode) is the cause, it is named once, with a count and examples,
    instead of once per submodule below it."""
    overrides = [path for path, module in model.named_modules() if _overrides_train(module)]
    by_cause: dict[str | None, list[Reached]] = {}
    for item in stuck:
        cause = next(
            (path for path in sorted(overrides, key=len, reverse=True) if _strictly_inside(item.path, path)), None
        )
        by_cause.setdefault(cause, []).append(item)
    after = "model.eval()" if mode == "eval" else "model.train()"
    state = "still in training mode" if mode == "eval" else "not back in training mode"
    for cause, items in by_cause.items():
        if cause is None:
            for item in items:
                report.fail(
                    display_path(item.path),
                    f"{module_label(item.path, item.value)} is {state} after {after}: a hand-set self.training",
                    "NN205",
                )
            continue
        owner = model.get_submodule(cause)
        examples = ", ".join(module_label(item.path, item.value) for item in items[:3])
        more = f" and {len(items) - 3} more" if len(items) > 3 else ""
        if mode == "train" and _calls_super_train(type(owner)):
            # The override switched everything and then chose eval for some parts: frozen
            # normalisation statistics (mmdetection's norm_eval), a deliberate design.
            report.note(
                f"{display_path(cause)}: {type(owner).__name__}.train() calls super().train(mode) and then keeps "
                f"{len(items)} submodule(s) in eval mode after model.train(): {examples}{more} (e.g. norm "
                "layers whose statistics stay frozen while training)"
            )
            continue
        report.fail(
            display_path(cause),
            f"{type(owner).__name__}.train() is overridden without calling super().train(mode): {len(items)} "
            f"submodule(s) below it are {state} after {after}: {examples}{more}",
            "NN205",
        )


def _calls_super_train(cls: type) -> bool:
    """Whether the class's train() override calls the base implementation (its source says so)."""
    try:
        source = inspect.getsource(cls.train)
    except (OSError, TypeError):
        return False
    return bool(_SUPER_TRAIN.search(source))


_SUPER_TRAIN = re.compile(r"super\s*\([^)]*\)\s*\.\s*train\s*\(|(?:nn\.)?Module\.train\s*\(\s*self")


def _overrides_train(module: nn.Module) -> bool:
    return getattr(type(module).train, "__func__", type(module).train) is not nn.Module.train


def _strictly_inside(path: str, ancestor: str) -> bool:
    return path != ancestor and (ancestor == "" or path.startswith(ancestor + ".") or path.startswith(ancestor + "["))
