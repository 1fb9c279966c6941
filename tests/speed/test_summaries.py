"""Files that other files inherit from are summarised with ``ast`` (ten times faster than LibCST);
the summary must be exactly what the engine's LibCST facts give, or results would depend on which
files a process happened to lint first."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from nnlint.project import ClassHierarchy, needs_libcst_summary, summarise_source
from nnlint.semantic import collect_facts

CASES = {
    "imports": """
        import torch
        import torch.nn
        import torch.nn as nn
        from torch import nn as tnn, optim
        from torch.nn import *
        from __future__ import annotations
        """,
    "relative": """
        from . import layers
        from .layers import Mlp as M
        from ..base import Base
        from ... import far
        """,
    # The handler's import comes last in collect_facts' order, so it wins.
    "try_except_order": """
        try:
            from apex.normalization import FusedLayerNorm as LayerNorm
        except ImportError:
            from torch.nn import LayerNorm
        else:
            from other import LayerNorm
        finally:
            import gc
        """,
    "nested_imports_do_not_override_top_level": """
        import torch.nn as nn
        def f():
            import mypkg.nn as nn
            from x import only_here
        class A:
            from y import Z
        """,
    "one_line_suites_are_not_entered": """
        if TYPE_CHECKING: from typing import Foo
        try: import fast as impl
        except ImportError: import slow as impl
        class Q: import inside_suite
        def g(): import in_function_suite
        while x: import w
        """,
    "elif_else_for_while_with_match": """
        if a:
            import a1
        elif b:
            import b1
            class InElif(b1.Base):
                pass
        else:
            import c1
        for i in x:
            import f1
        else:
            import f2
        while y:
            import w1
        with ctx:
            class InWith(nn.Module):
                pass
        async def h():
            async with c:
                import aw
        match cmd:
            case 1:
                import m1
            case _:
                class InMatch(m1.Thing):
                    pass
        """,
    "classes": """
        import torch.nn as nn
        from .blocks import Block
        class A(nn.Module, metaclass=Meta):
            class Inner(nn.Linear):
                pass
        class B(A, *mixins, **kw):
            pass
        class C(Block, pkg.sub.Thing, object):
            pass
        class A(B):
            pass
        if cond:
            class D(A):
                pass
        def factory():
            class Local(nn.Module):
                pass
        class E(f(), x[0], Block.Nested):
            pass
        """,
    "class_before_import": """
        class Late(nn.Module):
            pass
        import torch.nn as nn
        """,
    "semicolons_and_continuations": """
        import a; import b as c
        from d import (e,
                       f as g)
        x = 1; from h import i
        if z:
            x = 2; import j
        """,
    "form_feed_and_cr_lines": "import a\n\x0cclass K(a.B):\n    pass\r\nif x:\r    import cr_block\r",
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize(("module", "is_package"), [("pkg.sub.mod", False), ("pkg.sub", True)])
def test_ast_summary_is_the_libcst_summary(name, module, is_package):
    source = CASES[name] if name == "form_feed_and_cr_lines" else textwrap.dedent(CASES[name]).lstrip("\n")
    expected = collect_facts(cst.parse_module(source), module, is_package).summary()
    assert summarise_source(source, module, is_package) == expected


def test_files_whose_identifiers_normalise_differently_go_to_libcst():
    # ast NFKC-normalises identifiers; LibCST keeps them as written.
    assert needs_libcst_summary("class Ｍodel(nn.Module):\n    pass\n")
    assert needs_libcst_summary("from x import cafe\u0301\n")  # combining accent
    assert summarise_source("class Ｍodel(nn.Module):\n    pass\n", "m", False) is None
    # Non-ASCII text that cannot be part of a name does not matter.
    assert not needs_libcst_summary("# 模型，输入：张量\nclass 模型(nn.Module):\n    '''¿qué? —'''\n")


def test_unparsable_sources_have_no_ast_summary():
    assert summarise_source("class (:\n", "m", False) is None


def _hierarchy(files: dict[str, str]) -> ClassHierarchy:
    def summarise(path, module, is_package):  # type: ignore[no-untyped-def]
        return summarise_source(files[module], module, is_package)

    return ClassHierarchy(summarise)


def test_the_hierarchy_records_the_modules_a_file_consulted(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "base.py").write_text("import torch.nn as nn\nclass Base(nn.Module):\n    pass\n")
    sources = {"pkg": "", "pkg.base": (tmp_path / "pkg" / "base.py").read_text()}
    hierarchy = _hierarchy(sources)
    hierarchy.add_root(tmp_path)
    hierarchy.begin_file("pkg.net", str(tmp_path / "pkg" / "net.py"))
    assert hierarchy.is_module_class("pkg.net.Net", ("pkg.base.Base",))
    assert not hierarchy.is_module_class("pkg.net.Other", ("pkg.missing.Thing",))
    assert hierarchy.consulted() == {"pkg": str(tmp_path / "pkg" / "__init__.py"), "pkg.base": str(tmp_path / "pkg" / "base.py"), "pkg.missing": None}
    # A verdict remembered from one file still counts as a dependency of the next one.
    hierarchy.begin_file("pkg.other", str(tmp_path / "pkg" / "other.py"))
    assert hierarchy.is_module_class("pkg.other.X", ("pkg.base.Base",))
    assert "pkg.base" in hierarchy.consulted()


def test_a_file_other_files_cannot_import_is_visible_to_itself_only(tmp_path):
    from nnlint.semantic import ModuleSummary

    hierarchy = _hierarchy({})
    hierarchy.add_root(tmp_path)
    # A notebook: its classes see each other, but `import nb` would not find it.
    hierarchy.begin_file("nb", str(tmp_path / "nb.ipynb"))
    hierarchy.add_summary(ModuleSummary("nb", {"nn": "torch.nn"}, {"A": ("torch.nn.Module",), "B": ("nb.A",)}))
    assert hierarchy.is_module_class("nb.B", ("nb.A",))
    hierarchy.begin_file("other", str(tmp_path / "other.py"))
    assert not hierarchy.is_module_class("other.C", ("nb.B",))  # neither remembered nor registered
