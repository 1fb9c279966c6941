"""Class and function summaries of one file, read with ``ast``: what a rule in another function or
another file needs to know about a Module class or a helper without reading its body again.

- A class: the modules it builds (with what its arguments show), whether it reads
  ``self.training``, whether it calls a module it was given (``self.encoder = encoder`` ...
  ``self.encoder(x)``), and what its ``forward`` returns last.
- A function: the modules it builds, and what it does to each parameter that may hold a model
  (``.eval()``, ``.train()``, a forward call under ``no_grad``, a training step).

One implementation serves every file, linted or only depended on, so an answer never depends on
which file a process parsed first. Summaries are built only when a rule asks (a candidate finding),
from the file's text; ``ast`` parses ten times faster than LibCST. Plain data: nothing here
resolves names across files (``classes.py`` does).
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from nnlint.parsing import parse_ast
from nnlint.project import ast_dotted_name as dotted

ZERO, NONZERO, OTHER = "zero", "nonzero", "other"
# Modes a helper leaves a model in (the same values modes.py tracks).
EVAL, EXPLICIT_TRAIN, UNKNOWN = "eval", "explicit-train", "unknown"
# Calls that take a model as an argument without changing its mode.
MODE_NEUTRAL_CALLS = frozenset(
    "print len str repr isinstance type id hasattr getattr setattr vars dir sum list "
    "torch.save count_parameters".split()
)
# Module names in `ast` form whose calls create no module (checked on the written head name).
_NO_GRAD = frozenset({"no_grad", "inference_mode"})
_SOFTMAX = frozenset({"softmax", "Softmax"})
_LOG_SOFTMAX = frozenset({"log_softmax", "LogSoftmax"})
_SIGMOID = frozenset({"sigmoid", "Sigmoid"})


@dataclass(frozen=True)
class Built:
    """A call that may build a module: the callee as written, and what its arguments show
    (ZERO for a literal 0 / 0.0 / False / None, NONZERO for another literal, OTHER otherwise)."""

    callee: str
    positional: tuple[str, ...]
    keywords: tuple[tuple[str, str], ...]
    stored: bool  # its result is assigned straight to `self.<attr>`
    last_argument: str | None = None  # the callee of its last positional argument, when a call

    def argument(self, name: str, position: int | None) -> str | None:
        """What the argument ``name`` (or at ``position``) shows; None when it is not given."""
        for key, value in self.keywords:
            if key == name:
                return value
        if position is not None and position < len(self.positional):
            return self.positional[position]
        return None


@dataclass
class ClassFacts:
    name: str
    bases: tuple[str, ...]  # dotted, as written
    builds: list[Built] = field(default_factory=list)
    reads_training: bool = False
    calls_injected: bool = False  # calls a module it was handed (`self.enc = enc` ... `self.enc(x)`)
    forward_ends: str | None = None  # "softmax" | "log_softmax" | "sigmoid" | None
    forward_last: str | None = None  # `self.<attr>` whose output forward returns last
    attributes: dict[str, Built] = field(default_factory=dict)  # `self.<attr> = <call>` (last one)
    has_forward: bool = False


@dataclass
class FunctionFacts:
    name: str
    params: tuple[str, ...]
    builds: list[Built] = field(default_factory=list)
    # parameter -> mode it leaves the model in (EVAL / EXPLICIT_TRAIN / UNKNOWN)
    effect: dict[str, str] = field(default_factory=dict)
    infers: set[str] = field(default_factory=set)  # parameters run for inference before any eval()
    trains: bool = False  # calls `backward()` or an optimizer's `step()`
    returns_param: str | None = None  # `return model` (a factory that hands back its argument)


@dataclass
class CodeSummary:
    classes: dict[str, ClassFacts] = field(default_factory=dict)
    functions: dict[str, FunctionFacts] = field(default_factory=dict)  # module-level functions


def literal_kind(node: ast.expr) -> str:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    if isinstance(node, ast.Constant) and not isinstance(node.value, (str, bytes)):
        return ZERO if not node.value else NONZERO
    return OTHER


def built_of(call: ast.Call, stored: bool) -> Built | None:
    callee = dotted(call.func)
    if callee is None:
        return None
    positional = tuple(literal_kind(arg) for arg in call.args if not isinstance(arg, ast.Starred))
    keywords = tuple((kw.arg, literal_kind(kw.value)) for kw in call.keywords if kw.arg is not None)
    last = call.args[-1] if call.args else None
    last_argument = dotted(last.func) if isinstance(last, ast.Call) else None
    return Built(callee, positional, keywords, stored, last_argument)


def summarise_code(text: str) -> CodeSummary | None:
    """The summary of a file's text; None when ``ast`` cannot parse it."""
    try:
        tree = parse_ast(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    summary = CodeSummary()
    for node in _walk(tree, _BLOCK_NODES):
        if isinstance(node, ast.ClassDef):
            summary.classes[node.name] = _class_facts(node)
    for node in tree.body:
        for function in _top_level_functions(node):
            summary.functions[function.name] = _function_facts(function)
    return summary


# What a class definition can be nested in: expressions never hold statements.
_BLOCK_NODES = (ast.stmt, ast.excepthandler, ast.match_case)


def _walk(node: ast.AST, kinds: type[ast.AST] | tuple[type[ast.AST], ...] = ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` (the same breadth-first order) without its generator per node -- the summary
    of the linted file is built on every lint, and ``ast.walk`` was most of its cost -- descending
    only into nodes of ``kinds`` (the order of those is ``ast.walk``'s)."""
    todo = deque([node])
    while todo:
        node = todo.popleft()
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                todo.extend(item for item in value if isinstance(item, kinds))
            elif isinstance(value, kinds):
                todo.append(value)
        yield node


def _top_level_functions(node: ast.stmt) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Functions defined at module level, also inside `if` / `try` blocks (as collect_facts)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return [node]
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    if isinstance(node, (ast.If, ast.Try, ast.With)):
        for block in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])):
            for inner in block:
                found += _top_level_functions(inner)
    return found


class _Builds:
    """The calls a class or function body makes, in ``ast.walk`` order, each marked stored when
    its result is assigned to a ``self`` attribute. Fed node by node (parents before children, so
    an assignment is seen before the call it stores)."""

    def __init__(self) -> None:
        self.found: list[Built] = []
        self._stored: set[int] = set()

    def see(self, node: ast.AST) -> None:
        if isinstance(node, ast.Call):
            built = built_of(node, id(node) in self._stored)
            if built is not None:
                self.found.append(built)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_self_attribute(t) is not None for t in targets):
                self._stored.add(id(node.value))


def _builds(nodes: list[ast.stmt]) -> list[Built]:
    builds = _Builds()
    for statement in nodes:
        for node in _walk(statement):
            builds.see(node)
    return builds.found


def _self_attribute(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


def _class_facts(node: ast.ClassDef) -> ClassFacts:
    facts = ClassFacts(node.name, tuple(d for d in (dotted(b) for b in node.bases) if d is not None))
    builds = _Builds()
    given: set[str] = set()  # attributes assigned a parameter of the method that assigns them
    called: set[str] = set()
    for item in node.body:  # one walk of each statement: the builds, and the methods' facts
        if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in _walk(item):
                builds.see(inner)
            continue
        params = {a.arg for a in (*item.args.posonlyargs, *item.args.args, *item.args.kwonlyargs)}
        for inner in _walk(item):
            builds.see(inner)
            if isinstance(inner, ast.Attribute) and inner.attr == "training" and _is_self(inner.value):
                facts.reads_training = True
            elif isinstance(inner, ast.Assign) and isinstance(inner.value, ast.Name) and inner.value.id in params:
                given.update(a for a in (_self_attribute(t) for t in inner.targets) if a is not None)
            elif isinstance(inner, ast.Assign) and isinstance(inner.value, ast.Call):
                built = built_of(inner.value, stored=True)
                for attr in (_self_attribute(t) for t in inner.targets):
                    if attr is not None and built is not None:
                        facts.attributes[attr] = built
            elif isinstance(inner, ast.Call):
                attr = _self_attribute(inner.func)
                if attr is not None:
                    called.add(attr)
    facts.builds = builds.found
    facts.calls_injected = bool(given & called)
    forward = next(
        (i for i in node.body if isinstance(i, (ast.FunctionDef, ast.AsyncFunctionDef)) and i.name == "forward"), None
    )
    if forward is not None:
        facts.has_forward = True
        facts.forward_ends, facts.forward_last = _forward_end(forward)
    return facts


def _is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _forward_end(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str | None, str | None]:
    """What the last top-level ``return`` of ``forward`` applies last: a softmax-like function,
    or the output of ``self.<attr>(...)`` (whose layer the caller judges)."""
    returns = [s for s in function.body if isinstance(s, ast.Return) and s.value is not None]
    if not returns:
        return None, None
    value = returns[-1].value
    local = _last_assignment(function, value.id) if isinstance(value, ast.Name) else None
    if local is not None:
        value = local
    if not isinstance(value, ast.Call):
        return None, None
    name = dotted(value.func)
    last = name.rpartition(".")[2] if name else None
    if last in _SOFTMAX:
        return "softmax", None
    if last in _LOG_SOFTMAX:
        return "log_softmax", None
    if last in _SIGMOID:
        return "sigmoid", None
    attr = _self_attribute(value.func)
    return None, attr


def _last_assignment(function: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> ast.expr | None:
    """The value of the last top-level `name = ...` in the function (`x = F.softmax(x); return x`)."""
    value = None
    for statement in function.body:
        if isinstance(statement, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in statement.targets):
            value = statement.value
    return value


# -- functions: what they do to the models they are given ---------------------------------------


def _function_facts(node: ast.FunctionDef | ast.AsyncFunctionDef) -> FunctionFacts:
    params = tuple(a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs))
    facts = FunctionFacts(node.name, params, builds=_builds(node.body))
    decorated_no_grad = any(_is_no_grad(d) for d in node.decorator_list)
    _ModeWalker(facts, set(params), decorated_no_grad or is_inference_name(node.name)).run(node.body)
    for statement in node.body:
        if isinstance(statement, ast.Return) and isinstance(statement.value, ast.Name) and statement.value.id in params:
            facts.returns_param = statement.value.id
    return facts


def _is_no_grad(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    name = dotted(target)
    return name is not None and name.rpartition(".")[2] in _NO_GRAD


class _ModeWalker:
    """Source-order walk of a function body: mode switches of its parameters, and forward calls
    of a parameter under no_grad (or anywhere in an evaluate-like function) before any eval()."""

    def __init__(self, facts: FunctionFacts, watched: set[str], inference: bool) -> None:
        self.facts = facts
        self.watched = watched
        self.inference = inference

    def run(self, body: list[ast.stmt], no_grad: bool = False) -> None:
        for statement in body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(statement, (ast.With, ast.AsyncWith)):
                inner = no_grad or any(_is_no_grad(item.context_expr) for item in statement.items)
                for item in statement.items:
                    self._expression(item.context_expr, no_grad)
                self.run(statement.body, inner)
                continue
            for child in ast.iter_child_nodes(statement):
                if isinstance(child, ast.expr):
                    self._expression(child, no_grad)
            for block in ("body", "orelse", "finalbody"):
                inner_body = getattr(statement, block, None)
                if isinstance(inner_body, list) and inner_body and isinstance(inner_body[0], ast.stmt):
                    self.run(inner_body, no_grad)
            for handler in getattr(statement, "handlers", ()) or ():
                self.run(handler.body, no_grad)

    def _expression(self, node: ast.expr, no_grad: bool) -> None:
        calls = [n for n in _walk(node) if isinstance(n, ast.Call)]
        calls.sort(key=lambda c: (c.lineno, c.col_offset))
        for call in calls:
            self._call(call, no_grad)

    def _call(self, call: ast.Call, no_grad: bool) -> None:
        facts = self.facts
        func = call.func
        if isinstance(func, ast.Attribute):
            method = func.attr
            if method in ("backward", "step"):
                receiver = dotted(func.value) or ""
                if method == "backward" or "sched" not in receiver.lower():
                    facts.trains = True
            receiver = dotted(func.value)
            if receiver in self.watched:
                change = _mode_change(method, call)
                if change is not None:
                    facts.effect[receiver] = change
                return
        elif isinstance(func, ast.Name) and func.id in self.watched:
            if (no_grad or self.inference) and func.id not in facts.effect:
                facts.infers.add(func.id)
            return
        # A watched model handed to other code: its mode is no longer known.
        for arg in (*call.args, *(kw.value for kw in call.keywords)):
            name = dotted(arg) if isinstance(arg, (ast.Name, ast.Attribute)) else None
            if name in self.watched and name not in facts.effect and dotted(func) not in MODE_NEUTRAL_CALLS:
                facts.effect[name] = UNKNOWN


def _mode_change(method: str, call: ast.Call) -> str | None:
    if method == "eval" and not call.args:
        return EVAL
    if method == "train":
        if not call.args:
            return EXPLICIT_TRAIN
        value = call.args[0]
        if isinstance(value, ast.Constant) and value.value is False:
            return EVAL
        if isinstance(value, ast.Constant) and value.value is True:
            return EXPLICIT_TRAIN
        return UNKNOWN
    return None


_INFERENCE_NAMES = frozenset(
    {"evaluate", "eval", "validate", "validation", "val", "predict", "inference", "infer", "test", "run_inference"}
)
_INFERENCE_PREFIXES = ("evaluate_", "eval_", "validate_", "predict_", "infer_", "inference_")


def is_inference_name(name: str) -> bool:
    """A function whose name says it evaluates or predicts (`evaluate`, `validate_epoch`, ...)."""
    lowered = name.lower().lstrip("_")
    return lowered in _INFERENCE_NAMES or lowered.startswith(_INFERENCE_PREFIXES)
