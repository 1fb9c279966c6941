"""Snapshot and restore torch's process-wide state around a check.

A check seeds the RNG, toggles grad mode and TF32, and may initialise CUDA; the caller must find
everything as it was, even when the check is interrupted (KeyboardInterrupt included).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch


def _default_device_context() -> Any:
    # torch.set_default_device keeps its state here (torch >= 2.0); absent means "never set".
    holder = getattr(torch, "_GLOBAL_DEVICE_CONTEXT", None)
    return getattr(holder, "device_context", None) if holder is not None else None


@dataclass
class TorchGlobalState:
    cpu_rng: torch.Tensor
    cuda_rng: list[torch.Tensor] | None  # None: CUDA absent or not initialised yet
    grad_enabled: bool
    default_dtype: torch.dtype
    default_device_context: Any
    default_device: torch.device | None
    deterministic: bool
    deterministic_warn_only: bool
    anomaly_enabled: bool
    anomaly_check_nan: bool
    cudnn_enabled: bool
    cudnn_deterministic: bool
    cudnn_benchmark: bool
    cudnn_allow_tf32: bool
    matmul_allow_tf32: bool
    float32_matmul_precision: str

    @classmethod
    def capture(cls) -> TorchGlobalState:
        cuda_initialised = torch.cuda.is_available() and torch.cuda.is_initialized()
        context = _default_device_context()
        return cls(
            cpu_rng=torch.get_rng_state(),
            cuda_rng=torch.cuda.get_rng_state_all() if cuda_initialised else None,
            grad_enabled=torch.is_grad_enabled(),
            default_dtype=torch.get_default_dtype(),
            default_device_context=context,
            default_device=getattr(context, "device", None),
            deterministic=torch.are_deterministic_algorithms_enabled(),
            deterministic_warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
            anomaly_enabled=torch.is_anomaly_enabled(),
            anomaly_check_nan=torch.is_anomaly_check_nan_enabled(),
            cudnn_enabled=torch.backends.cudnn.enabled,
            cudnn_deterministic=torch.backends.cudnn.deterministic,
            cudnn_benchmark=torch.backends.cudnn.benchmark,
            cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
            matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
            float32_matmul_precision=torch.get_float32_matmul_precision(),
        )

    def restore(self) -> None:
        """Put back whatever differs (setting only what changed avoids needless side effects)."""
        torch.set_rng_state(self.cpu_rng)
        self._restore_cuda_rng()
        torch.set_grad_enabled(self.grad_enabled)
        if torch.get_default_dtype() != self.default_dtype:
            torch.set_default_dtype(self.default_dtype)
        if _default_device_context() is not self.default_device_context:
            torch.set_default_device(self.default_device)
        if (
            torch.are_deterministic_algorithms_enabled() != self.deterministic
            or torch.is_deterministic_algorithms_warn_only_enabled() != self.deterministic_warn_only
        ):
            torch.use_deterministic_algorithms(self.deterministic, warn_only=self.deterministic_warn_only)
        if (
            torch.is_anomaly_enabled() != self.anomaly_enabled
            or torch.is_anomaly_check_nan_enabled() != self.anomaly_check_nan
        ):
            torch.set_anomaly_enabled(self.anomaly_enabled, self.anomaly_check_nan)
        cudnn = torch.backends.cudnn
        for name in ("enabled", "deterministic", "benchmark", "allow_tf32"):
            wanted = getattr(self, f"cudnn_{name}")
            if getattr(cudnn, name) != wanted:
                setattr(cudnn, name, wanted)
        # matmul TF32 and the float32 matmul precision are one setting seen twice: restore the
        # flag first, then the precision, which is the finer of the two.
        if torch.backends.cuda.matmul.allow_tf32 != self.matmul_allow_tf32:
            torch.backends.cuda.matmul.allow_tf32 = self.matmul_allow_tf32
        if torch.get_float32_matmul_precision() != self.float32_matmul_precision:
            torch.set_float32_matmul_precision(self.float32_matmul_precision)

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
        """Names of the fields that differ (for tests and diagnostics)."""
        changed = []
        for name in self.__dataclass_fields__:
            if name == "default_device_context":  # compared through default_device
                continue
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, torch.Tensor):
                same = torch.equal(mine, theirs)
            elif isinstance(mine, list):
                same = theirs is not None and len(mine) == len(theirs) and all(
                    torch.equal(a, b) for a, b in zip(mine, theirs)
                )
            else:
                same = mine == theirs
            if not same:
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
