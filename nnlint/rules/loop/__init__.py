"""NN4xx: the training loop. code -> (name, on by default, "module:Class")."""

RULES: dict[str, tuple[str, bool, str]] = {
    "NN401": ("missing-zero-grad", True, "nnlint.rules.loop.missing_zero_grad:MissingZeroGrad"),
    "NN402": (
        "loss-accumulated-with-graph",
        True,
        "nnlint.rules.loop.loss_accumulated_with_graph:LossAccumulatedWithGraph",
    ),
    "NN403": ("zero-grad-misplaced", True, "nnlint.rules.loop.zero_grad_misplaced:ZeroGradMisplaced"),
    "NN404": ("grad-clip-misplaced", True, "nnlint.rules.loop.grad_clip_misplaced:GradClipMisplaced"),
    "NN405": (
        "scheduler-step-before-optimizer-step",
        True,
        "nnlint.rules.loop.scheduler_step_before_optimizer_step:SchedulerStepBeforeOptimizerStep",
    ),
    "NN406": (
        "optimizer-created-in-loop",
        True,
        "nnlint.rules.loop.optimizer_created_in_loop:OptimizerCreatedInLoop",
    ),
}
