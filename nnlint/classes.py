"""What a Module class does, across files: does it behave differently in eval mode, what does its
``forward`` end in; and what a helper function in another file does to the models it is given.

The answers combine three sources: the library table (``library.py``: torch.nn layers and the
model classes of well-known libraries), the project's own classes and functions (``summaries.py``,
read from the file that defines them, found through the class hierarchy, which records the file as
a dependency for the cache), and a policy for what neither shows: an unknown class counts as
mode-sensitive, so a rule about eval mode stays as strict as before where the project is silent.
"""

from __future__ import annotations

import ast
import builtins
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nnlint.summaries import ZERO, Built, ClassFacts, CodeSummary, FunctionFacts, built_of, summarise_code

if TYPE_CHECKING:
    import libcst as cst

    from nnlint.context import FileContext

YES, NO, INJECTED = "yes", "no", "injected"  # INJECTED: only as sensitive as the modules it is handed
_MAX_DEPTH = 30
_ACTIVATION_LAYERS = {"Softmax": "softmax", "LogSoftmax": "log_softmax", "Sigmoid": "sigmoid"}
# Packages whose calls never build a module (besides the standard library and builtins).
_NEVER_MODULES = frozenset({"numpy", "math", "einops", "PIL", "cv2", "pandas", "scipy", "tqdm", "wandb"})


def library_class(qualname: str):  # type: ignore[no-untyped-def]
    from nnlint.library import library_class as lookup

    return lookup(qualname)


@dataclass(frozen=True)
class Scope:
    """How names resolve in one file: its module name, its import aliases and top-level
    definitions, and its summary."""

    module: str
    aliases: dict[str, str]
    classes: frozenset[str]
    code: CodeSummary

    def resolve(self, name: str) -> str:
        head, _, rest = name.partition(".")
        target = self.aliases.get(head)
        if target is None:
            if self.module and (head in self.classes or head in self.code.functions):
                target = f"{self.module}.{head}"
            else:
                return name
        return f"{target}.{rest}" if rest else target


class ProjectClasses:
    """Per linted file: answers about Module classes and helpers wherever they are defined."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.hierarchy = ctx.hierarchy
        self._own: Scope | None = None
        self._verdicts: dict[str, str] = {}
        self._in_progress: set[str] = set()

    # -- scopes --------------------------------------------------------------------------------

    def own_scope(self) -> Scope:
        if self._own is None:
            facts = self.ctx.facts
            code = summarise_code(self.ctx.source) or CodeSummary()
            self._own = Scope(facts.module, dict(facts.aliases), frozenset(facts.top_level_classes), code)
        return self._own

    def _definition(self, qualname: str) -> tuple[Scope, str] | None:
        """The scope of the file that defines ``qualname`` (a class or function), and its name there."""
        own = self.own_scope()
        module, _, name = qualname.rpartition(".")
        if not module or module == own.module:
            return own, name
        found = self.hierarchy.lookup(qualname)
        if found is None:
            return None
        summary, name = found
        origin = self.hierarchy.origin(summary.module)
        code = self.hierarchy.memo("code", origin, summarise_code) if origin is not None else None
        if code is None:
            return None
        return Scope(summary.module, summary.aliases, frozenset(summary.class_bases), code), name

    # -- mode sensitivity ----------------------------------------------------------------------

    def expression_sensitive(self, node: cst.BaseExpression) -> bool:
        """Whether the module that ``node`` builds (``Net(...)``, ``nn.Sequential(...)``, moved or
        switched on the way) may behave differently in eval mode. Unknown: True."""
        try:
            expression = ast.parse(self.ctx.module.code_for_node(node).strip(), mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return True
        while isinstance(expression, ast.Call) and isinstance(expression.func, ast.Attribute):
            if not isinstance(expression.func.value, ast.Call):
                break
            expression = expression.func.value  # `Net().to(device).eval()` -> `Net()`
        if not isinstance(expression, ast.Call):
            return True
        scope = self.own_scope()
        outer = built_of(expression, stored=True)
        if outer is None:
            return True
        verdict = self._built(outer, scope, 0, keep_injected=True)
        inner = [built_of(n, stored=False) for n in ast.walk(expression) if isinstance(n, ast.Call) and n is not expression]
        if verdict == INJECTED:
            # A class that calls the modules it is handed: as sensitive as what it is handed here.
            arguments = [*expression.args, *(kw.value for kw in expression.keywords)]
            if any(not isinstance(a, (ast.Constant, ast.Call, ast.JoinedStr)) for a in arguments):
                return True
            verdict = NO
        if verdict == YES:
            return True
        return any(b is not None and self._built(b, scope, 0) != NO for b in inner)

    def class_verdict(self, qualname: str, depth: int = 0) -> str:
        """YES / NO / INJECTED for a Module class; YES when it cannot be seen."""
        known = self._verdicts.get(qualname)
        if known is not None:
            return known
        if qualname in self._in_progress or depth > _MAX_DEPTH:
            return NO  # a cycle adds nothing new
        self._in_progress.add(qualname)
        try:
            verdict = self._class_verdict(qualname, depth)
        finally:
            self._in_progress.discard(qualname)
        self._verdicts[qualname] = verdict
        return verdict

    def _class_verdict(self, qualname: str, depth: int) -> str:
        definition = self._definition(qualname)
        if definition is None:
            return YES
        scope, name = definition
        facts = scope.code.classes.get(name)
        if facts is None:
            target = scope.aliases.get(name)  # a re-export: `from .resnet import ResNet`
            return self._name_verdict(target, scope, depth) if target else YES
        if facts.reads_training:
            return YES
        for base in facts.bases:
            if self._name_verdict(scope.resolve(base), scope, depth, base=True) == YES:
                return YES
        for built in facts.builds:
            if self._built(built, scope, depth + 1) == YES:
                return YES
        return INJECTED if facts.calls_injected else NO

    def _name_verdict(self, qualname: str, scope: Scope, depth: int, base: bool = False) -> str:
        return self._built(Built(qualname, (), (), stored=base), scope, depth + 1, resolved=True)

    def _built(self, built: Built, scope: Scope, depth: int, resolved: bool = False, keep_injected: bool = False) -> str:
        """What one call builds, as far as eval mode goes (INJECTED only with ``keep_injected``:
        the caller then judges the modules the call hands over)."""
        qualname = built.callee if resolved else scope.resolve(built.callee)
        entry = library_class(qualname)
        if entry is not None:
            return _library_verdict(entry, built)
        head = qualname.partition(".")[0]
        if head == "torch" or head == "self":
            return NO  # torch functions and tensors; methods of the class are read with it
        if head in _NEVER_MODULES or head in sys.stdlib_module_names or hasattr(builtins, head):
            return NO
        definition = self._definition(qualname)
        if definition is not None:
            inner_scope, name = definition
            if name in inner_scope.code.classes:
                if not self.hierarchy.is_module_class(qualname):
                    return NO
                verdict = self.class_verdict(qualname, depth)
                return YES if verdict == INJECTED and not keep_injected else verdict
            function = inner_scope.code.functions.get(name)
            if function is not None:
                return self._function_builds(function, inner_scope, depth)
        # Neither the project nor the table shows it: a module stored on the instance (or a base
        # class) may be anything; a call whose result is not kept builds nothing that stays.
        return YES if built.stored else NO

    def _function_builds(self, function: FunctionFacts, scope: Scope, depth: int) -> str:
        key = f"{scope.module}.{function.name}()"
        if key in self._in_progress or depth > _MAX_DEPTH:
            return NO
        self._in_progress.add(key)
        try:
            stored = [Built(b.callee, b.positional, b.keywords, stored=True) for b in function.builds]
            return YES if any(self._built(b, scope, depth + 1) == YES for b in stored) else NO
        finally:
            self._in_progress.discard(key)

    # -- forward ends and helpers ----------------------------------------------------------------

    def class_facts(self, qualname: str) -> tuple[ClassFacts, Scope] | None:
        definition = self._definition(qualname)
        if definition is None:
            return None
        scope, name = definition
        facts = scope.code.classes.get(name)
        return (facts, scope) if facts is not None else None

    def forward_activation(self, qualname: str, depth: int = 0) -> str | None:
        """"softmax" / "log_softmax" / "sigmoid" when the class's `forward` ends in one (directly,
        through `self.<layer>`, or a Sequential whose last layer is one); None when unknown."""
        found = self.class_facts(qualname) if depth <= _MAX_DEPTH else None
        if found is None:
            return None
        facts, scope = found
        if not facts.has_forward:
            bases = [scope.resolve(b) for b in facts.bases]
            return self.forward_activation(bases[0], depth + 1) if len(bases) == 1 else None
        if facts.forward_ends is not None:
            return facts.forward_ends
        built = facts.attributes.get(facts.forward_last) if facts.forward_last else None
        if built is None:
            return None
        layer = scope.resolve(built.callee)
        if layer == "torch.nn.Sequential" and built.last_argument is not None:
            layer = scope.resolve(built.last_argument)
        return _ACTIVATION_LAYERS.get(layer.rpartition(".")[2]) if layer.startswith("torch.nn.") else None

    def function_facts(self, qualname: str) -> FunctionFacts | None:
        """The summary of a module-level function of another file (`from utils import evaluate`)."""
        definition = self._definition(qualname)
        if definition is None:
            return None
        scope, name = definition
        return scope.code.functions.get(name)


def _library_verdict(entry, built: Built) -> str:  # type: ignore[no-untyped-def]
    if entry.mode == "sensitive":
        return YES
    if entry.mode == "argument" and entry.argument is not None:
        name, position, default = entry.argument
        value = built.argument(name, position)
        if value is None:
            return YES if default else NO
        return NO if value == ZERO else YES
    return NO  # insensitive, or a container whose contents are judged on their own

