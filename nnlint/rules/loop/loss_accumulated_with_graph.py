from __future__ import annotations

import libcst as cst

from nnlint import walker
from nnlint.flow import FunctionFlow
from nnlint.names import dotted_name
from nnlint.rule import Invalid, NodeFix, Rule
from nnlint.rules.loop._steps import (
    BACKWARD,
    Event,
    Item,
    Layout,
    TrainingSteps,
    common_loop,
    names_in,
    root,
    training_steps,
)

# Uses of a list accumulator that work the same with floats.
_LIST_METHODS = frozenset({"append", "extend", "insert", "pop", "clear", "copy", "index", "count", "__len__"})
# Callees that accept floats as well as tensors, so `.item()` changes nothing for them.
_FLOAT_FRIENDLY = frozenset(
    "print float int round str len format sum max min abs sorted log info debug warning write add_scalar "
    "add_scalars set_postfix set_description log_metrics log_dict update".split()
)
_PEELED = frozenset({"sum", "max", "min", "abs", "len", "float", "round"})


def _operands(node: cst.BaseExpression) -> list[tuple[cst.BaseExpression, str]]:
    """The variables a sum is made of: `loss`, `loss * x.size(0)` -> [loss]; calls (`loss.item()`)
    are not plain operands."""
    if isinstance(node, (cst.Name, cst.Attribute)):
        key = dotted_name(node)
        return [(node, key)] if key is not None else []
    if isinstance(node, cst.BinaryOperation):
        return _operands(node.left) + _operands(node.right)
    if isinstance(node, cst.UnaryOperation):
        return _operands(node.expression)
    return []


def _accumulation(node: cst.CSTNode) -> tuple[cst.BaseExpression, str, list[tuple[cst.BaseExpression, str]]] | None:
    """(accumulator, how it accumulates, operands) for `acc += x`, `acc = acc + x`, `acc.append(x)`."""
    if isinstance(node, cst.AugAssign) and isinstance(node.operator, cst.AddAssign):
        return node.target, "+=", _operands(node.value)
    if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.value, cst.BinaryOperation):
        target = dotted_name(node.targets[0].target)
        if target is not None and isinstance(node.value.operator, cst.Add):
            operands = _operands(node.value)
            if any(key == target for _, key in operands):
                return node.targets[0].target, "+=", [(n, k) for n, k in operands if k != target]
        return None
    if (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == "append"
        and len(node.args) == 1
        and node.args[0].keyword is None
        and not node.args[0].star
    ):
        return node.func.value, "append", _operands(node.args[0].value)
    return None


def _root_name(node: cst.BaseExpression) -> str | None:
    while isinstance(node, (cst.Attribute, cst.Subscript, cst.Call)):
        node = node.func if isinstance(node, cst.Call) else node.value
    return node.value if isinstance(node, cst.Name) else None


class LossAccumulatedWithGraph(Rule):
    code = "NN402"
    name = "loss-accumulated-with-graph"
    summary = "a back-propagated loss is summed or stored with its autograd graph"
    what = (
        "Flags `total += loss`, `total = total + loss` and `losses.append(loss)` (also "
        "`total += loss * batch_size`) inside a training loop -- or into an attribute of `self` in "
        "a train-step method, which outlives the call -- where `loss` is the tensor that "
        "loop back-propagates (`loss.backward()`, `accelerator.backward(loss)`, "
        "`scaler.scale(loss).backward()`, or a same-file helper that does it) and the "
        "accumulator itself is not back-propagated. Silent under `torch.no_grad()`, for "
        "`loss.item()` / `loss.detach()` / `float(loss)`, and when the accumulator is reset within "
        "the same iteration (it then holds a bounded number of graphs)."
    )
    why = (
        "`loss` carries the autograd graph of its iteration. Summing it into a running total (or "
        "keeping it in a list) keeps every iteration's graph -- and the activations it references "
        "-- alive, so memory grows with each step until the run fails with out-of-memory, usually "
        "hours in. A number for logging needs no graph."
    )
    use_instead = (
        "total_loss = 0.0\nfor x, y in loader:\n    optimizer.zero_grad()\n    loss = criterion(model(x), y)\n"
        "    loss.backward()\n    optimizer.step()\n    total_loss += loss.item()\n"
    )
    fix_safety = (
        "Safe: `loss.item()` (a Python float, what a running total means). Where the accumulator "
        "is later used as a tensor or leaves the function (`total.item()`, `torch.stack(losses)`, "
        "`return total`), the fix writes `loss.detach()` instead, which keeps it a tensor."
    )
    fix_availability = "safe"
    needs_flow = True
    VALID = [
        "def train(model, opt, loader):\n    total = 0.0\n    for x, y in loader:\n        opt.zero_grad()\n        loss = model(x, y)\n        loss.backward()\n        opt.step()\n        total += loss.item()\n    return total\n",
        "def train(model, opt, loader):\n    losses = []\n    for x, y in loader:\n        opt.zero_grad()\n        loss = model(x, y)\n        loss.backward()\n        opt.step()\n        losses.append(loss.detach())\n    return losses\n",
        # Accumulated under no_grad.
        "import torch\n\ndef train(model, opt, loader):\n    total = 0\n    for x, y in loader:\n        opt.zero_grad()\n        loss = model(x, y)\n        loss.backward()\n        opt.step()\n        with torch.no_grad():\n            total += loss\n    print(total)\n",
        # The accumulator is what gets back-propagated (multi-task or multi-crop losses).
        "def train(model, opt, loader, heads):\n    for x, y in loader:\n        opt.zero_grad()\n        loss = 0\n        for head in heads:\n            head_loss = head(model(x), y)\n            loss += head_loss\n        loss.backward()\n        opt.step()\n",
        "import torch\n\ndef train(model, opt, loader):\n    for x, y in loader:\n        losses = []\n        for crop in x:\n            losses.append(model(crop, y))\n        loss = torch.stack(losses).mean()\n        loss.backward()\n        opt.step()\n",
        # Not back-propagated here: a validation loss.
        "import torch\n\ndef validate(model, loader):\n    total = 0\n    for x, y in loader:\n        loss = model(x, y)\n        total += loss\n    return total\n",
        # Reset every few iterations: at most a few graphs are kept, and they do not pile up.
        "def train(model, opt, loader, log_every):\n    running = 0\n    for step, (x, y) in enumerate(loader):\n        opt.zero_grad()\n        loss = model(x, y)\n        running += loss\n        loss.backward()\n        opt.step()\n        if step % log_every == 0:\n            print(running.item() / log_every)\n            running = 0\n",
        # Reassigned to a number after the backward pass.
        "def train(model, opt, loader):\n    total = 0\n    for x, y in loader:\n        loss = model(x, y)\n        loss.backward()\n        opt.step()\n        loss = float(loss)\n        total += loss\n",
    ]
    INVALID = [
        Invalid(
            "def train(model, optimizer, loader):\n    running_loss = 0.0\n    for inputs, labels in loader:\n        optimizer.zero_grad()\n        loss = model(inputs, labels)\n        loss.backward()\n        optimizer.step()\n        running_loss += loss  # error\n    print(running_loss / len(loader))\n",
            fixed="def train(model, optimizer, loader):\n    running_loss = 0.0\n    for inputs, labels in loader:\n        optimizer.zero_grad()\n        loss = model(inputs, labels)\n        loss.backward()\n        optimizer.step()\n        running_loss += loss.item()  # error\n    print(running_loss / len(loader))\n",
        ),
        Invalid(
            "import numpy as np\n\ndef train(model, optimizer, criterion, loader):\n    epoch_losses = []\n    for batch_idx, (data, target) in enumerate(loader):\n        optimizer.zero_grad()\n        loss = criterion(model(data), target)\n        loss.backward()\n        optimizer.step()\n        epoch_losses.append(loss)  # error\n    print(np.mean(epoch_losses))\n",
            fixed="import numpy as np\n\ndef train(model, optimizer, criterion, loader):\n    epoch_losses = []\n    for batch_idx, (data, target) in enumerate(loader):\n        optimizer.zero_grad()\n        loss = criterion(model(data), target)\n        loss.backward()\n        optimizer.step()\n        epoch_losses.append(loss.item())  # error\n    print(np.mean(epoch_losses))\n",
        ),
        # Weighted by the batch size, in a trainer class with AMP.
        Invalid(
            "class Trainer:\n    def train_epoch(self, loader):\n        total = 0.0\n        for images, labels in loader:\n            self.optimizer.zero_grad()\n            loss = self.criterion(self.model(images), labels)\n            self.scaler.scale(loss).backward()\n            self.scaler.step(self.optimizer)\n            self.scaler.update()\n            total += loss * images.size(0)  # error\n        self.history.append(total)\n",
            fixed="class Trainer:\n    def train_epoch(self, loader):\n        total = 0.0\n        for images, labels in loader:\n            self.optimizer.zero_grad()\n            loss = self.criterion(self.model(images), labels)\n            self.scaler.scale(loss).backward()\n            self.scaler.step(self.optimizer)\n            self.scaler.update()\n            total += loss.detach() * images.size(0)  # error\n        self.history.append(total)\n",
        ),
        # Returned: the caller may use it as a tensor, so the fix keeps one.
        Invalid(
            "def train_epoch(model, optimizer, loader, accelerator):\n    total_loss = 0\n    for step, batch in enumerate(loader):\n        outputs = model(**batch)\n        loss = outputs.loss\n        accelerator.backward(loss)\n        optimizer.step()\n        optimizer.zero_grad()\n        total_loss = total_loss + loss  # error\n    return total_loss / len(loader)\n",
            fixed="def train_epoch(model, optimizer, loader, accelerator):\n    total_loss = 0\n    for step, batch in enumerate(loader):\n        outputs = model(**batch)\n        loss = outputs.loss\n        accelerator.backward(loss)\n        optimizer.step()\n        optimizer.zero_grad()\n        total_loss = total_loss + loss.detach()  # error\n    return total_loss / len(loader)\n",
        ),
        # Back-propagated by a same-file helper.
        "def backward_and_step(loss, optimizer):\n    optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()\n\ndef fit(model, optimizer, loader, log):\n    for x, y in loader:\n        loss = model(x, y)\n        backward_and_step(loss, optimizer)\n        log.append(loss)  # error\n",
    ]

    def leave_Module(self, node: cst.Module) -> None:
        steps = training_steps(self.ctx)
        for flow in self.ctx.flows:
            events = steps.events(flow)
            backwards = [e for e in events if e.kind == BACKWARD]
            if backwards:
                self._scan(steps, flow, backwards)

    def _scan(self, steps: TrainingSteps, flow: FunctionFlow, backwards: list[Event]) -> None:
        layout = steps.layout(flow)
        backpropagated_names = {root(n) for b in backwards for n in b.names}
        for item in layout.items:
            if item.no_grad:
                continue
            found = _accumulation(item.node)
            if found is None:
                continue
            accumulator, _, operands = found
            accumulator_root = _root_name(accumulator)
            if accumulator_root is None or accumulator_root in backpropagated_names:
                continue
            # Outside a loop only an attribute of `self` accumulates: it outlives the call, so the
            # method's callers are the loop (`self.running_loss += loss` in a train-step method).
            if not item.loops and accumulator_root != "self":
                continue
            accumulator_key = dotted_name(accumulator)
            # Plain assignments of the accumulator (`total = 0`), not accumulations.
            resets = [
                other
                for other, names, _ in layout.assigned
                if accumulator_key in names
                and other.node is not item.node
                and not isinstance(other.node, cst.AugAssign)
            ]
            for operand, key in operands:
                backward = self._backward_of(layout, item, key, backwards, resets)
                if backward is not None:
                    self._report(flow, item.node, accumulator, operand, key, backward)

    def _backward_of(
        self, layout: Layout, item: Item, key: str, backwards: list[Event], resets: list[Item]
    ) -> Event | None:
        """The backward pass of ``key`` in the same loop iteration (the same call, for an
        accumulator on `self` outside loops), with ``key`` computed there and not reassigned
        between the two. None when the accumulator is reset within that iteration (or call):
        then it holds at most one iteration's graphs, which do not pile up."""
        probe = Event("", item.node, item.path, item.loops, item.no_grad, (item.index, 0))
        for backward in backwards:
            if key not in backward.tensors:
                continue
            loop = common_loop(probe, backward)
            if loop is None and item.loops:
                continue
            if any(loop is None or loop in reset.loops for reset in resets):
                return None
            computed = any(
                (loop is None or loop in other.loops) and (key in names or root(key) in names)
                for other, names, _ in layout.assigned
            )
            low, high = sorted((item.index, backward.order[0]))
            reassigned = any(
                low < other.index < high and (key in names or root(key) in names) for other, names, _ in layout.assigned
            )
            if computed and not reassigned:
                return backward
        return None

    def _report(
        self,
        flow: FunctionFlow,
        statement: cst.CSTNode,
        accumulator: cst.BaseExpression,
        operand: cst.BaseExpression,
        key: str,
        backward: Event,
    ) -> None:
        code = self.ctx.module.code_for_node
        acc = code(accumulator)
        keeps_tensor = not backward.scalar or self._used_as_tensor(flow, accumulator)
        method = "detach" if keeps_tensor else "item"
        written = " ".join(code(statement).split())
        action = f"`{written}`" if len(written) <= 60 else f"this accumulation into `{acc}`"
        self.report(
            operand,
            f"{action} keeps the autograd graph of every step alive, because `{key}` is "
            f"back-propagated ({backward.described}) and `{acc}` is not: memory grows with each step; "
            f"accumulate `{key}.{method}()` instead",
            fix=NodeFix(f"accumulate `{key}.{method}()`", "safe", ((operand, f"{code(operand)}.{method}()"),)),
        )

    def _used_as_tensor(self, flow: FunctionFlow, accumulator: cst.BaseExpression) -> bool:
        """Whether the accumulator (or a value computed from it) is used in a way a float would
        break: a tensor method, a torch function, or leaving the function (returned, stored)."""
        key = dotted_name(accumulator) or self.ctx.module.code_for_node(accumulator)
        if key.startswith("self."):
            return True  # other methods may use it as a tensor
        watched = {key}
        found = False

        def peel(node: cst.BaseExpression) -> cst.BaseExpression:
            while True:
                if isinstance(node, cst.Subscript):
                    node = node.value
                elif (
                    isinstance(node, cst.Call)
                    and isinstance(node.func, cst.Name)
                    and node.func.value in _PEELED
                    and len(node.args) == 1
                ):
                    node = node.args[0].value
                else:
                    return node

        def mentions(node: cst.CSTNode) -> bool:
            return bool(names_in(node) & watched)

        def enter(node: cst.CSTNode) -> bool:
            nonlocal found
            if found:
                return False
            if isinstance(node, cst.Attribute) and node.attr.value not in _LIST_METHODS:
                if dotted_name(peel(node.value)) in watched:
                    found = True
                    return False
            elif isinstance(node, (cst.Return, cst.Yield)) and node.value is not None and mentions(node.value):
                found = True
            elif isinstance(node, cst.Assign) and mentions(node.value):
                targets = [dotted_name(t.target) for t in node.targets]
                if any(t is None or t.startswith("self.") for t in targets):
                    found = True  # stored somewhere that outlives the function
                watched.update(t for t in targets if t is not None)
            elif isinstance(node, cst.Call):
                name = self.ctx.qualified_name(node.func) or ""
                last = name.rpartition(".")[2] if name else (
                    node.func.attr.value if isinstance(node.func, cst.Attribute) else ""
                )
                appends = last == "append" and isinstance(node.func, cst.Attribute)
                if appends and any(mentions(a.value) for a in node.args):
                    assert isinstance(node.func, cst.Attribute)
                    owner = dotted_name(node.func.value)
                    if owner not in watched:
                        found = owner is None or owner.startswith("self.")
                elif last not in _FLOAT_FRIENDLY and not name.startswith(("numpy.", "math.", "np.")):
                    if any(mentions(arg.value) for arg in node.args):
                        found = True
            return True

        walker.walk(flow.node, enter)
        return found
