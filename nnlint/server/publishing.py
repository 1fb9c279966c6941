"""A lint outcome as the diagnostics of each editor document it covers, kept with the snapshot it
was computed on (code actions and hovers read it back)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lsprotocol import types

from nnlint.server.core import LintOutcome, Problem
from nnlint.server.documents import Snapshot
from nnlint.server.protocol import DocsLink, Positions, diagnostic, unlintable_diagnostic


@dataclass
class Published:
    snapshot: Snapshot
    outcome: LintOutcome
    # document URI -> its diagnostics, each with the finding behind it (None: the file did not parse)
    diagnostics: dict[str, list[tuple[types.Diagnostic, Problem | None]]] = field(default_factory=dict)
    encoding: str = types.PositionEncodingKind.Utf16

    def positions(self, document_uri: str) -> Positions | None:
        text = self.snapshot.text_of(document_uri)
        return None if text is None else Positions(text, self.encoding)

    def has_safe_fix(self) -> bool:
        return any(p.fix is not None and p.fix.safe for p in self.outcome.problems)


def publish(snapshot: Snapshot, outcome: LintOutcome, encoding: str, docs: DocsLink | None) -> Published:
    published = Published(snapshot, outcome, {uri: [] for uri in snapshot.documents()}, encoding)
    positions: dict[str, Positions] = {}

    def positions_of(uri: str) -> Positions:
        if uri not in positions:
            positions[uri] = Positions(snapshot.text_of(uri) or "", encoding)
        return positions[uri]

    for problem in outcome.problems:
        uri = snapshot.document_of(problem.span)
        published.diagnostics.setdefault(uri, []).append((diagnostic(problem, positions_of(uri), docs), problem))
    for unlintable in outcome.unlintable:
        span = unlintable.span
        uri = snapshot.document_of(span) if span is not None else snapshot.documents()[0] if snapshot.documents() else snapshot.uri
        published.diagnostics.setdefault(uri, []).append((unlintable_diagnostic(unlintable, positions_of(uri)), None))
    return published
