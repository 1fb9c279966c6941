"""`train-eval`: eval() reaches every submodule and train() brings them back, eval-mode outputs
are deterministic and finite."""

from __future__ import annotations

import torch

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
    tensor_leaves,
)
from pytest_nnlint.spec import ModelSpec
from pytest_nnlint.walk import display_path, walk


@check_function("train-eval")
def train_eval(spec: ModelSpec, device: torch.device, report: Report) -> None:
    model = build_on(spec, device)
    frozen = apply_frozen(spec, model)  # frozen parts may legitimately stay in eval after train()
    reachable = [item for item in walk(model) if item.is_module]

    model.eval()
    stuck_in_training = [item for item in reachable if item.value.training]
    for item in stuck_in_training:
        if item.registered:
            report.fail(
                item.path or "model",
                f"{module_label(item.path, item.value)} is still in training mode after model.eval(): "
                "a train() override that does not call super().train(mode), or a hand-set self.training",
                "NN205",
            )
        else:
            held = f"held in a plain {item.container}" if item.container else f"inside {item.inside}"
            report.fail(
                item.path,
                f"{type(item.value).__name__} {held} stays in training mode after model.eval(): "
                "eval()/train() only reach registered submodules",
                item.rule,
            )

    arguments = make_inputs(spec, device)
    with torch.no_grad():
        first = tensor_leaves(forward(model, arguments, f"on {device} in eval mode"))
        second = tensor_leaves(forward(model, arguments, f"on {device} in eval mode"))
    exact = device.type == "cpu"
    for path, difference in compare_leaves(first, second, spec=None if exact else spec):
        text = f"differs between two eval-mode passes on the same input ({difference})"
        if stuck_in_training:
            culprits = ", ".join(display_path(item.path) for item in stuck_in_training[:5])
            first_stuck = stuck_in_training[0]
            rule = "NN205" if first_stuck.registered else first_stuck.rule
            report.fail(path, f"{text}; modules left in training mode: {culprits}", rule)
        else:
            report.fail(
                path,
                f"{text}: randomness stays active in eval, e.g. F.dropout(x, p) without training=self.training",
                "NN202",
            )
    for path, counts in non_finite(first):
        report.fail(path, f"is not finite in eval mode: {counts}")

    model.train()
    allowed_in_eval = set(frozen_modules(spec, model, frozen))
    for path, module in model.named_modules():
        if not module.training and path not in allowed_in_eval:
            report.fail(
                path or "model",
                f"{module_label(path, module)} is not back in training mode after model.train(): "
                "a train() override that does not call super().train(mode), or a hand-set self.training",
                "NN205",
            )
