"""Two causes of a verdict that real, correct models trip and broken ones must keep (issue 14):
randomness in eval mode (deliberate sampling vs dropout left on vs state forward changes), and
parameters without a gradient (used only on a path the inputs do not take vs used nowhere vs
cut off by a detach)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pytest_nnlint import ModelSpec, run_all


def x4(device: torch.device) -> torch.Tensor:
    return torch.randn(4, 8, device=device)


def outcomes(spec: ModelSpec) -> dict[str, tuple[str, str, list[str]]]:
    return {
        o.check: (o.status, o.message, list(o.result.notes) if o.result else [])
        for o in run_all(spec, devices=["cpu"])
    }


# --- randomness in eval mode ---------------------------------------------------------------------


class SamplingVAE(nn.Module):
    """pytorch/examples' VAE: the reparameterisation samples in eval mode too."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(8, 6)
        self.decoder = nn.Linear(3, 8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar


class NoiseInPlace(nn.Module):
    """A diffusion-style forward that draws its noise with Tensor.normal_."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = torch.empty_like(x).normal_()
        return self.net(x + 0.1 * noise)


class DropoutLeftOn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(self.net(x), 0.3)  # noqa: NN202 - the defect under test


class SamplingAndDropout(SamplingVAE):
    """Sampling is deliberate, but the dropout beside it is still the bug."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        recon, mu, logvar = super().forward(x)
        return F.dropout(recon, p=0.2, training=True), mu, logvar


class CountsCalls(nn.Module):
    """Output depends on state forward itself changes (a call counter in a buffer)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(8, 8)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.net(x) * self.calls


def test_deliberate_sampling_in_eval_mode_is_a_note() -> None:
    for factory, sampler in ((SamplingVAE, "torch.randn_like"), (NoiseInPlace, "Tensor.normal_")):
        status, message, notes = outcomes(ModelSpec(factory.__name__, factory=factory, inputs=x4))["train-eval"]
        assert status == "passed", message
        assert any("random in eval mode because forward samples" in n and sampler in n for n in notes), notes


def test_dropout_left_on_in_eval_mode_fails_naming_the_call() -> None:
    for factory, call in ((DropoutLeftOn, "F.dropout(p=0.3, training=True)"), (SamplingAndDropout, "F.dropout(p=0.2, training=True)")):
        status, message, _ = outcomes(ModelSpec(factory.__name__, factory=factory, inputs=x4))["train-eval"]
        assert status == "failed"
        assert "dropout stays active in eval mode" in message and call in message and "NN202" in message, message


def test_state_changed_by_forward_fails_without_blaming_dropout() -> None:
    status, message, _ = outcomes(ModelSpec("counts", factory=CountsCalls, inputs=x4))["train-eval"]
    assert status == "failed"
    assert "even from the same random seed: forward changes state that it reads" in message
    assert "NN202" not in message


# --- parameters without a gradient ---------------------------------------------------------------


class MaskedEmbeddings(nn.Module):
    """DINOv2's embeddings: the mask token is read only when a mask is passed."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.mask_token = nn.Parameter(torch.zeros(8))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.proj(x)
        if mask is not None:
            x = torch.where(mask.unsqueeze(-1), self.mask_token.to(x.dtype), x)
        return x


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embeddings = MaskedEmbeddings()
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.embeddings(x, mask))


class OptionalBranch(nn.Module):
    """A branch forward takes only when asked (an auxiliary head for another task)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.aux = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor, with_aux: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return (features, self.aux(features)) if with_aux else features


class HeadOnlyInitialised(nn.Module):
    """The head is named outside forward only (weight init): still unused."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.head = nn.Linear(8, 2)
        self.init_weights()

    def init_weights(self) -> None:
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Detached(nn.Module):
    """forward reads the backbone and cuts it off: it entered operations, no gradient reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Linear(8, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x).detach())


class GlobalAttention(nn.Module):
    """Longformer: the global projections are read by a helper method forward calls only when
    a global attention mask is given."""

    def __init__(self) -> None:
        super().__init__()
        self.local = nn.Linear(8, 8)
        self.query_global = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, global_mask: torch.Tensor | None = None) -> torch.Tensor:
        out = self.local(x)
        if global_mask is not None:
            out = out + self._global(x, global_mask)
        return out

    def _global(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.query_global(x) * mask


class AuxiliaryHeadForLoss(nn.Module):
    """UperNet: the auxiliary head runs on every call, its logits only enter the loss given labels."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)
        self.auxiliary_head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(x)
        logits = self.head(features)
        auxiliary = self.auxiliary_head(features)
        if labels is None:
            return logits
        loss = F.cross_entropy(logits, labels) + 0.4 * F.cross_entropy(auxiliary, labels)
        return loss, logits


def test_a_parameter_read_only_on_another_path_is_a_note() -> None:
    for factory, name, owner in (
        (Encoder, "embeddings.mask_token", "MaskedEmbeddings"),
        (OptionalBranch, "aux.weight", "OptionalBranch"),
        (GlobalAttention, "query_global.weight", "GlobalAttention"),
    ):
        result = outcomes(ModelSpec(factory.__name__, factory=factory, inputs=x4))
        for check in ("grad-flow", "freezing"):
            status, message, notes = result[check]
            assert status == "passed", (factory.__name__, check, message)
            assert any(name in n and f"no gradient from these inputs; {owner}.forward reads" in n and "only on a path" in n for n in notes), notes


def test_a_result_forward_computes_and_leaves_out_is_a_note() -> None:
    result = outcomes(ModelSpec("aux", factory=AuxiliaryHeadForLoss, inputs=x4))
    for check in ("grad-flow", "freezing"):
        status, message, notes = result[check]
        assert status == "passed", (check, message)
        assert any(
            n.startswith("auxiliary_head.weight, auxiliary_head.bias: no gradient from these inputs; forward computes")
            for n in notes
        ), notes


def test_a_parameter_used_nowhere_or_cut_off_still_fails() -> None:
    for factory, name in ((HeadOnlyInitialised, "head.weight"), (Detached, "backbone.weight")):
        result = outcomes(ModelSpec(factory.__name__, factory=factory, inputs=x4))
        status, message, notes = result["grad-flow"]
        assert status == "failed" and f"{name}: received no gradient in train or eval mode" in message, message
        assert not any("no gradient from these inputs" in n for n in notes), notes
        status, message, _ = result["freezing"]
        assert status == "failed" and f"{name}: is trainable but did not change" in message, message


# --- deliberate designs of application code ------------------------------------------------------


def c4(device: torch.device) -> torch.Tensor:
    return torch.randn(2, 3, 16, 16, device=device)


class Pruned(nn.Module):
    """torch.nn.utils.prune: `weight` is `weight_orig * weight_mask`, recomputed by a pre-hook."""

    def __init__(self) -> None:
        super().__init__()
        import torch.nn.utils.prune as prune

        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 3)
        prune.l1_unstructured(self.fc1, "weight", amount=0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


def test_a_pruned_layer_is_registered() -> None:
    status, message, _ = outcomes(ModelSpec("pruned", factory=Pruned, inputs=x4))["registration"]
    assert status == "passed", message


class FrozenBackbone(nn.Module):
    """A frozen backbone kept in eval by a train() override that calls super() first."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.backbone.requires_grad_(False)
        self.head = nn.Linear(8, 5)

    def train(self, mode: bool = True) -> FrozenBackbone:
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class NormEval(FrozenBackbone):
    """mmdetection's norm_eval: BatchNorm statistics frozen in eval, its affine weights still train."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone.requires_grad_(True)

    def train(self, mode: bool = True) -> NormEval:
        nn.Module.train(self, mode)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self


class ForgetsSuper(FrozenBackbone):
    def __init__(self) -> None:
        super().__init__()
        self.backbone.requires_grad_(True)

    def train(self, mode: bool = True) -> ForgetsSuper:  # noqa: NN205 - the defect under test
        self.training = mode
        return self


def test_a_frozen_part_kept_in_eval_by_an_override_passes() -> None:
    result = outcomes(ModelSpec("frozen", factory=FrozenBackbone, inputs=c4))
    assert result["train-eval"][0] == "passed", result["train-eval"][1]
    assert result["freezing"][0] == "passed", result["freezing"][1]


def test_norm_layers_kept_in_eval_by_an_override_that_calls_super_are_a_note() -> None:
    status, message, notes = outcomes(ModelSpec("norm-eval", factory=NormEval, inputs=c4))["train-eval"]
    assert status == "passed", message
    assert any("NormEval.train() calls super().train(mode) and then keeps 1 submodule(s) in eval mode" in n for n in notes), notes


def test_an_override_without_super_still_fails() -> None:
    status, message, _ = outcomes(ModelSpec("forgets", factory=ForgetsSuper, inputs=c4))["train-eval"]
    assert status == "failed"
    assert "ForgetsSuper.train() is overridden without calling super().train(mode)" in message and "NN205" in message
