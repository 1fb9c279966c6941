"""The fast walker sees exactly the nodes LibCST's own visitor sees, minus formatting tokens."""

from pathlib import Path

import libcst as cst
import pytest

from nnlint.walker import _FORMATTING_BASES, iter_nodes

SOURCE = '''
import torch.nn as nn
from . import a as b, c

@decorator(1)
class Net[T](nn.Module, metaclass=Meta):
    """Doc."""
    x: int = 3

    def __init__(self, *args, k=1, **kw) -> None:
        super().__init__()
        self.layers = [nn.Linear(i, i) for i in range(3) if i for j in range(i) if j]
        self.d = {k: v for k, v in kw.items()}
        self.s = {*args, 1}
        self.g = (lambda y, /, z=2: y + z)(1)

    async def forward(self, x, *, y=None):
        async with ctx() as (p, q):
            async for i in aiter():
                x = -x if not y else x ** 2 @ y
        match x:
            case [1, *rest] | {"k": _, **kw}:
                pass
            case Point(x=0) if x > 1:
                return f"{x!r:>{y}}"
        try:
            del x[1:2:3], y.z
        except* ValueError as e:
            raise RuntimeError from e
        finally:
            global G
        while (n := 1) and x is not None:
            x += yield from g()
            break
        else:
            assert x, "m"
        return await x

type Alias[K] = dict[K, int]
'''


class _Collect(cst.CSTVisitor):
    def __init__(self) -> None:
        self.seen: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, _FORMATTING_BASES):
            return False  # whitespace, comments and tokens: nothing a rule reads
        self.seen.append(node)
        return True


FIXTURES = sorted((Path(__file__).parent.parent / "fixtures").rglob("*.py"))


@pytest.mark.parametrize("source", [SOURCE, "x = 1\n", "", *(path.read_text() for path in FIXTURES)])
def test_the_walker_visits_every_code_node_in_source_order(source):
    tree = cst.parse_module(source)
    collect = _Collect()
    tree.visit(collect)
    walked = list(iter_nodes(tree))
    assert [type(n).__name__ for n in walked] == [type(n).__name__ for n in collect.seen]
    assert all(a is b for a, b in zip(walked, collect.seen))
