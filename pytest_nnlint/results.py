"""What a check reports: problems (failures), skips, and the result of a check that passed."""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_nnlint.rules import rule_label


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a model: where (`blocks[1]`, `encoder.offset`), what, and which rule."""

    path: str
    message: str
    rule: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        rule = f" [{rule_label(self.rule)}]" if self.rule else ""
        return f"{where}{self.message}{rule}"


# A failure lists this many problems; the rest are counted (pytest -vv lists them all).
LISTED_PROBLEMS = 10


class CheckFailure(AssertionError):
    """A check found problems. Subclasses AssertionError so that any test runner reports a failure.

    `notes` are what the check noted on the way (allowed exceptions included), shown after the
    problems.
    """

    def __init__(
        self,
        problems: list[Problem] | Problem,
        *,
        check: str | None = None,
        model: str | None = None,
        device: str | None = None,
        notes: list[str] | tuple[str, ...] = (),
    ) -> None:
        self.problems: list[Problem] = [problems] if isinstance(problems, Problem) else list(problems)
        self.check = check
        self.model = model
        self.device = device
        self.notes = tuple(notes)
        super().__init__(self.message)

    def with_context(self, check: str, model: str, device: str) -> CheckFailure:
        """The same failure, labelled with the check, model and device it came from."""
        return CheckFailure(self.problems, check=check, model=model, device=device, notes=self.notes)

    @property
    def message(self) -> str:
        return self.text(LISTED_PROBLEMS)

    def text(self, limit: int | None = None) -> str:
        """The message, listing at most `limit` problems (None: all) and counting the others."""
        if self.check is None:
            head = "nnlint check failed:"
        else:
            head = f"nnlint {self.check} check failed for model {self.model!r} on {self.device}:"
        shown = self.problems if limit is None else self.problems[:limit]
        lines = [head, *(f"  - {problem}" for problem in shown)]
        if len(shown) < len(self.problems):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more (pytest -vv lists them all)")
        if self.notes:
            lines.append("  notes:")
            lines += [f"  - {note}" for note in self.notes[: limit or len(self.notes)]]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.message


class CheckSkipped(Exception):
    """A check does not apply (no CUDA, no parameters, nothing to differentiate...)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class CheckResult:
    """A check that passed. `notes` name the parts that could not run (and why); `details` say what
    was demonstrated on the model (e.g. the state_dict aliasing lesson)."""

    check: str
    model: str
    device: str
    notes: tuple[str, ...] = field(default=())
    details: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class CheckOutcome:
    """One entry of `run_all`: passed, failed or skipped, with the message to show."""

    check: str
    model: str
    device: str
    status: str  # "passed" | "failed" | "skipped"
    message: str = ""
    result: CheckResult | None = None
