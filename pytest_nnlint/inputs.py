"""What a model is called with: `Inputs` (positional and keyword arguments) and declarative inputs
(`{shape = [2, 3, 224, 224]}`, `{input_ids = {shape = [2, 16], dtype = "int64", high = 1000}}`).

Declarations are validated here without torch (so a typo is reported before anything runs) and
turned into tensors only when a check calls them.

Grammar of a declaration (TOML or Python):
- a list: positional arguments;
- a table/dict with a `shape` or `data` key: one tensor (one positional argument);
- any other table/dict at the top level: keyword arguments (`model(**kwargs)`);
- inside those, a tensor table, a nested list (a Python list argument), a nested table without
  `shape`/`data` (a dict argument), or a plain number / string / bool passed as is.
A tensor table: `shape` (list of ints) or `data` (nested list of numbers), `dtype` (default
float32; bool and integer types need `high` unless `data` is given), `low` / `high` (integers:
the half-open range of `randint`; floats: a uniform range instead of the standard normal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_nnlint.errors import SpecError

TENSOR_KEYS = ("shape", "data", "dtype", "low", "high")
FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16")
INTEGER_DTYPES = ("int64", "int32", "int16", "int8", "uint8", "bool")
DTYPES = FLOAT_DTYPES + INTEGER_DTYPES


class Inputs(tuple):  # type: ignore[type-arg]
    """Positional arguments (the tuple itself) plus keyword arguments (`.kwargs`).

    An inputs callable may return `Inputs(x, attention_mask=m)` to pass keywords; a plain tuple
    or a single value are positional, as before. `model(*inputs, **inputs.kwargs)`.
    """

    kwargs: dict[str, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> Inputs:
        self = super().__new__(cls, args)
        self.kwargs = dict(kwargs)
        return self

    def __repr__(self) -> str:
        parts = [repr(a) for a in self] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"Inputs({', '.join(parts)})"


@dataclass(frozen=True)
class TensorDeclaration:
    shape: tuple[int, ...] | None
    data: Any
    dtype: str
    low: float | None
    high: float | None

    def describe(self) -> str:
        shape = list(self.shape) if self.shape is not None else "data"
        bounds = f" in [{self.low if self.low is not None else 0}, {self.high})" if self.high is not None else ""
        return f"{shape} {self.dtype}{bounds}"


class DeclaredInputs:
    """A validated declaration, callable like an inputs function: `declared(device) -> Inputs`.

    Tensors are drawn from a private generator seeded by `seed`, so they are the same on every
    device and never touch the global random stream.
    """

    def __init__(self, declaration: Any, where: str, seed: int = 0) -> None:
        self.where = where
        self.seed = seed
        self.source = declaration
        if isinstance(declaration, list):
            self.args = tuple(_parse(item, f"{where}[{i}]") for i, item in enumerate(declaration))
            self.kwargs: dict[str, Any] = {}
        elif isinstance(declaration, Mapping) and not _is_tensor_table(declaration):
            self.args = ()
            self.kwargs = {str(k): _parse(v, f"{where}.{k}") for k, v in declaration.items()}
        elif isinstance(declaration, Mapping):
            self.args = (_parse(declaration, where),)
            self.kwargs = {}
        else:
            raise SpecError(
                f"{where} = {declaration!r} is invalid: expected a list (positional inputs), a table of "
                "keyword inputs, or a tensor table such as {shape = [2, 3, 224, 224]}"
            )

    def __call__(self, device: Any) -> Inputs:
        import torch

        generator = torch.Generator().manual_seed(self.seed)
        args = [_materialise(item, generator, device) for item in self.args]
        kwargs = {key: _materialise(item, generator, device) for key, item in self.kwargs.items()}
        return Inputs(*args, **kwargs)

    def describe(self) -> str:
        parts = [_describe(item) for item in self.args]
        parts += [f"{key}={_describe(item)}" for key, item in self.kwargs.items()]
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"declared inputs ({self.describe()})"


def _is_tensor_table(value: Mapping[str, Any]) -> bool:
    return "shape" in value or "data" in value


def _parse(value: Any, where: str) -> Any:
    if isinstance(value, Mapping) and _is_tensor_table(value):
        return _parse_tensor(value, where)
    if isinstance(value, Mapping):
        return {str(k): _parse(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_parse(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    raise SpecError(f"{where} = {value!r} is invalid: expected a tensor table, a list, a table or a plain value")


def _parse_tensor(table: Mapping[str, Any], where: str) -> TensorDeclaration:
    for key in table:
        if key not in TENSOR_KEYS:
            raise SpecError(f"{where}: unknown key {key!r} in a tensor table (expected one of: {', '.join(TENSOR_KEYS)})")
    shape = table.get("shape")
    if shape is not None and not (
        isinstance(shape, list) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise SpecError(f"{where}: shape = {shape!r} is invalid: expected a list of non-negative integers")
    dtype = table.get("dtype", "float32")
    if dtype not in DTYPES:
        raise SpecError(f"{where}: dtype = {dtype!r} is invalid: expected one of {', '.join(DTYPES)}")
    for key in ("low", "high"):
        bound = table.get(key)
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))):
            raise SpecError(f"{where}: {key} = {bound!r} is invalid: expected a number")
    data = table.get("data")
    if data is not None and shape is not None:
        raise SpecError(f"{where}: give either shape or data, not both")
    if data is None and dtype in INTEGER_DTYPES and dtype != "bool" and table.get("high") is None:
        raise SpecError(f"{where}: an {dtype} tensor needs high = N (values are drawn from [low, high))")
    low, high = table.get("low"), table.get("high")
    if low is not None and high is not None and not low < high:
        raise SpecError(f"{where}: low = {low!r} must be below high = {high!r}")
    return TensorDeclaration(tuple(shape) if shape is not None else None, data, dtype, low, high)


def _materialise(item: Any, generator: Any, device: Any) -> Any:
    import torch

    if isinstance(item, TensorDeclaration):
        dtype = getattr(torch, item.dtype)
        if item.data is not None:
            return torch.tensor(item.data, dtype=dtype).to(device)
        if item.dtype == "bool":
            tensor = torch.randint(0, 2, item.shape, generator=generator).bool()
        elif item.dtype in INTEGER_DTYPES:
            low = int(item.low) if item.low is not None else 0
            tensor = torch.randint(low, int(item.high), item.shape, generator=generator, dtype=dtype)  # type: ignore[arg-type]
        elif item.low is not None or item.high is not None:
            low = item.low if item.low is not None else 0.0
            high = item.high if item.high is not None else low + 1.0
            tensor = (torch.rand(item.shape, generator=generator) * (high - low) + low).to(dtype)
        else:
            tensor = torch.randn(item.shape, generator=generator).to(dtype)
        return tensor.to(device)
    if isinstance(item, dict):
        return {key: _materialise(value, generator, device) for key, value in item.items()}
    if isinstance(item, list):
        return [_materialise(value, generator, device) for value in item]
    return item


def _describe(item: Any) -> str:
    if isinstance(item, TensorDeclaration):
        return item.describe()
    if isinstance(item, dict):
        return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in item.items()) + "}"
    if isinstance(item, list):
        return "[" + ", ".join(_describe(v) for v in item) + "]"
    return repr(item)
