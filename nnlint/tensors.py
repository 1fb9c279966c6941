"""What a local variable holds at a given statement, as far as the file shows it.

Two questions, answered by one small forward analysis over a function's statements:

- is this expression known to be a tensor? (the result of a torch factory or torch function or
  of ``torch.autograd.Variable(...)``, a parameter annotated ``torch.Tensor``, a variable
  assigned from one, ``.detach()``/``.clone()`` results ...). Batch items unpacked in a ``for``
  loop, results of unknown calls and attributes of ``self`` are *not* known: rules stay silent
  on them.
- which activation produced a tensor (softmax, log_softmax, sigmoid, a linear layer), and which
  callables produce one (``nn.Softmax(dim=1)``, a ``nn.Sequential`` ending in one, a Module class
  of this file whose ``forward`` returns one) or compute a loss (``nn.CrossEntropyLoss()``).

The analysis walks statements in order and joins the two arms of a branch conservatively: a name
keeps its kind after an ``if`` only when both arms agree, and a loop body is analysed from the
join of the state before the loop and after its body. Module-level variables are visible in
functions that do not bind them; a module-level function's parameter takes the kind of model
that every call of it in the file passes (``train(model, ...)`` called from ``main``), unless the
function escapes (a callback, a decorator) so that callers may be missing. Expressions are only evaluated for the
statements it passes through, never walked as a whole, so it is cheap; rules run it lazily, for
the few functions where a candidate finding needs it, and share it per file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import libcst as cst

from nnlint import walker
from nnlint.classes import ProjectClasses
from nnlint.patterns import strip_chain

if TYPE_CHECKING:
    from nnlint.context import FileContext
    from nnlint.semantic import ClassInfo

Env = Mapping[str, str]  # variable -> kind, only for variables whose kind is known
Lookup = Callable[[str], "str | None"]
Scope = cst.FunctionDef | cst.Module

# -- kinds -----------------------------------------------------------------------------------

TENSOR = "tensor"
PROBS = "softmax"  # softmax probabilities
LOG_PROBS = "log_softmax"
SIGMOID = "sigmoid"
LOGITS = "logits"  # raw output of a linear layer
ACTIVATIONS = frozenset({PROBS, LOG_PROBS, SIGMOID, LOGITS})
# An unannotated parameter not re-bound yet: its kind is what the callers pass (see Evaluator.parameter).
UNBOUND_PARAMETER = "parameter"
RETURNS = "returns:"  # prefix: a callable (layer, model) whose output has the kind that follows
LOSS = "loss:"  # prefix: a loss module; the loss function's name follows
CROSS_ENTROPY, NLL, BCE_WITH_LOGITS = "cross_entropy", "nll_loss", "binary_cross_entropy_with_logits"

# -- what torch returns ----------------------------------------------------------------------

_TORCH_TENSOR_FUNCTIONS = (
    "tensor as_tensor asarray from_numpy frombuffer Tensor FloatTensor DoubleTensor HalfTensor "
    "BFloat16Tensor LongTensor IntTensor ShortTensor BoolTensor ByteTensor CharTensor "
    "zeros ones empty full rand randn randint randperm arange range linspace logspace eye "
    "zeros_like ones_like empty_like full_like rand_like randn_like randint_like normal bernoulli "
    "multinomial poisson empty_strided tril_indices triu_indices "
    "cat concat concatenate stack hstack vstack dstack column_stack where matmul mm bmm baddbmm "
    "addmm einsum outer cross tensordot kron exp exp2 log log2 log10 log1p expm1 sqrt rsqrt abs "
    "sign neg reciprocal sin cos tan tanh sigmoid relu clamp clip floor ceil round trunc pow "
    "square mean sum prod cumsum cumprod argmax argmin argsort softmax log_softmax logsumexp "
    "flatten reshape transpose permute movedim squeeze unsqueeze flip roll repeat_interleave "
    "gather scatter scatter_add index_select masked_select masked_fill narrow take diag diagonal "
    "diag_embed tril triu bucketize searchsorted lerp addcmul addcdiv erf erfinv logical_and "
    "logical_or logical_not logical_xor isnan isinf isfinite nan_to_num maximum minimum fmod "
    "remainder div mul add sub atan2 cdist cosine_similarity polar complex view_as_real "
    "view_as_complex clone detach real imag conj"
).split()
_FUNCTIONAL_TENSOR_FUNCTIONS = (
    "linear bilinear conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d relu "
    "relu6 gelu silu mish elu selu celu leaky_relu softplus softsign hardtanh hardswish "
    "hardsigmoid sigmoid tanh softmax log_softmax softmin glu dropout dropout1d dropout2d "
    "dropout3d alpha_dropout layer_norm group_norm batch_norm instance_norm rms_norm normalize pad "
    "interpolate upsample avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d "
    "adaptive_avg_pool3d embedding one_hot cross_entropy nll_loss mse_loss l1_loss smooth_l1_loss "
    "huber_loss binary_cross_entropy binary_cross_entropy_with_logits kl_div "
    "scaled_dot_product_attention pixel_shuffle pixel_unshuffle unfold fold grid_sample "
    "cosine_similarity pairwise_distance"
).split()
# The pre-0.4 wrapper: since torch 0.4 `Variable(t)` returns a plain tensor.
VARIABLE_CLASSES = frozenset({"torch.autograd.Variable", "torch.autograd.variable.Variable"})
TORCH_TENSOR_FUNCTIONS = frozenset(
    [f"torch.{name}" for name in _TORCH_TENSOR_FUNCTIONS]
    + [f"torch.nn.functional.{name}" for name in _FUNCTIONAL_TENSOR_FUNCTIONS]
) | VARIABLE_CLASSES
# Methods only tensors have: their result is a tensor whatever the receiver is.
TENSOR_ONLY_METHODS = frozenset(
    "detach clone unsqueeze masked_fill repeat_interleave expand_as type_as view_as new_zeros "
    "new_ones new_empty new_full new_tensor".split()
)
# Tensor methods whose result is a tensor again (not a tuple, a Python number or a list).
TENSOR_METHODS = TENSOR_ONLY_METHODS | frozenset(
    "to cuda cpu float double half bfloat16 long int short bool byte char contiguous view "
    "reshape squeeze permute transpose t flatten unflatten expand repeat flip roll narrow "
    "add sub mul div true_divide floor_divide pow neg abs exp log log1p sqrt rsqrt sigmoid tanh "
    "relu softmax log_softmax clamp clip round floor ceil sum mean prod std var norm cumsum "
    "argmax argmin matmul mm bmm masked_fill gather scatter index_select where eq ne lt le gt ge "
    "logical_not logical_and logical_or any all pin_memory requires_grad_ float_power".split()
)
# Attributes of a tensor that are tensors.
TENSOR_ATTRIBUTES = frozenset({"T", "mT", "H", "mH", "data", "grad", "real", "imag"})
TENSOR_TYPES = frozenset(
    f"torch.{name}"
    for name in "Tensor FloatTensor DoubleTensor HalfTensor LongTensor IntTensor BoolTensor ByteTensor".split()
) | VARIABLE_CLASSES
_OPTIONAL = frozenset({"typing.Optional", "Optional"})

# -- activations and losses ------------------------------------------------------------------

_F = "torch.nn.functional."
ACTIVATION_FUNCTIONS = {
    **dict.fromkeys((f"{_F}softmax", "torch.softmax", "torch.special.softmax"), PROBS),
    **dict.fromkeys((f"{_F}log_softmax", "torch.log_softmax", "torch.special.log_softmax"), LOG_PROBS),
    **dict.fromkeys((f"{_F}sigmoid", "torch.sigmoid", "torch.special.expit"), SIGMOID),
    f"{_F}linear": LOGITS,
}
ACTIVATION_METHODS = {"softmax": PROBS, "log_softmax": LOG_PROBS, "sigmoid": SIGMOID}
ACTIVATION_LAYERS = {
    "torch.nn.Softmax": PROBS,
    "torch.nn.LogSoftmax": LOG_PROBS,
    "torch.nn.Sigmoid": SIGMOID,
    "torch.nn.Linear": LOGITS,
    "torch.nn.LazyLinear": LOGITS,
}
LOSS_FUNCTIONS = {f"{_F}{name}": name for name in (CROSS_ENTROPY, NLL, BCE_WITH_LOGITS)}
LOSS_CLASSES = {
    "torch.nn.CrossEntropyLoss": CROSS_ENTROPY,
    "torch.nn.NLLLoss": NLL,
    "torch.nn.BCEWithLogitsLoss": BCE_WITH_LOGITS,
}
# Methods that keep what an activation's output means (shape, device and dtype changes).
_MEANING_PRESERVING_METHODS = frozenset(
    "view reshape permute transpose contiguous flatten squeeze unsqueeze float double half "
    "bfloat16 to cuda cpu".split()
)
# Module methods that return the module itself.
_MODULE_SELF_METHODS = frozenset("to cuda cpu float double half bfloat16 train eval requires_grad_".split())
_LOG_FUNCTIONS = frozenset({"torch.log"})


# -- the forward analysis ------------------------------------------------------------------------


def _join(a: Env, b: Env) -> Env:
    if a is b:
        return a
    return {name: kind for name, kind in a.items() if b.get(name) == kind}


def _suite_statements(suite: cst.BaseSuite) -> list[cst.CSTNode]:
    return list(suite.body)  # IndentedBlock: statements; SimpleStatementSuite: small statements


def target_names(target: cst.CSTNode) -> Iterable[str]:
    """The plain names an assignment target binds (``a``, ``a, (b, *c)``)."""
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from target_names(target.value)


def bound_names(statements: Iterable[cst.CSTNode], out: set[str]) -> set[str]:
    """Every name a block of statements binds (not descending into nested scopes)."""
    for stmt in statements:
        if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            bound_names(stmt.body, out)
        elif isinstance(stmt, cst.Assign):
            for target in stmt.targets:
                out.update(target_names(target.target))
        elif isinstance(stmt, (cst.AnnAssign, cst.AugAssign)):
            out.update(target_names(stmt.target))
        elif isinstance(stmt, (cst.Import, cst.ImportFrom)):
            if not isinstance(stmt.names, cst.ImportStar):
                for alias in stmt.names:
                    bound = alias.asname.name if alias.asname is not None else alias.name
                    while isinstance(bound, cst.Attribute):
                        bound = bound.value
                    if isinstance(bound, cst.Name):
                        out.add(bound.value)
        elif isinstance(stmt, (cst.Global, cst.Nonlocal, cst.Del)):
            for item in getattr(stmt, "names", ()):
                out.add(item.name.value)
            if isinstance(stmt, cst.Del):
                out.update(target_names(stmt.target))
        elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            out.add(stmt.name.value)
        else:
            if isinstance(stmt, cst.For):
                out.update(target_names(stmt.target))
            elif isinstance(stmt, cst.With):
                for item in stmt.items:
                    if item.asname is not None:
                        out.update(target_names(item.asname.name))
            elif isinstance(stmt, cst.ExceptHandler) and stmt.name is not None:
                out.update(target_names(stmt.name.name))
            for part in ("body", "orelse", "finalbody"):
                sub = getattr(stmt, part, None)
                if isinstance(sub, cst.BaseSuite):
                    bound_names(_suite_statements(sub), out)
                elif isinstance(sub, (cst.Else, cst.Finally, cst.If)):
                    bound_names([sub], out)
            for handler in getattr(stmt, "handlers", ()) or ():
                bound_names([handler], out)
            for case in getattr(stmt, "cases", ()) or ():
                bound_names(_suite_statements(case.body), out)
                out.update(n.value for n in walker.iter_nodes(case.pattern) if isinstance(n, cst.Name))
    return out


class Evaluator:
    """The kinds one analysis tracks. The base class knows nothing; subclasses answer."""

    def value(self, expr: cst.BaseExpression, lookup: Lookup) -> str | None:
        return None

    def annotated(self, annotation: cst.Annotation) -> str | None:
        """The kind a variable or parameter annotated like this holds, if the annotation says."""
        return None

    def parameter(self, function: cst.FunctionDef, name: str) -> str | None:
        """The kind of an unannotated parameter, when the file shows what every caller passes."""
        return None

    def augmented(self, kind: str | None) -> str | None:
        """The kind of ``x`` after ``x op= ...``."""
        return None

    def mutated(self, kind: str | None) -> str | None:
        """The kind of ``x`` after ``x[...] = ...`` or an in-place method call on ``x``."""
        return None


class Dataflow:
    """The kinds of local variables before every small statement of one function (or module)."""

    def __init__(self, scope: Scope, evaluator: Evaluator, fallback: Env | None = None) -> None:
        self.evaluator = evaluator
        self.scope = scope
        self.before: dict[cst.CSTNode, Env] = {}
        self._loops: list[tuple[list[Env], list[Env]]] = []  # states at `break` / `continue`
        body = scope.body if isinstance(scope, cst.Module) else _suite_statements(scope.body)
        self._local = bound_names(body, set())
        env: dict[str, str] = {}
        if isinstance(scope, cst.FunctionDef):
            params = scope.params
            for param in (*params.posonly_params, *params.params, *params.kwonly_params):
                self._local.add(param.name.value)
                # What callers pass is looked up only if the parameter's kind is ever needed.
                kind = evaluator.annotated(param.annotation) if param.annotation is not None else UNBOUND_PARAMETER
                if kind is not None:
                    env[param.name.value] = kind
            for star in (params.star_arg, params.star_kwarg):
                if isinstance(star, cst.Param):
                    self._local.add(star.name.value)
        self._fallback = {} if fallback is None else {k: v for k, v in fallback.items() if k not in self._local}
        self.final = self._run(body, env)

    # -- queries ---------------------------------------------------------------------------

    def env_before(self, small_statement: cst.CSTNode) -> Env | None:
        return self.before.get(small_statement)

    def lookup(self, env: Env) -> Lookup:
        fallback = self._fallback

        def find(name: str) -> str | None:
            kind = env.get(name)
            if kind == UNBOUND_PARAMETER:
                return self.evaluator.parameter(self.scope, name)  # type: ignore[arg-type]
            return kind if kind is not None else fallback.get(name)

        return find

    def kind_before(self, small_statement: cst.CSTNode, expr: cst.BaseExpression) -> str | None:
        env = self.before.get(small_statement)
        return None if env is None else self.evaluator.value(expr, self.lookup(env))

    # -- statements ------------------------------------------------------------------------

    def _run(self, statements: Iterable[cst.CSTNode], env: Env) -> Env:
        for stmt in statements:
            env = self._statement(stmt, env)
        return env

    def _block(self, node: cst.CSTNode | None, env: Env) -> Env:
        """Run an else/finally/elif part, or nothing."""
        if node is None:
            return env
        if isinstance(node, cst.If):
            return self._statement(node, env)
        return self._run(_suite_statements(node.body), env)  # type: ignore[attr-defined]

    def _statement(self, stmt: cst.CSTNode, env: Env) -> Env:
        if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            return self._run(stmt.body, env)
        if isinstance(stmt, cst.BaseSmallStatement):
            self.before[stmt] = env
            return self._small(stmt, env)
        if isinstance(stmt, cst.If):
            taken = self._run(_suite_statements(stmt.body), env)
            return _join(taken, self._block(stmt.orelse, env))
        if isinstance(stmt, (cst.For, cst.While)):
            killed = set(target_names(stmt.target)) if isinstance(stmt, cst.For) else set()
            entry = self._kill(env, killed)
            for _ in range(4):  # the lattice is shallow: a few passes reach the fixed point
                self._loops.append(([], []))
                end = self._run(_suite_statements(stmt.body), entry)
                breaks, continues = self._loops.pop()
                back = self._kill(end, killed)
                for state in continues:
                    back = _join(back, self._kill(state, killed))
                joined = _join(entry, back)
                if joined == entry:
                    break
                entry = joined
            out = self._block(stmt.orelse, entry)
            for state in breaks:
                out = _join(out, state)
            return out
        if isinstance(stmt, cst.With):
            killed = {n for item in stmt.items if item.asname is not None for n in target_names(item.asname.name)}
            return self._run(_suite_statements(stmt.body), self._kill(env, killed))
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            body = _suite_statements(stmt.body)
            done = self._run(body, env)
            # An exception may come from any statement of the body: forget what it binds.
            failed = self._kill(env, bound_names(body, set()))
            ends = [self._block(stmt.orelse, done)]
            for handler in stmt.handlers:
                killed = set(target_names(handler.name.name)) if handler.name is not None else set()
                ends.append(self._run(_suite_statements(handler.body), self._kill(failed, killed)))
            end = ends[0]
            for other in ends[1:]:
                end = _join(end, other)
            return self._block(stmt.finalbody, end)
        if isinstance(stmt, cst.Match):
            end = env
            for case in stmt.cases:
                captured = {n.value for n in walker.iter_nodes(case.pattern) if isinstance(n, cst.Name)}
                end = _join(end, self._run(_suite_statements(case.body), self._kill(env, captured)))
            return end
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            return self._kill(env, {stmt.name.value})
        return env

    def _small(self, stmt: cst.CSTNode, env: Env) -> Env:
        evaluator = self.evaluator
        if isinstance(stmt, cst.Assign):
            kind = evaluator.value(stmt.value, self.lookup(env))
            for target in stmt.targets:
                env = self._bind(target.target, kind, stmt.value, env)
            return env
        if isinstance(stmt, cst.AnnAssign):
            if stmt.value is None:
                return env
            kind = evaluator.annotated(stmt.annotation) or evaluator.value(stmt.value, self.lookup(env))
            return self._bind(stmt.target, kind, stmt.value, env)
        if isinstance(stmt, cst.AugAssign):
            target = stmt.target
            if isinstance(target, cst.Name):
                return self._set(env, target.value, evaluator.augmented(env.get(target.value)))
            return self._mutate(target, env)
        if isinstance(stmt, cst.Expr):
            call = stmt.value
            if (
                isinstance(call, cst.Call)
                and isinstance(call.func, cst.Attribute)
                and call.func.attr.value.endswith("_")
                and isinstance(call.func.value, cst.Name)
            ):
                name = call.func.value.value
                return self._set(env, name, evaluator.mutated(env.get(name)))
            return env
        if isinstance(stmt, (cst.Break, cst.Continue)) and self._loops:
            self._loops[-1][0 if isinstance(stmt, cst.Break) else 1].append(env)
            return env
        if isinstance(stmt, (cst.Del, cst.Global, cst.Nonlocal, cst.Import, cst.ImportFrom)):
            return self._kill(env, bound_names([stmt], set()))
        return env

    def _bind(self, target: cst.BaseExpression, kind: str | None, value: cst.BaseExpression, env: Env) -> Env:
        if isinstance(target, cst.Name):
            return self._set(env, target.value, kind)
        if isinstance(target, (cst.Tuple, cst.List)):
            values = value.elements if isinstance(value, (cst.Tuple, cst.List)) else None
            pairwise = (
                values is not None
                and len(values) == len(target.elements)
                and not any(isinstance(e, cst.StarredElement) for e in (*values, *target.elements))
            )
            for index, element in enumerate(target.elements):
                if pairwise:
                    item = values[index].value  # type: ignore[index]
                    env = self._bind(element.value, self.evaluator.value(item, self.lookup(env)), item, env)
                else:
                    env = self._kill(env, set(target_names(element.value)))
            return env
        if isinstance(target, cst.Subscript):
            return self._mutate(target, env)
        return self._kill(env, set(target_names(target)))

    def _mutate(self, target: cst.BaseExpression, env: Env) -> Env:
        """``x[...] = ...`` / ``x[...] += ...`` changes what ``x`` holds."""
        base = target
        while isinstance(base, cst.Subscript):
            base = base.value
        if isinstance(base, cst.Name) and base is not target:
            return self._set(env, base.value, self.evaluator.mutated(env.get(base.value)))
        return env

    @staticmethod
    def _set(env: Env, name: str, kind: str | None) -> Env:
        if env.get(name) == kind:
            return env
        new = dict(env)
        if kind is None:
            new.pop(name, None)
        else:
            new[name] = kind
        return new

    @staticmethod
    def _kill(env: Env, names: set[str]) -> Env:
        if not names or not any(name in env for name in names):
            return env
        return {name: kind for name, kind in env.items() if name not in names}


def small_statement_of(line: cst.CSTNode, node: cst.CSTNode) -> cst.CSTNode | None:
    """The small statement of ``line`` (a SimpleStatementLine/Suite) that contains ``node``."""
    body = getattr(line, "body", ())
    if len(body) == 1:
        return body[0]
    for small in body:
        if any(inner is node for inner in walker.iter_nodes(small)):
            return small
    return None


class FileDataflows:
    """Per-file cache of analyses, one per function (and one for module-level code)."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self._flows: dict[cst.CSTNode, Dataflow] = {}
        self._module: Dataflow | None = None

    def evaluator(self, owner: ClassInfo | None) -> Evaluator:
        raise NotImplementedError

    def module_flow(self) -> Dataflow:
        if self._module is None:
            self._module = Dataflow(self.ctx.module, self.evaluator(None))
        return self._module

    def flow(self, scope: Scope | None, owner: ClassInfo | None = None) -> Dataflow:
        """The analysis of ``scope`` (None: module level). Module-level variables are visible in
        functions that do not bind the same names."""
        if scope is None or isinstance(scope, cst.Module):
            return self.module_flow()
        flow = self._flows.get(scope)
        if flow is None:
            flow = self._flows[scope] = Dataflow(scope, self.evaluator(owner), self.module_flow().final)
        return flow

    def here(self) -> tuple[Dataflow, cst.CSTNode] | None:
        """The analysis of the scope the engine's walk is in, and the current statement line;
        None in a class body, a lambda, or outside statements."""
        ctx = self.ctx
        if not ctx.statements:
            return None
        scopes = ctx.scopes
        if scopes and not isinstance(scopes[-1], cst.FunctionDef):
            return None
        function = scopes[-1] if scopes else None
        return self.flow(function, ctx.method_class if function is not None else None), ctx.statements[-1]


# -- tensors ---------------------------------------------------------------------------------


class TensorEvaluator(Evaluator):
    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx

    def value(self, expr: cst.BaseExpression, lookup: Lookup) -> str | None:
        return TENSOR if self.is_tensor(expr, lookup) else None

    def is_tensor(self, expr: cst.BaseExpression, lookup: Lookup) -> bool:
        if isinstance(expr, cst.Name):
            return lookup(expr.value) == TENSOR
        if isinstance(expr, cst.Call):
            func = expr.func
            if isinstance(func, (cst.Name, cst.Attribute)) and self.ctx.qualified_name(func) in TORCH_TENSOR_FUNCTIONS:
                return True
            if isinstance(func, cst.Attribute):
                method = func.attr.value
                if method in TENSOR_ONLY_METHODS:
                    return True
                return method in TENSOR_METHODS and self.is_tensor(func.value, lookup)
            return False
        if isinstance(expr, cst.Attribute):
            return expr.attr.value in TENSOR_ATTRIBUTES and self.is_tensor(expr.value, lookup)
        if isinstance(expr, cst.Subscript):
            return self.is_tensor(expr.value, lookup)
        if isinstance(expr, cst.BinaryOperation):
            return self.is_tensor(expr.left, lookup) or self.is_tensor(expr.right, lookup)
        if isinstance(expr, cst.UnaryOperation):
            return not isinstance(expr.operator, cst.Not) and self.is_tensor(expr.expression, lookup)
        if isinstance(expr, cst.IfExp):
            return self.is_tensor(expr.body, lookup) and self.is_tensor(expr.orelse, lookup)
        return False

    def annotated(self, annotation: cst.Annotation) -> str | None:
        return TENSOR if self._tensor_type(annotation.annotation) else None

    def _tensor_type(self, node: cst.BaseExpression) -> bool:
        """``torch.Tensor``, ``Tensor``, ``"torch.Tensor"``, ``Optional[Tensor]``, ``Tensor | None``.
        An optional tensor counts: a method called on it means it is not None there."""
        if isinstance(node, cst.SimpleString):
            text = node.evaluated_value
            if not isinstance(text, str):
                return False
            try:
                return self._tensor_type(cst.parse_expression(text))
            except cst.ParserSyntaxError:
                return False
        if isinstance(node, (cst.Name, cst.Attribute)):
            return self.ctx.qualified_name(node) in TENSOR_TYPES
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
            sides = (node.left, node.right)
            return any(self._tensor_type(s) for s in sides) and all(self._tensor_type(s) or _is_none(s) for s in sides)
        if isinstance(node, cst.Subscript) and self.ctx.qualified_name(node.value) in _OPTIONAL:
            element = node.slice[0].slice if len(node.slice) == 1 else None
            return isinstance(element, cst.Index) and self._tensor_type(element.value)
        return False

    def augmented(self, kind: str | None) -> str | None:
        return kind if kind == TENSOR else None  # `x += y` on a tensor leaves a tensor

    def mutated(self, kind: str | None) -> str | None:
        return kind if kind == TENSOR else None


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


class TensorDataflows(FileDataflows):
    def evaluator(self, owner: ClassInfo | None) -> Evaluator:
        return TensorEvaluator(self.ctx)

    def is_tensor_before(self, small_statement: cst.CSTNode, expr: cst.BaseExpression) -> bool:
        here = self.here()
        return here is not None and here[0].kind_before(small_statement, expr) == TENSOR


# -- activations -------------------------------------------------------------------------------


class ActivationEvaluator(Evaluator):
    """Kinds: an activation's output (PROBS, LOG_PROBS, SIGMOID, LOGITS), a callable producing
    one (RETURNS + kind), or a loss module (LOSS + loss function name)."""

    def __init__(self, dataflows: ActivationDataflows, owner: ClassInfo | None) -> None:
        self.dataflows = dataflows
        self.ctx = dataflows.ctx
        self.owner = owner

    def value(self, expr: cst.BaseExpression, lookup: Lookup) -> str | None:
        if isinstance(expr, cst.Name):
            if expr.value == "self" and self.owner is not None and self.ctx.is_module_class(self.owner):
                kind = self.dataflows.forward_kind(self.owner)
                return RETURNS + kind if kind is not None else None
            return lookup(expr.value)
        if isinstance(expr, cst.Attribute):
            if isinstance(expr.value, cst.Name) and expr.value.value == "self" and self.owner is not None:
                return self.dataflows.attribute_kind(self.owner, expr.attr.value)
            return None
        if isinstance(expr, cst.Subscript):
            kind = self.value(expr.value, lookup)
            return kind if kind in ACTIVATIONS else None
        if isinstance(expr, cst.Call):
            return self._call(expr, lookup)
        return None

    def _call(self, call: cst.Call, lookup: Lookup) -> str | None:
        func = call.func
        name = self.ctx.qualified_name(func) if isinstance(func, (cst.Name, cst.Attribute)) else None
        if name is not None:
            if name in ACTIVATION_FUNCTIONS:
                return ACTIVATION_FUNCTIONS[name]
            if name in _LOG_FUNCTIONS:
                first = first_argument(call)
                return LOG_PROBS if first is not None and self.value(first, lookup) == PROBS else None
            if name in ACTIVATION_LAYERS:
                return RETURNS + ACTIVATION_LAYERS[name]
            if name in LOSS_CLASSES:
                return LOSS + LOSS_CLASSES[name]
            if name == "torch.nn.Sequential":
                return self._sequential(call, lookup)
            info = self.ctx.facts.top_level_classes.get(name.rpartition(".")[2])
            if info is not None and info.qualname == name and self.ctx.is_module_class(info):
                kind = self.dataflows.forward_kind(info)
                return RETURNS + kind if kind is not None else None
            if info is None and name[:1] != "." and self.ctx.is_module_class_name(name):
                # A model class of another project file: its summary says what forward ends in.
                kind = self.ctx.shared(ProjectClasses).forward_activation(name)
                return RETURNS + kind if kind is not None else None
        callee = self.value(func, lookup)
        if callee is not None and callee.startswith(RETURNS):
            return callee[len(RETURNS) :]
        if isinstance(func, cst.Attribute):
            if _is_self(func.value) or self._is_import(func.value):
                return None  # a method or attribute of the class, or a function of another library
            method = func.attr.value
            if method in ACTIVATION_METHODS:
                return ACTIVATION_METHODS[method]
            receiver = self.value(func.value, lookup)
            if receiver is None:
                return None
            if method == "log" and receiver == PROBS:
                return LOG_PROBS
            if receiver in ACTIVATIONS and method in _MEANING_PRESERVING_METHODS:
                return receiver
            if receiver.startswith(RETURNS) and method in _MODULE_SELF_METHODS:
                return receiver
        return None

    def parameter(self, function: cst.FunctionDef, name: str) -> str | None:
        if self.owner is not None:
            return None
        kind = self.dataflows.parameter_kinds(function).get(name)
        # Only models and layers: a loss helper given softmax output is reported at the call.
        return kind if kind is not None and kind.startswith(RETURNS) else None

    def _is_import(self, node: cst.BaseExpression) -> bool:
        while isinstance(node, cst.Attribute):
            node = node.value
        return isinstance(node, cst.Name) and node.value in self.ctx.facts.aliases

    def _sequential(self, call: cst.Call, lookup: Lookup) -> str | None:
        if not call.args or call.args[-1].star or call.args[-1].keyword is not None:
            return None
        last = self.value(call.args[-1].value, lookup)
        return last if last is not None and last.startswith(RETURNS) else None


def _last_part(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    return node.attr.value if isinstance(node, cst.Attribute) else None


def _is_self(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "self"


def first_argument(call: cst.Call, keyword: str = "input") -> cst.BaseExpression | None:
    """The first positional argument of ``call``, or its ``input=`` keyword."""
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is None:
            return arg.value
        if arg.keyword.value == keyword:
            return arg.value
    return None


def _rebinds_locally(statement: cst.CSTNode, expr: cst.BaseExpression) -> bool:
    """Whether a name used in ``expr`` is bound by a comprehension or lambda of ``statement``."""
    used = {n.value for n in walker.iter_nodes(expr) if isinstance(n, cst.Name)}
    for node in walker.iter_nodes(statement):
        if isinstance(node, cst.CompFor) and used & set(target_names(node.target)):
            return True
        if isinstance(node, cst.Lambda) and used & {p.name.value for p in node.params.params}:
            return True
    return False


# A call of a module-level function: the call, its function (None: module level), that
# function's class when it is a method, and the small statement holding the call.
_CallSite = tuple[cst.Call, "cst.FunctionDef | None", "ClassInfo | None", "cst.CSTNode | None"]


def _bind_arguments(call: cst.Call, params: list[str]) -> dict[str, cst.BaseExpression] | None:
    """Parameter name -> argument expression for a call, or None when ``*args``/``**kwargs``
    make the binding unknowable."""
    bound: dict[str, cst.BaseExpression] = {}
    position = 0
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is not None:
            bound[arg.keyword.value] = arg.value
        elif position < len(params):
            bound[params[position]] = arg.value
            position += 1
        else:
            return None  # more positional arguments than parameters: a *args function
    return bound


class ActivationDataflows(FileDataflows):
    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        self._forward: dict[str, str | None] = {}
        self._attributes: dict[str, dict[str, str | None]] = {}
        self._parameters: dict[cst.FunctionDef, dict[str, str]] = {}
        self._sites: dict[str, list[_CallSite]] | None = None
        self._holders: set[str] | None = None
        self._loss_inputs: dict[cst.Call, tuple[str, cst.BaseExpression] | None] = {}

    def evaluator(self, owner: ClassInfo | None) -> Evaluator:
        return ActivationEvaluator(self, owner)

    def parameter_kinds(self, function: cst.FunctionDef) -> dict[str, str]:
        """For a module-level function that is only ever called directly in this file: the
        kinds of its parameters that every call agrees on (`train(model, ...)` called with
        `model = Net()` from `main`)."""
        if function in self._parameters:
            return self._parameters[function]
        self._parameters[function] = {}  # recursion: unknown while being computed
        found: dict[str, str] = {}
        sites = self._call_sites().get(function.name.value)
        if sites and not function.decorators and self.ctx.facts.functions.get(function.name.value) is function:
            params = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
            kinds: dict[str, set[str | None]] = {}
            for call, scope, owner, small in sites:
                passed = _bind_arguments(call, params)
                if passed is None or small is None:
                    kinds.clear()
                    break
                flow = self.flow(scope, owner)
                for param in params + [p.name.value for p in function.params.kwonly_params]:
                    expr = passed.get(param)
                    kinds.setdefault(param, set()).add(
                        flow.kind_before(small, expr) if expr is not None else None
                    )
            found = {p: next(iter(k)) for p, k in kinds.items() if len(k) == 1 and None not in k}  # type: ignore[misc]
        self._parameters[function] = found
        return found

    def _call_sites(self) -> dict[str, list[_CallSite]]:
        """Calls of module-level functions by name, with the scope and statement they are in.
        A function whose name is used other than by calling it (passed as a callback, stored)
        gets no entry: its callers are not all visible."""
        if self._sites is not None:
            return self._sites
        functions = self.ctx.facts.functions
        sites: dict[str, list[_CallSite]] = {}
        escaped: set[str] = set()
        called: set[cst.Name] = set()
        labels: set[cst.Name] = set()
        scopes: list[tuple[cst.CSTNode, ClassInfo | None]] = []
        small: list[cst.CSTNode | None] = [None]

        def enter(node: cst.CSTNode) -> bool:
            if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                owner = None
                if isinstance(node, cst.FunctionDef) and scopes and isinstance(scopes[-1][0], cst.ClassDef):
                    owner = self.ctx.facts.class_of_node.get(scopes[-1][0])  # type: ignore[arg-type]
                scopes.append((node, owner))
                small.append(None)
            elif isinstance(node, cst.BaseSmallStatement):
                small[-1] = node
            elif isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in functions:
                called.add(node.func)
                scope, owner = scopes[-1] if scopes else (None, None)
                if scope is None or isinstance(scope, cst.FunctionDef):
                    sites.setdefault(node.func.value, []).append((node, scope, owner, small[-1]))  # type: ignore[arg-type]
                else:
                    escaped.add(node.func.value)  # in a lambda or class body: not analysed
            elif isinstance(node, cst.Name) and node.value in functions and node not in called and node not in labels:
                escaped.add(node.value)
            elif isinstance(node, (cst.Import, cst.ImportFrom)):
                return False
            # Names that label something rather than refer to a variable.
            if isinstance(node, cst.Attribute):
                labels.add(node.attr)
            elif isinstance(node, cst.Arg) and node.keyword is not None:
                labels.add(node.keyword)
            elif isinstance(node, cst.Param):
                labels.add(node.name)
            return True

        def leave(node: cst.CSTNode) -> None:
            scopes.pop()
            small.pop()

        for statement in self.ctx.module.body:
            if isinstance(statement, cst.FunctionDef):
                # The definition's own name is not a use; walk its parts.
                for part in statement.decorators:
                    walker.walk(part, enter, leave, frozenset({cst.FunctionDef, cst.ClassDef, cst.Lambda}))
                scopes.append((statement, None))
                small.append(None)
                for part in (statement.params, statement.body):
                    walker.walk(part, enter, leave, frozenset({cst.FunctionDef, cst.ClassDef, cst.Lambda}))
                scopes.pop()
                small.pop()
                continue
            walker.walk(statement, enter, leave, frozenset({cst.FunctionDef, cst.ClassDef, cst.Lambda}))
        self._sites = {name: found for name, found in sites.items() if name not in escaped}
        return self._sites

    def kind_of(self, call: cst.CSTNode, expr: cst.BaseExpression) -> str | None:
        """The kind of ``expr``, found inside ``call``, at the engine's current position."""
        here = self.here()
        if here is None:
            return None
        flow, line = here
        small = small_statement_of(line, call)
        if small is None:
            return None
        kind = flow.kind_before(small, expr)
        if kind is not None and _rebinds_locally(small, expr):
            return None  # a comprehension or lambda variable, not the function's
        return kind

    def loss_input(self, call: cst.Call) -> tuple[str, cst.BaseExpression] | None:
        """(loss function name, the expression given as its input) for a call of
        `F.cross_entropy` / `F.nll_loss` / `F.binary_cross_entropy_with_logits` or of an instance
        of the matching loss module, at the engine's current position (the loss rules all ask
        about every call, hence the memo)."""
        if call not in self._loss_inputs:
            self._loss_inputs[call] = self._loss_input(call)
        return self._loss_inputs[call]

    def _loss_input(self, call: cst.Call) -> tuple[str, cst.BaseExpression] | None:
        func = call.func
        name = self.ctx.qualified_name(func) if isinstance(func, (cst.Name, cst.Attribute)) else None
        loss = LOSS_FUNCTIONS.get(name) if name is not None else None
        if loss is None:
            if isinstance(func, cst.Name):
                holder = func.value
            elif isinstance(func, cst.Attribute) and _is_self(func.value):
                holder = func.attr.value
            elif isinstance(func, cst.Call):
                holder = None
            else:
                return None
            if holder is not None and holder not in self._loss_holders():
                return None  # cheap: nothing of that name is ever given a loss module
            kind = self.kind_of(call, func)
            if kind is None or not kind.startswith(LOSS):
                return None
            loss = kind[len(LOSS) :]
        given = first_argument(call)
        return (loss, given) if given is not None else None

    def _loss_holders(self) -> set[str]:
        """Names (last part: `criterion`, `loss_fct` of `self.loss_fct`) that some assignment in
        the file gives a loss module, directly or from another such name."""
        if self._holders is not None:
            return self._holders
        assignments: list[tuple[list[cst.BaseExpression], cst.BaseExpression]] = []
        for node in _assignments(self.ctx.module):
            if isinstance(node, cst.Assign):
                assignments.append(([t.target for t in node.targets], node.value))
            elif isinstance(node, cst.AnnAssign) and node.value is not None:
                assignments.append(([node.target], node.value))
        holders: set[str] = set()
        for _ in range(2):  # a second pass catches `crit = criterion`
            for targets, value in assignments:
                base, _ = strip_chain(value, _MODULE_SELF_METHODS)
                if isinstance(base, cst.Call):
                    is_loss = self.ctx.qualified_name(base.func) in LOSS_CLASSES
                else:
                    is_loss = _last_part(base) in holders
                if is_loss:
                    holders.update(n for n in map(_last_part, targets) if n is not None)
        self._holders = holders
        return holders

    def forward_kind(self, info: ClassInfo) -> str | None:
        """The activation kind every `return` of the class's `forward` agrees on."""
        if info.qualname in self._forward:
            return self._forward[info.qualname]
        self._forward[info.qualname] = None  # a class whose forward calls itself stays unknown
        owner, forward = self._find_method(info, "forward")
        kind = None
        if forward is not None and owner is not None:
            flow = self.flow(forward, owner)
            kinds: set[str | None] = set()

            def enter(node: cst.CSTNode) -> bool:
                if isinstance(node, cst.Return):
                    kinds.add(flow.kind_before(node, node.value) if node.value is not None else None)
                # Returns of nested functions are not forward's; expressions hold no returns.
                return not isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.BaseExpression))

            walker.walk(forward.body, enter)
            if len(kinds) == 1:
                (kind,) = kinds
                kind = kind if kind in ACTIVATIONS else None
        self._forward[info.qualname] = kind
        return kind

    def _find_method(self, info: ClassInfo, name: str) -> tuple[ClassInfo | None, cst.FunctionDef | None]:
        seen = set()
        current: ClassInfo | None = info
        while current is not None and current.qualname not in seen:
            seen.add(current.qualname)
            if name in current.methods:
                return current, current.methods[name]
            bases = [self._local_class(b) for b in current.bases]
            current = bases[0] if len(bases) == 1 else None  # one known parent only
        return None, None

    def _local_class(self, qualname: str) -> ClassInfo | None:
        info = self.ctx.facts.top_level_classes.get(qualname.rpartition(".")[2])
        return info if info is not None and info.qualname == qualname else None

    def attribute_kind(self, owner: ClassInfo, attr: str) -> str | None:
        """The kind of ``self.<attr>`` when every assignment to it, in the class and the classes of
        this file related to it, agrees."""
        table = self._attributes.get(owner.qualname)
        if table is None:
            self._attributes[owner.qualname] = {}  # `self.a = self.b` while the table is built
            table = self._attributes[owner.qualname] = self._attribute_table(owner)
        return table.get(attr)

    def _related(self, owner: ClassInfo) -> list[ClassInfo]:
        classes = self.ctx.facts.top_level_classes.values()
        ancestors: dict[str, ClassInfo] = {}
        pending = [owner]
        while pending:
            info = pending.pop()
            if info.qualname in ancestors:
                continue
            ancestors[info.qualname] = info
            pending.extend(c for c in (self._local_class(b) for b in info.bases) if c is not None)
        related = dict(ancestors)
        for info in classes:
            if info.qualname not in related and self._derives_from(info, owner.qualname):
                related[info.qualname] = info
        return list(related.values())

    def _derives_from(self, info: ClassInfo, qualname: str, depth: int = 0) -> bool:
        if depth > 20:
            return False
        for base in info.bases:
            if base == qualname:
                return True
            parent = self._local_class(base)
            if parent is not None and self._derives_from(parent, qualname, depth + 1):
                return True
        return False

    def _attribute_table(self, owner: ClassInfo) -> dict[str, str | None]:
        table: dict[str, str | None] = {}
        nothing: Lookup = lambda name: None  # noqa: E731
        for info in self._related(owner):
            evaluator = ActivationEvaluator(self, info)
            for method in info.methods.values():
                for node in _assignments(method.body):
                    if isinstance(node, cst.Assign):
                        targets = [t.target for t in node.targets]
                    elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
                        targets = [node.target]
                    else:
                        continue
                    for target in targets:
                        for element in _flatten_targets(target):
                            if not (
                                isinstance(element, cst.Attribute)
                                and isinstance(element.value, cst.Name)
                                and element.value.value == "self"
                            ):
                                continue
                            attr = element.attr.value
                            single = element is target and isinstance(node, (cst.Assign, cst.AnnAssign))
                            kind = evaluator.value(node.value, nothing) if single and node.value is not None else None
                            if attr in table and table[attr] != kind:
                                kind = None
                            table[attr] = kind
        return table


def _assignments(root: cst.CSTNode) -> list[cst.CSTNode]:
    """The assignment statements under ``root``, in nested blocks and functions too (expressions
    are not entered: assignments there are walrus targets, not attributes)."""
    found: list[cst.CSTNode] = []

    def enter(node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
            found.append(node)
        return not isinstance(node, (cst.BaseExpression, cst.BaseSmallStatement))

    walker.walk(root, enter)
    return found


def _flatten_targets(target: cst.BaseExpression) -> Iterable[cst.BaseExpression]:
    if isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _flatten_targets(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _flatten_targets(target.value)
    else:
        yield target


# -- shared per file -------------------------------------------------------------------------------

def tensor_dataflows(ctx: FileContext) -> TensorDataflows:
    return ctx.shared(TensorDataflows)


def activation_dataflows(ctx: FileContext) -> ActivationDataflows:
    return ctx.shared(ActivationDataflows)
