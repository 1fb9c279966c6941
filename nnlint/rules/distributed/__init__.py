"""NN7xx: mixed precision and distributed training. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {
    "NN701": (
        "grad-clip-before-unscale",
        True,
        "nnlint.rules.distributed.grad_clip_before_unscale:GradClipBeforeUnscale",
    ),
    "NN702": ("scaler-step-bypassed", True, "nnlint.rules.distributed.scaler_step_bypassed:ScalerStepBypassed"),
    "NN703": (
        "backward-inside-autocast",
        True,
        "nnlint.rules.distributed.backward_inside_autocast:BackwardInsideAutocast",
    ),
    "NN704": (
        "sampler-set-epoch-missing",
        True,
        "nnlint.rules.distributed.sampler_set_epoch_missing:SamplerSetEpochMissing",
    ),
    "NN705": ("ddp-state-dict-prefix", True, "nnlint.rules.distributed.ddp_state_dict_prefix:DdpStateDictPrefix"),
}
