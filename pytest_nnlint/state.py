"""Snapshot and restore torch's process-wide state around a check.

A check seeds the RNG, toggles grad mode and TF32, and may initialise CUDA; the caller must find
everything as it was, even when the check is interrupted (KeyboardInterrupt included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

# A setting torch refuses to report (e.g. TF32 read through the legacy API after the new API was
# used: torch raises rather than guess). It is neither compared nor restored.
UNREADABLE = object()


@dataclass(frozen=True)
class Setting:
    name: str
    read: Callable[[], Any]
    write: Callable[[Any], None]

    def value(self) -> Any:
        try:
            return self.read()
        except (RuntimeError, AttributeError):
            return UNREADABLE


def _attribute(name: str, owner: Callable[[], Any], attribute: str) -> Setting:
    return Setting(name, lambda: getattr(owner(), attribute), lambda value: setattr(owner(), attribute, value))


def _default_device_context() -> Any:
    # torch.set_default_device keeps its state here (torch >= 2.0); absent means "never set".
    holder = getattr(torch, "_GLOBAL_DEVICE_CONTEXT", None)
    return getattr(holder, "device_context", None) if holder is not None else None


def _set_default_device(device: Any) -> None:
    torch.set_default_device(device)


def _set_deterministic(value: tuple[bool, bool]) -> None:
    torch.use_deterministic_algorithms(value[0], warn_only=value[1])


def _set_anomaly(value: tuple[bool, bool]) -> None:
    torch.set_anomaly_enabled(value[0], value[1])


# In restore order. TF32 is reachable through three coupled APIs (legacy flags, the float32
# matmul precision, the per-backend fp32_precision strings): restoring in this order, and only
# what differs, lets the later ones find themselves already restored.
SETTINGS: tuple[Setting, ...] = (
    Setting("grad_enabled", torch.is_grad_enabled, torch.set_grad_enabled),
    Setting("default_dtype", torch.get_default_dtype, torch.set_default_dtype),
    Setting("default_device", lambda: getattr(_default_device_context(), "device", None), _set_default_device),
    Setting(
        "deterministic",
        lambda: (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()),
        _set_deterministic,
    ),
    Setting("anomaly", lambda: (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()), _set_anomaly),
    _attribute("cudnn_enabled", lambda: torch.backends.cudnn, "enabled"),
    _attribute("cudnn_deterministic", lambda: torch.backends.cudnn, "deterministic"),
    _attribute("cudnn_benchmark", lambda: torch.backends.cudnn, "benchmark"),
    _attribute("cudnn_allow_tf32", lambda: torch.backends.cudnn, "allow_tf32"),
    _attribute("matmul_allow_tf32", lambda: torch.backends.cuda.matmul, "allow_tf32"),
    Setting("float32_matmul_precision", torch.get_float32_matmul_precision, torch.set_float32_matmul_precision),
    _attribute("fp32_precision", lambda: torch.backends, "fp32_precision"),
    _attribute("cuda_matmul_fp32_precision", lambda: torch.backends.cuda.matmul, "fp32_precision"),
    _attribute("cudnn_conv_fp32_precision", lambda: torch.backends.cudnn.conv, "fp32_precision"),
    _attribute("cudnn_rnn_fp32_precision", lambda: torch.backends.cudnn.rnn, "fp32_precision"),
)


@dataclass
class TorchGlobalState:
    cpu_rng: torch.Tensor
    cuda_rng: list[torch.Tensor] | None  # None: CUDA absent or not initialised yet
    default_device_context: Any
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def capture(cls) -> TorchGlobalState:
        cuda_initialised = torch.cuda.is_available() and torch.cuda.is_initialized()
        return cls(
            cpu_rng=torch.get_rng_state(),
            cuda_rng=torch.cuda.get_rng_state_all() if cuda_initialised else None,
            default_device_context=_default_device_context(),
            settings={setting.name: setting.value() for setting in SETTINGS},
        )

    def restore(self) -> None:
        """Put back whatever differs (setting only what changed avoids needless side effects)."""
        torch.set_rng_state(self.cpu_rng)
        self._restore_cuda_rng()
        for setting in SETTINGS:
            wanted = self.settings[setting.name]
            if wanted is UNREADABLE:
                continue
            if setting.name == "default_device":
                if _default_device_context() is self.default_device_context:
                    continue
            elif setting.value() == wanted:
                continue
            try:
                setting.write(wanted)
            except RuntimeError:  # torch refused this API in the current mode; the others apply
                continue

    def _restore_cuda_rng(self) -> None:
        if not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        else:
            # CUDA was initialised during the check: rewind its generators to where a fresh
            # initialisation leaves them (the initial seed, offset zero).
            torch.cuda.manual_seed_all(torch.cuda.initial_seed())

    def differences(self, other: TorchGlobalState) -> list[str]:
        """Names of what differs (for tests and diagnostics)."""
        changed = []
        if not torch.equal(self.cpu_rng, other.cpu_rng):
            changed.append("cpu_rng")
        if (self.cuda_rng is None) != (other.cuda_rng is None) or (
            self.cuda_rng is not None
            and other.cuda_rng is not None
            and not all(torch.equal(a, b) for a, b in zip(self.cuda_rng, other.cuda_rng))
        ):
            changed.append("cuda_rng")
        for name, value in self.settings.items():
            if value != other.settings.get(name):
                changed.append(name)
        return changed


@contextmanager
def preserved_torch_state() -> Iterator[TorchGlobalState]:
    """Run a block and restore torch's global state afterwards, however the block ends."""
    snapshot = TorchGlobalState.capture()
    try:
        yield snapshot
    finally:
        snapshot.restore()


def tf32_disabled() -> None:
    """Turn TF32 off for matmuls and convolutions through the API the process already uses (mixing
    the legacy flags and the fp32_precision strings makes torch refuse to read either)."""
    legacy_readable = all(
        setting.value() is not UNREADABLE for setting in SETTINGS if setting.name.endswith("allow_tf32")
    )
    if legacy_readable:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    else:
        torch.backends.cuda.matmul.fp32_precision = "ieee"
        torch.backends.cudnn.conv.fp32_precision = "ieee"
        torch.backends.cudnn.rnn.fp32_precision = "ieee"
