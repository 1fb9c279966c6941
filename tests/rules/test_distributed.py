"""NN7xx (mixed precision and distributed training): what names hold (the value helper and its
policy for unknown values), script code, helpers, messages, and the look-alikes from the
application corpus that must stay silent."""

from __future__ import annotations

import textwrap

import pytest

from nnlint.rules.distributed._values import OFF, ON
from tests.conftest import lint_snippet


def findings(source: str, code: str) -> list:
    result = lint_snippet(textwrap.dedent(source), [code])
    assert not result.errors, result.errors
    return result.findings


def lines(source: str, code: str) -> list[int]:
    return [f.line for f in findings(source, code)]


# -- which names hold a GradScaler: construction, self attribute, global, name, unknown -------

CLIP_LOOP = """
    import torch
    {imports}
    {setup}

    def train(model, optimizer, loader{params}):
        for x, y in loader:
            {scaler}.scale(model(x, y)).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            {scaler}.step(optimizer)
            {scaler}.update()
            optimizer.zero_grad()
"""


@pytest.mark.parametrize(
    ("imports", "setup", "params", "scaler", "flagged"),
    [
        ("", "", ", scaler", "scaler", True),  # a parameter named like a scaler
        ("", "", ", grad_scaler", "grad_scaler", True),
        ("", "", ", gs: torch.amp.GradScaler", "gs", True),  # known by its annotation
        ("", "", ", gs", "gs", False),  # neither name nor construction: unknown, silent
        ("", "s = torch.GradScaler('cuda')", "", "s", True),  # a module-level global
        ("from torch.cuda.amp import GradScaler as GS", "s = GS()", "", "s", True),
        ("", "s = torch.cuda.amp.GradScaler(enabled=False)", "", "s", False),  # never scales
        ("", "s = torch.cuda.amp.GradScaler(enabled=cfg.amp)", "", "s", True),
        ("from mylib import DynamicScaler", "scaler = DynamicScaler()", "", "scaler", False),  # another class
        (
            "from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler",
            "scaler = ShardedGradScaler()",
            "",
            "scaler",
            True,
        ),
    ],
)
def test_scaler_is_known_by_construction_annotation_or_name(imports, setup, params, scaler, flagged):
    source = CLIP_LOOP.format(imports=imports, setup=setup, params=params, scaler=scaler)
    assert lines(source, "NN701") == ([9] if flagged else [])


def test_scaler_state_policy_through_the_value_helper():
    from nnlint.rule import Rule
    from nnlint.rules.distributed._values import Values
    from nnlint.testing import lint_source

    seen: dict[str, str | None] = {}

    class Probe(Rule):  # reads the helper where rules do: at the end of the file's walk
        code, name, summary, what, why, needs_flow = "XX701", "probe", "p", "p", "p", True

        def leave_Module(self, node):
            values = Values(self.ctx)
            flow = self.ctx.flows[-1]
            for key in ("self.scaler", "other", "loss_scaler", "amp_scaler"):
                seen[key] = values.scaler_state(flow, key)

    source = textwrap.dedent(
        """
        import torch
        from timm.utils import NativeScaler

        class Trainer:
            def __init__(self):
                self.scaler = torch.amp.GradScaler("cuda", enabled=False)

            def fit(self, other, amp_scaler):
                loss_scaler = NativeScaler()
        """
    )
    lint_source(source, [Probe])
    assert seen == {"self.scaler": OFF, "other": None, "loss_scaler": None, "amp_scaler": ON}


def test_scaler_built_in_init_and_clip_under_main_guard():
    source = """
        import torch

        if __name__ == "__main__":
            scaler = torch.cuda.amp.GradScaler()
            for x, y in loader:
                with torch.cuda.amp.autocast():
                    loss = model(x, y)
                scaler.scale(loss).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad()
    """
    [finding] = findings(source, "NN701")
    assert finding.line == 10
    assert "`scaler.unscale_(optimizer)`" in finding.message
    assert finding.fix is not None and finding.fix.applicability == "unsafe"


def test_unconditional_clip_after_an_amp_only_scaled_backward_is_flagged():
    # `if use_amp: scaler.scale(loss).backward() else: loss.backward()` then one clip for both:
    # on the AMP path the clip sees scaled gradients.
    source = """
        import torch

        def train(model, optimizer, scaler, loader, use_amp):
            for x, y in loader:
                loss = model(x, y)
                if use_amp:
                    scaler.scale(loss).backward()
                else:
                    loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
    """
    assert lines(source, "NN701") == [11]


def test_no_fix_when_the_clip_is_not_a_statement_of_its_own():
    source = """
        import torch

        def train(model, optimizer, scaler, loader):
            for x, y in loader:
                scaler.scale(model(x, y)).backward()
                if torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).isfinite(): pass
                scaler.step(optimizer)
                scaler.update()
    """
    [finding] = findings(source, "NN701")
    assert finding.fix is None


# -- NN702: the application corpus's look-alikes ----------------------------------------------

# mlfoundations/open_clip, src/open_clip_train/train.py (trimmed): the plain step is in the helper's
# branch for `scaler is None`.
OPEN_CLIP = """
    import torch

    def backward(total_loss, scaler):
        if scaler is not None:
            scaler.scale(total_loss).backward()
        else:
            total_loss.backward()

    def _finish_step(model, optimizer, scaler, args):
        if scaler is not None:
            if args.grad_clip_norm is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip_norm)
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()

    def train_one_epoch(model, loader, optimizer, scaler, args):
        for batch in loader:
            optimizer.zero_grad()
            backward(model(batch), scaler)
            _finish_step(model, optimizer, scaler, args)
"""


def test_open_clip_step_helper_that_chooses_between_scaler_and_plain_step_is_silent():
    assert findings(OPEN_CLIP, "NN702") == []
    assert findings(OPEN_CLIP, "NN701") == []


def test_bypassed_step_message_names_the_scaler_calls():
    source = """
        import torch

        scaler = torch.amp.GradScaler("cuda")
        for x, y in loader:
            scaler.scale(model(x, y)).backward()
            optimizer.step()
            scaler.update()
    """
    [finding] = findings(source, "NN702")
    assert finding.line == 7
    assert "`optimizer.step()`" in finding.message
    assert "`scaler.step(optimizer)` followed by `scaler.update()`" in finding.message


def test_missing_update_silent_when_the_scaler_goes_to_unseen_code():
    source = """
        import torch
        from utils import log_amp_state

        scaler = torch.amp.GradScaler("cuda")
        for x, y in loader:
            scaler.scale(model(x, y)).backward()
            scaler.step(optimizer)
            log_amp_state(scaler)
            optimizer.zero_grad()
    """
    assert findings(source, "NN702") == []


# -- NN703 ---------------------------------------------------------------------------------------


def test_backward_inside_autocast_reported_once_per_call_and_inner_block_switches_it_off():
    source = """
        import torch

        def train(model, optimizer, loader):
            for x, y in loader:
                with torch.autocast("cuda"), torch.no_grad():
                    pass
                with torch.autocast("cuda"):
                    loss = model(x, y)
                    with torch.autocast("cuda", enabled=False):
                        loss.float().backward()
                    loss.backward()
                optimizer.step()
    """
    assert lines(source, "NN703") == [12]


# -- NN704 ---------------------------------------------------------------------------------------


def test_sampler_through_a_same_file_builder_returning_a_tuple():
    source = """
        import torch
        from torch.utils.data import DataLoader, DistributedSampler

        def build_loaders(train_set, val_set):
            sampler = DistributedSampler(train_set)
            return DataLoader(train_set, sampler=sampler), DataLoader(val_set)

        def main(model, optimizer, train_set, val_set, epochs):
            train_loader, val_loader = build_loaders(train_set, val_set)
            for epoch in range(epochs):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    model(x, y).backward()
                    optimizer.step()
                for x, y in val_loader:
                    model(x)
    """
    [finding] = findings(source, "NN704")
    assert finding.line == 12
    assert "`train_loader`" in finding.message and "`sampler.set_epoch(epoch)`" in finding.message


def test_set_epoch_in_a_same_file_helper_of_the_epoch_loop_silences():
    source = """
        import torch
        from torch.utils.data import DataLoader
        from torch.utils.data.distributed import DistributedSampler

        def start_epoch(loader, epoch):
            loader.sampler.set_epoch(epoch)

        def main(model, optimizer, dataset, epochs):
            train_loader = DataLoader(dataset, sampler=DistributedSampler(dataset))
            for epoch in range(epochs):
                start_epoch(train_loader, epoch)
                for x, y in train_loader:
                    model(x, y).backward()
                    optimizer.step()
                    optimizer.zero_grad()
    """
    assert findings(source, "NN704") == []


def test_loader_built_from_kwargs_dict_is_unknown_and_silent():
    # pytorch/examples FSDP/T5_training.py: the sampler hides in `**train_kwargs`.
    source = """
        import torch
        from torch.utils.data.distributed import DistributedSampler

        def main(model, optimizer, dataset, epochs):
            sampler1 = DistributedSampler(dataset, shuffle=True)
            train_kwargs = {"batch_size": 8, "sampler": sampler1}
            train_loader = torch.utils.data.DataLoader(dataset, **train_kwargs)
            for epoch in range(epochs):
                for x, y in train_loader:
                    model(x, y).backward()
                    optimizer.step()
                    optimizer.zero_grad()
    """
    assert findings(source, "NN704") == []


# -- NN705 ---------------------------------------------------------------------------------------


def test_nanogpt_raw_model_unwraps_and_an_alias_taken_before_wrapping_is_bare():
    source = """
        import torch
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = GPT(config)
        unoptimized_model = model
        if ddp:
            model = DDP(model, device_ids=[ddp_local_rank])
        raw_model = model.module if ddp else model
        torch.save({"model": raw_model.state_dict()}, "ckpt.pt")
        torch.save(unoptimized_model.state_dict(), "first.pt")
    """
    assert findings(source, "NN705") == []


def test_load_before_wrapping_self_model_is_not_a_load_into_the_wrapper():
    # pytorch/examples ddp-tutorial-series/multigpu_torchrun.py: __init__ loads the snapshot into
    # the bare model, then wraps it; snapshots save `.module.state_dict()`.
    source = """
        import torch
        from torch.nn.parallel import DistributedDataParallel as DDP

        class Trainer:
            def __init__(self, model, path):
                self.model = model
                self._load_snapshot(path)
                self.model = DDP(self.model, device_ids=[0])

            def _load_snapshot(self, path):
                self.model.load_state_dict(torch.load(path, weights_only=True)["MODEL_STATE"])

            def _save_snapshot(self, path):
                torch.save({"MODEL_STATE": self.model.module.state_dict()}, path)
    """
    assert findings(source, "NN705") == []


def test_wrapper_handed_to_a_checkpoint_loader_counts_as_both_sides_wrapped():
    # facebookresearch/dino eval_linear.py: resumed through utils.restart_from_checkpoint.
    source = """
        import torch
        import utils

        def main(args, classifier):
            classifier = torch.nn.parallel.DistributedDataParallel(classifier, device_ids=[args.gpu])
            utils.restart_from_checkpoint("checkpoint.pth.tar", state_dict=classifier)
            for epoch in range(args.epochs):
                torch.save({"state_dict": classifier.state_dict()}, "checkpoint.pth.tar")
    """
    assert findings(source, "NN705") == []


def test_save_fix_names_the_module_attribute():
    source = """
        import torch

        class Trainer:
            def __init__(self, model):
                self.net = torch.nn.DataParallel(model).cuda()

            def save(self, path):
                state = self.net.state_dict()
                torch.save(state, path)
    """
    [finding] = findings(source, "NN705")
    assert finding.line == 9
    assert "`self.net.module.state_dict()`" in finding.message
    assert finding.fix is not None and finding.fix.applicability == "unsafe"


@pytest.mark.parametrize(
    "wrap",
    [
        "torch.nn.DataParallel(net)",
        "torch.nn.parallel.DistributedDataParallel(net, device_ids=[0])",
        "apex.parallel.DistributedDataParallel(net)",  # keeps the model as `.module` too
        "DDP(net).cuda()",
        "DDP(net) if distributed else net",  # the wrapper when distributed
    ],
)
def test_every_wrapper_spelling_is_known(wrap):
    source = f"""
        import apex
        import torch
        from torch.nn.parallel import DistributedDataParallel as DDP

        def main(net, distributed):
            model = {wrap}
            torch.save(model.state_dict(), "model.pt")
    """
    assert lines(source, "NN705") == [8]


# -- shapes of real training code (session 2026-12-07) ----------------------------------------

SPLIT_AMP_IFS = """
    import torch

    def train(model, optimizer, loader, args):
        scaler = torch.cuda.amp.GradScaler() if args.amp else None
        for x, y in loader:
            loss = model(x, y)
            if {backward_test}:
                scaler.scale(loss).backward()
            else:
                loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if {step_test}:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
"""


@pytest.mark.parametrize(
    ("backward_test", "step_test", "plain_step_flagged"),
    [
        ("args.amp", "args.amp", False),  # the plain step runs only when nothing was scaled
        ("scaler is not None", "scaler", False),  # `is not None` and truthiness are one test
        ("args.amp", "not args.amp", True),  # opposite tests: the plain step follows the scaling
        ("args.amp", "args.fp16", True),  # unrelated tests: both may hold
    ],
)
def test_plain_step_under_the_opposite_arm_of_an_equal_test(backward_test, step_test, plain_step_flagged):
    source = SPLIT_AMP_IFS.format(backward_test=backward_test, step_test=step_test)
    assert lines(source, "NN702") == ([17] if plain_step_flagged else [])


def test_clip_after_unscale_in_the_amp_arm_of_a_split_if():
    # The trainer-class form: unscale in the AMP arm, one clip, step in the AMP arm again.
    source = """
        import torch

        class Engine:
            def __init__(self, model, optimizer, use_amp):
                self.model, self.optimizer, self.use_amp = model, optimizer, use_amp
                self.scaler = torch.cuda.amp.GradScaler() if use_amp else None

            def train_epoch(self, loader):
                for batch in loader:
                    loss = self.model(batch)
                    if self.use_amp:
                        self.scaler.scale(loss).backward()
                        self.scaler.unscale_(self.optimizer)
                    else:
                        loss.backward()
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), 10.0)
                    if self.use_amp:
                        self.scaler.step(self.optimizer)
                        self.scaler.update()
                    else:
                        self.optimizer.step()
    """
    assert lines(source, "NN701") == []
    assert lines(source, "NN702") == []


SCALED_VARIABLE = """
    import torch

    scaler = torch.amp.GradScaler("cuda")
    for x, y in loader:
        {target} = scaler.scale(model(x, y))
        {target}.backward()
        {unscale}
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        {step}
        optimizer.zero_grad()
"""


@pytest.mark.parametrize("target", ["scaled_loss", "loss"])
def test_scaled_loss_held_by_a_variable(target):
    def source(unscale, step):
        return SCALED_VARIABLE.format(target=target, unscale=unscale, step=step)

    assert lines(source("pass", "scaler.step(optimizer); scaler.update()"), "NN701") == [9]
    assert lines(source("scaler.unscale_(optimizer)", "scaler.step(optimizer); scaler.update()"), "NN701") == []
    assert lines(source("scaler.unscale_(optimizer)", "optimizer.step()"), "NN702") == [10]


CALLER_PASSES = """
    import torch
    {imports}

    def run_epoch(model, loader, optimizer, amp):
        for x, y in loader:
            amp.scale(model(x, y)).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            amp.step(optimizer)
            amp.update()
            optimizer.zero_grad()

    def main(model, loader, epochs):
        optimizer = torch.optim.Adam(model.parameters())
        helper = {built}
        for epoch in range(epochs):
            run_epoch(model, loader, optimizer, helper)
"""


@pytest.mark.parametrize(
    ("imports", "built", "flagged"),
    [
        ("", 'torch.amp.GradScaler("cuda")', True),
        ("", "torch.cuda.amp.GradScaler() if cfg.amp else None", True),
        ("", "torch.cuda.amp.GradScaler(enabled=False)", False),
        ("from mylib import LossScaler", "LossScaler()", False),  # another API: unknown
    ],
)
def test_parameter_holds_what_the_same_file_caller_passes(imports, built, flagged):
    source = CALLER_PASSES.format(imports=imports, built=built)
    assert lines(source, "NN701") == ([8] if flagged else [])


@pytest.mark.parametrize(
    ("backward_indent", "flagged"),
    [("            ", True), ("        ", False)],
)
def test_autocast_bound_with_functools_partial(backward_indent, flagged):
    source = (
        "from functools import partial\nimport torch\n\n"
        "def train(model, optimizer, loader):\n"
        "    ctx = partial(torch.autocast, device_type='cuda', dtype=torch.bfloat16)\n"
        "    for x, y in loader:\n"
        "        with ctx():\n"
        "            loss = model(x, y)\n"
        f"{backward_indent}loss.backward()\n"
        "        optimizer.step()\n"
    )
    assert lines(source, "NN703") == ([9] if flagged else [])


@pytest.mark.parametrize(("passed", "flagged"), [("amp_ctx", True), ("nullcontext()", False)])
def test_autocast_context_passed_as_an_argument(passed, flagged):
    source = f"""
        from contextlib import nullcontext
        import torch

        def train_epoch(model, optimizer, loader, ctx):
            for x, y in loader:
                with ctx:
                    loss = model(x, y)
                    loss.backward()
                optimizer.step()

        def main(model, optimizer, loader):
            amp_ctx = torch.autocast("cuda", dtype=torch.bfloat16)
            train_epoch(model, optimizer, loader, {passed})
    """
    assert lines(source, "NN703") == ([9] if flagged else [])


@pytest.mark.parametrize(("set_epoch", "flagged"), [("", True), ("train_loader.sampler.set_epoch(epoch)", False)])
def test_epoch_loop_in_a_function_given_the_loader(set_epoch, flagged):
    source = f"""
        from torch.utils.data import DataLoader, DistributedSampler

        def train(model, train_loader, optimizer, epochs):
            for epoch in range(epochs):
                {set_epoch}
                for x, y in train_loader:
                    model(x, y).backward()
                    optimizer.step()

        def main(model, optimizer, dataset, epochs):
            loader = DataLoader(dataset, sampler=DistributedSampler(dataset))
            train(model, loader, optimizer, epochs)
    """
    assert lines(source, "NN704") == ([7] if flagged else [])


@pytest.mark.parametrize(
    "helper_body",
    [
        "if isinstance(model, DDP):\n        model = model.module\n    torch.save(model.state_dict(), path)",
        "if isinstance(model, DDP):\n        torch.save(model.module.state_dict(), path)\n"
        "    else:\n        torch.save(model.state_dict(), path)",
        "torch.save(getattr(model, 'module', model).state_dict(), path)",
    ],
)
def test_saving_helper_that_unwraps_its_argument(helper_body):
    source = (
        "import torch\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n\n"
        f"def save_model(model, path):\n    {helper_body}\n\n"
        "def main(net, gpu):\n    model = DDP(net, device_ids=[gpu])\n    save_model(model, 'model.pt')\n"
    )
    assert lines(source, "NN705") == []


@pytest.mark.parametrize(
    ("save", "flagged"),
    [
        ("state = model.module.state_dict() if args.distributed else model.state_dict()", False),
        ("state = model.module.state_dict() if hasattr(model, 'module') else model.state_dict()", False),
        ("state = model.state_dict() if args.distributed else None", True),  # no unwrapping arm
        ("state = net.module.state_dict() if args.distributed else model.state_dict()", True),  # another name
    ],
)
def test_state_dict_in_a_branch_whose_other_arm_unwraps(save, flagged):
    source = f"""
        import torch

        def main(args, model, net):
            if args.distributed:
                model = torch.nn.parallel.DistributedDataParallel(model)
            {save}
            torch.save(state, "final.pth")
    """
    assert lines(source, "NN705") == ([7] if flagged else [])


def test_scaler_built_by_a_method_of_the_class():
    source = """
        import torch

        class Trainer:
            def __init__(self, model, optimizer, fp16):
                self.model, self.optimizer, self.fp16 = model, optimizer, fp16
                self.amp = self._build_amp()

            def _build_amp(self):
                return torch.GradScaler("cuda", enabled=self.fp16)

            def fit(self, loader):
                for x, y in loader:
                    self.amp.scale(self.model(x, y)).backward()
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                    self.amp.step(self.optimizer)
                    self.amp.update()
    """
    assert lines(source, "NN701") == [15]
    assert lines(source.replace('torch.GradScaler("cuda", enabled=self.fp16)', "AmpHelper()"), "NN701") == []


@pytest.mark.parametrize(("saved", "flagged"), [("model.state_dict()", True), ("model.module.state_dict()", False)])
def test_wrapper_handed_to_a_saving_method(saved, flagged):
    source = f"""
        import torch
        from torch.nn.parallel import DistributedDataParallel as DDP

        class Runner:
            def save(self, model, epoch):
                torch.save({{"epoch": epoch, "model": {saved}}}, "last.pt")

            def run(self, net, rank):
                model = DDP(net.to(rank), device_ids=[rank])
                self.save(model, 0)
    """
    assert lines(source, "NN705") == ([11] if flagged else [])


def test_missing_update_in_a_helper_loop_is_reported_once_in_the_helper():
    source = """
        import torch

        def train_one_epoch(model, loader, optimizer, scaler):
            for x, y in loader:
                scaler.scale(model(x, y)).backward()
                scaler.step(optimizer)

        def main(model, loader, optimizer):
            scaler = torch.cuda.amp.GradScaler()
            for epoch in range(10):
                train_one_epoch(model, loader, optimizer, scaler)
    """
    assert lines(source, "NN702") == [7]


# -- NN704: loaders renewed with iter(), drained by an endless generator, samplers chosen by class
# (real reports: kekmodel/FixMatch-pytorch#34, rosinality/stylegan2-pytorch#319) ----------------

RENEWED_ITERATOR = """
    from torch.utils.data import DataLoader, RandomSampler
    from torch.utils.data.distributed import DistributedSampler

    def train(args, labeled_loader, model, optimizer):
        labeled_iter = iter(labeled_loader)
        for epoch in range(args.epochs):
            for batch_idx in range(args.eval_step):
                try:
                    x, y = next(labeled_iter)
                except StopIteration:
                    {renew}
                    labeled_iter = iter(labeled_loader)
                    x, y = next(labeled_iter)
                model(x, y).backward()
                optimizer.step()

    def main(args, dataset, model, optimizer):
        sampler_cls = RandomSampler if args.local_rank == -1 else DistributedSampler
        loader = DataLoader(dataset, sampler=sampler_cls(dataset), batch_size=64)
        train(args, loader, model, optimizer)
"""


@pytest.mark.parametrize(
    ("renew", "flagged"),
    [
        ("pass", True),
        ("labeled_loader.sampler.set_epoch(epoch)", False),
    ],
)
def test_nn704_iterator_renewed_in_a_loop(renew: str, flagged: bool) -> None:
    source = RENEWED_ITERATOR.format(renew=renew)
    assert lines(source, "NN704") == ([13] if flagged else [])


def test_nn704_sampler_class_chosen_by_a_flag_shuffle_false_stays_silent() -> None:
    source = """
        from torch.utils.data import DataLoader, SequentialSampler
        from torch.utils.data.distributed import DistributedSampler

        def main(args, dataset, model, optimizer):
            sampler_cls = SequentialSampler if args.local_rank == -1 else DistributedSampler
            loader = DataLoader(dataset, sampler=sampler_cls(dataset, shuffle=False))
            for epoch in range(args.epochs):
                for x, y in loader:
                    model(x, y).backward()
                    optimizer.step()
    """
    assert findings(source, "NN704") == []


ENDLESS_GENERATOR = """
    from torch.utils import data

    def sample_data(loader):
        while True:
            for batch in loader:
                yield batch

    def train(args, loader, model, optimizer):
        loader = sample_data(loader)
        for step in range(args.iter):
            model(next(loader)).backward()
            optimizer.step()
            {extra}

    def main(args, dataset, model, optimizer):
        loader = data.DataLoader(dataset, sampler=data.distributed.DistributedSampler(dataset, shuffle={shuffle}))
        train(args, loader, model, optimizer)
"""


@pytest.mark.parametrize(
    ("shuffle", "extra", "flagged"),
    [
        ("True", "pass", True),
        ("False", "pass", False),
        # The epoch is set somewhere in the file (between turns of the generator): left alone.
        ("True", "loader_sampler.set_epoch(step // 100)", False),
    ],
)
def test_nn704_loader_drained_by_an_endless_generator(shuffle: str, extra: str, flagged: bool) -> None:
    source = ENDLESS_GENERATOR.format(shuffle=shuffle, extra=extra)
    assert lines(source, "NN704") == ([10] if flagged else [])


def test_nn704_generator_over_an_evaluation_loader_stays_silent() -> None:
    source = """
        from torch.utils import data

        def cycle(loader):
            while True:
                for batch in loader:
                    yield batch

        def main(dataset, model, optimizer, steps):
            val_loader = data.DataLoader(dataset, sampler=data.distributed.DistributedSampler(dataset))
            batches = cycle(val_loader)
            for step in range(steps):
                model(next(batches)).backward()
                optimizer.step()
    """
    assert findings(source, "NN704") == []


# -- NN702: `unscale_` on a path that reaches the next iteration without `update()` (real report:
# Haian-Jin/LVSM PR #19: the next `unscale_` raises "unscale_() has already been called") ------

UNSCALED_NOT_UPDATED = """
    import torch

    def finish(scaler, optimizer):
        scaler.step(optimizer)
        scaler.update()

    def train(model, optimizer, loader, accum, limit):
        scaler = torch.amp.GradScaler("cuda")
        for step, (x, y) in enumerate(loader):
            with torch.autocast("cuda"):
                loss = model(x, y)
            scaler.scale(loss / accum).backward()
{body}
            optimizer.zero_grad()
"""


def _unscale_body(text: str) -> str:
    return textwrap.indent(textwrap.dedent(text).strip("\n"), " " * 12)


@pytest.mark.parametrize(
    ("body", "flagged"),
    [
        # LVSM: step and update skipped together when the norm is too large.
        (
            """
            if (step + 1) % accum == 0:
                scaler.unscale_(optimizer)
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                if norm.item() <= limit:
                    scaler.step(optimizer)
                    scaler.update()
            """,
            True,
        ),
        # A non-finite norm skips the rest of the iteration with `continue`.
        (
            """
            scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if not torch.isfinite(norm):
                optimizer.zero_grad()
                continue
            scaler.step(optimizer)
            scaler.update()
            """,
            True,
        ),
        # The step is skipped, the update is not.
        (
            """
            scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if norm.item() <= limit:
                scaler.step(optimizer)
            scaler.update()
            """,
            False,
        ),
        # Skipping with `continue` after updating.
        (
            """
            scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if not torch.isfinite(norm):
                scaler.update()
                continue
            scaler.step(optimizer)
            scaler.update()
            """,
            False,
        ),
        # Accumulation: unscale, step and update in the same branch.
        (
            """
            if (step + 1) % accum == 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
            """,
            False,
        ),
        # The loop ends after the unscale: no next `unscale_`.
        (
            """
            scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if not torch.isfinite(norm):
                break
            scaler.step(optimizer)
            scaler.update()
            """,
            False,
        ),
        (
            """
            scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if not torch.isfinite(norm):
                return
            scaler.step(optimizer)
            scaler.update()
            """,
            False,
        ),
        # A same-file helper steps and updates.
        (
            """
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            finish(scaler, optimizer)
            """,
            False,
        ),
        # The second test is implied by the first (`a` ... `a or last`).
        (
            """
            if (step + 1) % accum == 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if (step + 1) % accum == 0 or step == limit:
                scaler.step(optimizer)
                scaler.update()
            """,
            False,
        ),
        # Skipping before the unscale is harmless.
        (
            """
            if not torch.isfinite(loss):
                continue
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
            """,
            False,
        ),
    ],
)
def test_nn702_unscaled_then_update_skipped(body: str, flagged: bool) -> None:
    source = UNSCALED_NOT_UPDATED.format(body=_unscale_body(body))
    found = findings(source, "NN702")
    assert [f.message.startswith("`scaler.unscale_(optimizer)`") for f in found] == ([True] if flagged else [])
    if flagged:
        assert "already been called" in found[0].message


# -- NN704: loaders and samplers held in dicts, handed to a same-file trainer class (real report:
# kan-bayashi/ParallelWaveGAN#177) -------------------------------------------------------------

DICT_LOADERS = """
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler

    class Trainer:
        def __init__(self, data_loader, sampler, model, optimizer, config):
            self.data_loader = data_loader
            self.sampler = sampler
            self.model = model
            self.optimizer = optimizer
            self.config = config
            self.epochs = 0

        def run(self):
            while True:
                self._train_epoch()
                if self.epochs >= self.config["epochs"]:
                    break

        def _train_epoch(self):
            for batch in self.data_loader["{which}"]:
                self.model(*batch).backward()
                self.optimizer.step()
            self.epochs += 1
            {extra}

    def main(config, dataset, model, optimizer):
        sampler = {{"train": None, "dev": None}}
        if config["distributed"]:
            sampler["train"] = DistributedSampler(dataset["train"], shuffle={shuffle})
            sampler["dev"] = DistributedSampler(dataset["dev"], shuffle=False)
        data_loader = {{
            "train": DataLoader(dataset["train"], sampler=sampler["train"]),
            "dev": DataLoader(dataset["dev"], sampler=sampler["dev"]),
        }}
        trainer = Trainer(data_loader=data_loader, sampler=sampler, model=model, optimizer=optimizer, config=config)
        trainer.run()
"""


@pytest.mark.parametrize(
    ("which", "shuffle", "extra", "flagged"),
    [
        ("train", "True", "pass", True),
        ("train", "True", 'self.sampler["train"].set_epoch(self.epochs)', False),
        ("train", "False", "pass", False),
        # The evaluation loader's sampler does not shuffle (and its key says `dev`).
        ("dev", "True", "pass", False),
    ],
)
def test_nn704_loaders_and_samplers_in_dicts(which: str, shuffle: str, extra: str, flagged: bool) -> None:
    source = DICT_LOADERS.format(which=which, shuffle=shuffle, extra=extra)
    found = findings(source, "NN704")
    assert [f.line for f in found] == ([16] if flagged else [])
    if flagged:
        assert 'self.data_loader["train"]' in found[0].message


@pytest.mark.parametrize(
    ("loop", "flagged"),
    [
        ('for x, y in loaders["train"]:', True),
        ('for x, y in loaders["val"]:', False),
        ("for x, y in loaders[name]:", False),  # the key is not a constant
    ],
)
def test_nn704_local_dict_literal_of_loaders(loop: str, flagged: bool) -> None:
    source = f"""
        from torch.utils.data import DataLoader, DistributedSampler

        def main(model, optimizer, datasets, epochs, name):
            loaders = {{split: None for split in datasets}}
            loaders = dict(loaders)
            loaders = {{
                "train": DataLoader(datasets["train"], sampler=DistributedSampler(datasets["train"])),
                "val": DataLoader(datasets["val"], sampler=DistributedSampler(datasets["val"])),
            }}
            for epoch in range(epochs):
                {loop}
                    model(x, y).backward()
                    optimizer.step()
    """
    assert lines(source, "NN704") == ([12] if flagged else [])


def test_nn704_loader_handed_to_the_constructor_of_a_same_file_class() -> None:
    source = """
        from torch.utils.data import DataLoader, DistributedSampler

        class Trainer:
            def __init__(self, loader, model, optimizer):
                self.loader = loader
                self.model = model
                self.optimizer = optimizer

            def fit(self, epochs):
                for epoch in range(epochs):
                    for x, y in self.loader:
                        self.model(x, y).backward()
                        self.optimizer.step()

        def main(dataset, model, optimizer):
            loader = DataLoader(dataset, sampler=DistributedSampler(dataset))
            Trainer(loader, model, optimizer).fit(3)
    """
    assert lines(source, "NN704") == [12]


# -- NN704: torch_xla's device loaders wrap the DataLoader and never set the epoch (real report:
# pytorch/xla#2029); other wrappers nnlint cannot see still may ------------------------------

XLA_LOADER = """
    import torch
    import torch_xla.core.xla_model as xm
    import torch_xla.distributed.parallel_loader as pl

    def map_fn(flags, train_dataset, model, loss_fn, optimizer, backend):
        device = xm.xla_device()
        train_sampler = torch.utils.data.distributed.DistributedSampler(
            train_dataset, num_replicas=xm.xrt_world_size(), rank=xm.get_ordinal(), shuffle=True)
        train_loader = torch.utils.data.DataLoader(train_dataset, sampler=train_sampler)
        for epoch in range(flags["num_epochs"]):
            {extra}
            para_loader = {wrapped}
            for data, targets in para_loader:
                loss = loss_fn(model(data), targets)
                optimizer.zero_grad()
                loss.backward()
                xm.optimizer_step(optimizer)
"""


@pytest.mark.parametrize(
    ("wrapped", "extra", "flagged"),
    [
        ("pl.ParallelLoader(train_loader, [device]).per_device_loader(device)", "pass", True),
        ("pl.MpDeviceLoader(train_loader, device)", "pass", True),
        ("pl.MpDeviceLoader(train_loader, device)", "train_sampler.set_epoch(epoch)", False),
        # A wrapper nnlint cannot see may set the epoch itself (mmengine's IterLoader does).
        ("backend.distribute(train_loader)", "pass", False),
    ],
)
def test_nn704_torch_xla_device_loaders(wrapped: str, extra: str, flagged: bool) -> None:
    source = XLA_LOADER.format(wrapped=wrapped, extra=extra)
    assert lines(source, "NN704") == ([14] if flagged else [])
