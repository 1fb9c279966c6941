"""Cost of pytest_nnlint's full check suite, as a ratio to one training step of the same model.

    python bench/bench_plugin.py [--device cpu] [--batch 32,16] [--repeats 7]
    python bench/bench_plugin.py --zoo tv_resnet18,timm_vit_tiny,hf_bert [--repeats 3]

Model: a small CNN with BatchNorm on CIFAR-sized inputs (Bx3x32x32). "One step" is forward +
default loss + backward on an existing instance; "suite" is every check that applies to the
device (`pytest_nnlint.run_all`), each building its own fresh instances. Both are measured in this
one run (median of repeats after a warm-up), so the ratio does not depend on the machine's speed.
The suite has a fixed part (building instances, walking attributes, a meta-device forward pass,
a pickle round trip) that does not grow with the batch, so the ratio is printed for several
batch sizes; the first is the headline. Target: ratio <= 10.

With --zoo, the models are real ones from bench/plugin_zoo/pyproject.toml (needs timm,
transformers, torchvision): "suite" is run_all on a fresh copy of the spec each time, so it
includes building the model from its factory (what a pytest process pays once per model), with
the inputs the plugin infers; "one step" is forward + default loss + backward on those inputs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from pytest_nnlint import ModelSpec, run_all, run_check  # noqa: E402
from pytest_nnlint.checks import CHECKS  # noqa: E402
from pytest_nnlint.spec import ACCELERATOR_ONLY_CHECKS  # noqa: E402

TARGET_RATIO = 10.0


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class Inputs:
    def __init__(self, batch: int) -> None:
        self.batch = batch

    def __call__(self, device: torch.device) -> torch.Tensor:
        return torch.randn(self.batch, 3, 32, 32, device=device)


def median_seconds(action: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        action()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(device: torch.device, batch: int, repeats: int) -> tuple[float, dict[str, float], float, list]:
    """(step seconds, seconds per check, suite seconds, outcomes) for one batch size."""
    inputs = Inputs(batch)
    spec = ModelSpec("small-cnn", factory=SmallCNN, inputs=inputs)
    model = SmallCNN().to(device).train()
    data = inputs(device)

    def training_step() -> None:
        model.zero_grad(set_to_none=True)
        model(data).sum().backward()

    step = median_seconds(training_step, repeats * 3)
    names = [n for n in CHECKS if not (n in ACCELERATOR_ONLY_CHECKS and device.type == "cpu")]
    per_check = {name: median_seconds(lambda n=name: run_check(n, spec, device), repeats) for name in names}
    suite = median_seconds(lambda: run_all(spec, devices=[device]), repeats)
    return step, per_check, suite, run_all(spec, devices=[device])


def measure_zoo(names: list[str], device: torch.device, repeats: int) -> int:
    """The suite against one training step for real models of the plugin zoo."""
    import dataclasses

    zoo = Path(__file__).resolve().parent / "plugin_zoo"
    sys.path.insert(0, str(zoo))
    import torchvision_cpu_shim  # noqa: F401 - before torchvision/timm

    from pytest_nnlint import load_model_specs
    from pytest_nnlint.checks._support import build_on, compute_loss, forward, make_inputs

    specs = {spec.name: spec for spec in load_model_specs(zoo / "pyproject.toml")}
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    print(f"{'model':<28}{'step ms':>10}{'suite ms':>11}{'ratio':>8}   (target <= {TARGET_RATIO:g})")
    worst = 0.0
    for name in names:
        spec = specs[name]
        model = build_on(spec, device).train()
        data = make_inputs(spec, device)

        def training_step() -> None:
            model.zero_grad(set_to_none=True)
            compute_loss(spec, forward(model, data, "step")).backward()

        step = median_seconds(training_step, repeats * 2, warmup=1)
        suite = median_seconds(lambda: run_all(dataclasses.replace(spec), devices=[device]), repeats, warmup=1)
        outcomes = run_all(spec, devices=[device])
        failed = [o.check for o in outcomes if o.status == "failed"]
        worst = max(worst, suite / step)
        print(f"{name:<28}{step * 1e3:>10.1f}{suite * 1e3:>11.1f}{suite / step:>8.2f}" + (f"   FAILED: {failed}" if failed else ""))
    print(f"\nworst ratio {worst:.2f}")
    return 0 if worst <= TARGET_RATIO else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", help="comma-separated model names of bench/plugin_zoo/pyproject.toml")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", default="32,16", help="comma-separated batch sizes; the first is the headline")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.zoo:
        return measure_zoo(args.zoo.split(","), device, args.repeats)
    batches = [int(b) for b in args.batch.split(",")]

    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, inputs Bx3x32x32")
    results = {batch: measure(device, batch, args.repeats) for batch in batches}

    step, per_check, suite, _ = results[batches[0]]
    print(f"\nbatch {batches[0]}: {'what':<26}{'median ms':>12}{'x step':>10}")
    print(f"{'':9}{'forward+backward step':<26}{step * 1e3:>12.2f}{1.0:>10.2f}")
    for name, seconds in per_check.items():
        print(f"{'':9}{'  ' + name:<26}{seconds * 1e3:>12.2f}{seconds / step:>10.2f}")
    print(f"{'':9}{'full suite (run_all)':<26}{suite * 1e3:>12.2f}{suite / step:>10.2f}")

    print(f"\n{'batch':>6}{'step ms':>10}{'suite ms':>10}{'ratio':>8}   (target <= {TARGET_RATIO:g})")
    failed = []
    for batch, (step, _, suite, outcomes) in results.items():
        print(f"{batch:>6}{step * 1e3:>10.2f}{suite * 1e3:>10.2f}{suite / step:>8.2f}")
        failed += [o for o in outcomes if o.status == "failed"]
    for outcome in failed:
        print(outcome.message)
    headline = results[batches[0]]
    ratio = headline[2] / headline[0]
    print(f"\nratio {ratio:.2f} at batch {batches[0]}; every check "
          + ("passed" if not failed else "did NOT pass") + " on the benchmark model")
    return 0 if ratio <= TARGET_RATIO and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
