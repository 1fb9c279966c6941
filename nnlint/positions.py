"""Source ranges for the few nodes that carry a finding.

LibCST's PositionProvider regenerates the code of a whole module to give every node a position,
which costs several parses. nnlint needs positions only for nodes it reports, and only in files
that have findings, so it runs the same position-tracking code generation once per such file and
stops as soon as the last wanted node has been generated.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager

import libcst as cst
from libcst.metadata import CodePosition, CodeRange
from libcst.metadata.position_provider import PositionProvidingCodegenState

# (line, column, end_line, end_column): 1-based lines, 1-based columns, exclusive end column.
Range = tuple[int, int, int, int]


class _Done(Exception):
    pass


class _Positions:
    """Stands in for the metadata provider that the codegen state writes into."""

    def __init__(self) -> None:
        self._computed: dict[cst.CSTNode, CodeRange] = {}
        self.done = False


class _StoppingState(PositionProvidingCodegenState):
    def after_codegen(self, node: cst.CSTNode) -> None:  # type: ignore[override]
        super().after_codegen(node)
        wanted = self.provider.wanted  # type: ignore[attr-defined]
        if node in wanted:
            wanted.discard(node)
            if not wanted:
                self.provider.done = True  # type: ignore[attr-defined]
                raise _Done

    @contextmanager
    def record_syntactic_position(
        self, node: cst.CSTNode, *, start_node: cst.CSTNode | None = None, end_node: cst.CSTNode | None = None
    ) -> Iterator[None]:
        # The parent class's version, except that once we stop early, the ranges of the
        # unfinished enclosing nodes are neither needed nor computable.
        start = CodePosition(self.line, self.column)
        try:
            yield
        finally:
            if not self.provider.done:  # type: ignore[attr-defined]
                computed = self.provider._computed
                if start_node is not None:
                    start = computed[start_node].start
                end = computed[end_node].end if end_node is not None else CodePosition(self.line, self.column)
                computed[node] = CodeRange(start, end)


def node_ranges(module: cst.Module, nodes: Collection[cst.CSTNode]) -> dict[cst.CSTNode, Range]:
    if not nodes:
        return {}
    provider = _Positions()
    provider.wanted = set(nodes)  # type: ignore[attr-defined]
    state = _StoppingState(
        default_indent=module.default_indent,
        default_newline=module.default_newline,
        provider=provider,  # type: ignore[arg-type]
    )
    try:
        module._codegen(state)
    except _Done:
        pass
    ranges: dict[cst.CSTNode, Range] = {}
    for node in nodes:
        code_range = provider._computed.get(node)
        if code_range is not None:
            start, end = code_range.start, code_range.end  # type: ignore[attr-defined]
            ranges[node] = (start.line, start.column + 1, end.line, end.column + 1)
    return ranges
