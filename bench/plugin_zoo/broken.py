"""The broken set: real library models with one defect each, the way they happen in user code
(a head kept in a Python list, a constant left as a plain tensor, a train() override...).

EXPECTED maps each model to the check that must fail and the fragments its message must hold:
the attribute at fault and, where one describes the fix, the rule.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision_cpu_shim  # noqa: F401 - before timm/torchvision (see that module)
import timm
import torchvision
from torch import nn

EXPECTED: dict[str, tuple[str, list[str]]] = {
    "broken_plain_list_head": ("registration", ["heads[0]", "NN104"]),
    "broken_dropout_in_dict": ("train-eval", ["extras['drop']", "NN104"]),
    "broken_parameter_list": ("registration", ["scales[0]", "NN105"]),
    "broken_normalisation_tensor": ("registration", ["mean", "NN103"]),
    "broken_stale_buffer_reference": ("device-transfer", ["running_mean_ref", "stale reference", "NN103"]),
    "broken_parameter_moved": ("registration", ["temperature", "NN106"]),
    "broken_requires_grad_attribute": ("freezing", ["layer1", "NN110"]),
    "broken_train_override": ("train-eval", ["model", "train() is overridden", "NN205"]),
    "broken_functional_dropout": ("train-eval", ["output", "NN202"]),
    "broken_unused_head": ("grad-flow", ["aux_head.weight", "received no gradient"]),
    "broken_detached_backbone": ("grad-flow", ["backbone.conv1.weight", "received no gradient"]),
    "broken_frozen_batchnorm": ("freezing", ["backbone.bn1", "running statistics"]),
    "broken_random_nonpersistent_buffer": ("state-dict-roundtrip", ["scale", "non-persistent buffer"]),
}


def _timm_resnet18(num_classes: int = 10) -> nn.Module:
    return timm.create_model("resnet18", num_classes=num_classes)


class PlainListHead(nn.Module):
    """NN104: the classifier head kept in a plain list: not in .parameters(), never moves."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = _timm_resnet18(num_classes=0)
        self.heads = [nn.Linear(512, 10)]  # noqa: NN104 - deliberate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads[0](self.backbone(x))


class DropoutInDict(nn.Module):
    """NN104 in a plain dict: the Dropout never leaves training mode, so eval is random."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = torchvision.models.mobilenet_v3_small(num_classes=10)
        self.extras = {"drop": nn.Dropout(0.5)}  # noqa: NN104 - deliberate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.extras["drop"](self.backbone(x))


class ParameterList(nn.Module):
    """NN105: per-class scales as Parameters in a plain list: the optimizer never sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = _timm_resnet18()
        self.scales = [nn.Parameter(torch.ones(10))]  # noqa: NN105 - deliberate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x) * self.scales[0]


class NormalisationTensor(nn.Module):
    """NN103: the ImageNet mean as a plain tensor: stays on the CPU when the model moves."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = torchvision.models.resnet18(num_classes=10)
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)  # noqa: NN103 - deliberate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x - self.mean)


class StaleBufferReference(nn.Module):
    """A reference to a buffer kept elsewhere: .to() replaces the buffer, the reference stays."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = timm.create_model("mobilenetv3_small_050", num_classes=10)
        self.running_mean_ref = self.backbone.bn1.running_mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)


class ParameterMoved(nn.Module):
    """NN106: nn.Parameter(t).to(dtype) is a plain tensor: the temperature never trains."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = _timm_resnet18()
        self.temperature = nn.Parameter(torch.ones(1)).to(torch.float64)  # noqa: NN106 - deliberate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x) / self.temperature.float()


def requires_grad_attribute() -> nn.Module:
    """NN110: `module.requires_grad = False` freezes nothing."""
    model = torchvision.models.resnet18(num_classes=10)
    model.layer1.requires_grad = False
    return model


class TrainOverride(nn.Module):
    """NN205: train() overridden without super().train(mode): children never switch."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = torchvision.models.mobilenet_v2(num_classes=10)

    def train(self, mode: bool = True) -> TrainOverride:  # noqa: NN205 - deliberate
        self.training = mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)


class FunctionalDropout(nn.Module):
    """NN202: F.dropout without training=self.training stays random in eval."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = timm.create_model("efficientnet_b0", num_classes=0)
        self.head = nn.Linear(1280, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.dropout(self.backbone(x), 0.2))  # noqa: NN202 - deliberate


class UnusedHead(nn.Module):
    """An auxiliary head defined but never called (breaks DistributedDataParallel)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = _timm_resnet18()
        self.aux_head = nn.Linear(512, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)


class DetachedBackbone(nn.Module):
    """The features are detached before the head: the backbone never trains."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = _timm_resnet18(num_classes=0)
        self.head = nn.Linear(512, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x).detach())


class FrozenBatchNorm(nn.Module):
    """A frozen backbone (frozen = ["backbone"] in the zoo) whose BatchNorm statistics still move."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = _timm_resnet18(num_classes=0)
        self.head = nn.Linear(512, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class RandomNonPersistentBuffer(nn.Module):
    """A random projection kept as a non-persistent buffer: a checkpoint cannot restore it."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = _timm_resnet18(num_classes=0)
        self.register_buffer("scale", torch.rand(512), persistent=False)
        self.head = nn.Linear(512, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x) * self.scale)
