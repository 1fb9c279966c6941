from __future__ import annotations

import libcst as cst

from nnlint.rule import Invalid, NodeFix, Rule
from nnlint.rules.legacy._table import table

_NEW = {"pretrained": "weights", "pretrained_backbone": "weights_backbone"}


class TorchvisionPretrainedArgument(Rule):
    code = "NN804"
    tags = frozenset({"deprecated"})
    name = "torchvision-pretrained-argument"
    summary = "a torchvision model builder called with `pretrained=` / `pretrained_backbone=`"
    what = (
        "Flags calls of torchvision's model builders (`torchvision.models.resnet50`, "
        "`models.detection.fasterrcnn_resnet50_fpn`, ... under every name torchvision exports "
        "them) that pass `pretrained=` or `pretrained_backbone=`, or a positional first argument "
        "(which the builders read as `pretrained`). The builders and the weights `True` stands "
        "for are data (`nnlint/data/deprecations.toml`, generated from torchvision's "
        "`@handle_legacy_interface` decorators). Other libraries' `pretrained=` (timm's "
        "`create_model`, transformers) is not deprecated and stays silent."
    )
    why = (
        "`pretrained` has been deprecated since torchvision 0.13 in favour of `weights=`, which "
        "names the exact checkpoint: `pretrained=True` silently means whatever the legacy "
        "default is (often not the best weights torchvision ships), warns on every call, and "
        "will stop working when the legacy interface is removed."
    )
    use_instead = "from torchvision import models\n\nmodel = models.resnet50(weights=models.ResNet50_Weights.IMAGENET1K_V1)\nscratch = models.resnet50(weights=None)\n"
    fix_safety = (
        "Safe for the literals `True` and `False`: `True` becomes the very weights the legacy "
        "interface loads (`weights=models.ResNet50_Weights.IMAGENET1K_V1`, adding "
        "`from torchvision import models` when needed), `False` becomes `weights=None`. No fix "
        "for other expressions, nor for builders whose legacy weights depend on other arguments "
        "(the quantized models, keypoint R-CNN)."
    )
    fix_availability = "safe"
    triggers = ("pretrained", "torchvision")
    VALID = [
        "from torchvision import models\n\nmodel = models.resnet50(weights=models.ResNet50_Weights.DEFAULT)\n",
        # timm and transformers keep `pretrained=`.
        "import timm\n\nmodel = timm.create_model('resnet50', pretrained=True)\n",
        # Not a model builder.
        "from torchvision.models.vgg import make_layers, cfgs\n\nfeatures = make_layers(cfgs['D'], False)\n",
    ]
    INVALID = [
        Invalid(
            "import torchvision\n\nmodel = torchvision.models.resnet50(pretrained=True)  # error\nscratch = torchvision.models.resnet18(False)  # error\n",
            fixed="import torchvision\nfrom torchvision import models\n\nmodel = torchvision.models.resnet50(weights=models.ResNet50_Weights.IMAGENET1K_V1)  # error\nscratch = torchvision.models.resnet18(weights=None)  # error\n",
        ),
        Invalid(
            "from torchvision.models.detection import fasterrcnn_resnet50_fpn\n\ndetector = fasterrcnn_resnet50_fpn(pretrained=False, pretrained_backbone=True, num_classes=3)  # error\n",
            fixed="from torchvision import models\nfrom torchvision.models.detection import fasterrcnn_resnet50_fpn\n\ndetector = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=models.ResNet50_Weights.IMAGENET1K_V1, num_classes=3)  # error\n",
        ),
        # An expression: reported, not fixed.
        "from torchvision import models\n\nmodel = models.vgg16(pretrained=args.pretrained)  # error\n",
    ]

    def visit_Call(self, node: cst.Call) -> None:
        qualname = self.ctx.qualified_name(node.func)
        if qualname is None or not qualname.startswith("torchvision.models."):
            return
        legacy = table().builders.get(qualname)
        if legacy is None:
            return
        positional = [a for a in node.args if a.keyword is None and not a.star]
        found = [a for a in node.args if a.keyword is not None and a.keyword.value in _NEW]
        if positional:
            found.insert(0, positional[0])
        if not found:
            return
        names = ", ".join(f"`{_legacy_name(a)}=`" for a in found)
        news = ", ".join(f"`{_NEW[_legacy_name(a)]}=`" for a in found)
        fix = self._fix(node, found, positional, legacy)
        self.report(
            node,
            f"{names} of torchvision model builders is deprecated since torchvision 0.13; pass {news} "
            f"with the weights enum ({_example(legacy, found)}) or `None`",
            fix=fix,
        )

    def _fix(self, node: cst.Call, found: list[cst.Arg], positional: list[cst.Arg], legacy: dict[str, str]) -> NodeFix | None:
        if len(positional) > 1:
            return None
        prefix, imports = self._models_prefix()
        replacements: list[tuple[cst.CSTNode, cst.CSTNode]] = []
        needs_models = False
        for arg in found:
            name = _legacy_name(arg)
            value = arg.value
            if isinstance(value, cst.Name) and value.value == "False":
                weights = "None"
            elif isinstance(value, cst.Name) and value.value == "True" and legacy.get(name):
                weights = prefix + legacy[name].removeprefix("models")
                needs_models = True
            else:
                return None
            template = cst.parse_expression(f"f({_NEW[name]}={weights})").args[0]  # type: ignore[attr-defined]
            new_arg = arg.with_changes(keyword=template.keyword, equal=template.equal, value=template.value, comma=cst.MaybeSentinel.DEFAULT)
            replacements.append((arg, new_arg))
        return NodeFix("pass `weights=`", "safe", tuple(replacements), imports if needs_models else ())

    def _models_prefix(self) -> tuple[str, tuple[str, ...]]:
        bound = self.ctx.facts.aliases.get("models")
        if bound == "torchvision.models":
            return "models", ()
        if bound is None:
            return "models", ("from torchvision import models",)
        return "torchvision.models", ("import torchvision",)


def _legacy_name(arg: cst.Arg) -> str:
    return arg.keyword.value if arg.keyword is not None else "pretrained"


def _example(legacy: dict[str, str], found: list[cst.Arg]) -> str:
    weights = legacy.get(_legacy_name(found[0]))
    return f"`{weights}` is what `True` meant" if weights else "see the builder's documentation"
