"""The pre-commit hooks, run for real: `pre-commit try-repo` installs this repository into a fresh
hook environment (as users' pre-commit would) and runs the hook on a git repository."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.ecosystem.helpers import BUGGY_MODEL, FIXED_MODEL, SEED_RULES

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
    pytest.mark.skipif(importlib.util.find_spec("pre_commit") is None, reason="pre-commit is not installed"),
]

# What the hook environment needs to build and run nnlint; nothing else is copied.
HOOK_REPO_FILES = ("nnlint", "pytest_nnlint", "pyproject.toml", "README.md", ".pre-commit-hooks.yaml")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "nnlint tests",
    "GIT_AUTHOR_EMAIL": "tests@nnlint.invalid",
    "GIT_COMMITTER_NAME": "nnlint tests",
    "GIT_COMMITTER_EMAIL": "tests@nnlint.invalid",
}


def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=cwd, check=True, capture_output=True, env={**os.environ, **GIT_IDENTITY}, timeout=60,
    )


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory) -> Path:
    """A committed copy of this working tree: try-repo clones HEAD, not uncommitted files."""
    repo = tmp_path_factory.mktemp("hook-repo")
    for name in HOOK_REPO_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, repo / name)
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "nnlint under test", cwd=repo)
    return repo


@pytest.fixture(scope="module")
def installed_hooks(hook_repo, tmp_path_factory) -> tuple[Path, Path]:
    """(config, PRE_COMMIT_HOME) for `pre-commit run` with both hooks of ``hook_repo``: its
    environment is installed once and shared by the tests that use it."""
    home = tmp_path_factory.mktemp("pre-commit-home")
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hook_repo, capture_output=True, text=True, check=True).stdout.strip()
    config = home / "pre-commit-config.yaml"
    config.write_text(
        yaml.safe_dump({"repos": [{"repo": str(hook_repo), "rev": rev, "hooks": [{"id": "nnlint"}, {"id": "nnlint-fix"}]}]})
    )
    return config, home


@pytest.fixture
def project(tmp_path: Path) -> Path:
    rules = ", ".join(f'"{code}"' for code in SEED_RULES.split(","))
    (tmp_path / "pyproject.toml").write_text(f"[tool.nnlint]\nselect = [{rules}]\n")
    (tmp_path / "model.py").write_text(BUGGY_MODEL)
    (tmp_path / "README.md").write_text("not Python: the hook never sees it\n")
    git("init", "-q", cwd=tmp_path)
    git("add", "-A", cwd=tmp_path)
    return tmp_path


def pre_commit(*args: str, cwd: Path, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_COLOR": "never"}
    if home is not None:
        env["PRE_COMMIT_HOME"] = str(home)
    env.pop("NNLINT_CACHE_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600
    )


def test_hook_definitions():
    hooks = {hook["id"]: hook for hook in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"nnlint", "nnlint-fix"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["types_or"] == ["python", "pyi", "jupyter"]
        assert hook["require_serial"] is True
    assert hooks["nnlint"]["entry"] == "nnlint --force-exclude"
    assert hooks["nnlint-fix"]["entry"] == "nnlint --force-exclude --fix --exit-non-zero-on-fix"


# Each `try-repo` installs a fresh hook environment (tens of seconds), so it is used once, for the
# failing run; the other tests share one environment installed through a config file.


def test_try_repo_fails_with_the_finding(hook_repo, project, tmp_path_factory):
    home = tmp_path_factory.mktemp("try-repo-home")
    failed = pre_commit("try-repo", str(hook_repo), "nnlint", "--all-files", cwd=project, home=home)
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert "nnlint" in output and "Failed" in output
    assert "model.py:7:9: NN101" in output and "model.py:8:9: NN103" in output


def test_nnlint_hook_passes_once_the_bug_is_fixed(installed_hooks, project):
    config, home = installed_hooks
    failed = pre_commit("run", "--config", str(config), "nnlint", "--all-files", cwd=project, home=home)
    assert failed.returncode == 1 and "model.py:7:9: NN101" in failed.stdout, failed.stdout + failed.stderr

    (project / "model.py").write_text(FIXED_MODEL)
    git("add", "-A", cwd=project)
    passed = pre_commit("run", "--config", str(config), "nnlint", "--all-files", cwd=project, home=home)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout

    # The hook environment has nnlint and its dependencies -- and no torch.
    site_packages = list(home.glob("repo*/py_env-*/lib/python*/site-packages"))
    assert site_packages, sorted(str(p) for p in home.rglob("*"))[:20]
    installed = {path.name.lower() for directory in site_packages for path in directory.iterdir()}
    assert {"nnlint", "libcst", "pluggy"} <= installed
    assert "torch" not in installed


def test_nnlint_fix_hook_fixes_and_fails_so_the_change_can_be_reviewed(installed_hooks, project):
    config, home = installed_hooks
    (project / "model.py").write_text(BUGGY_MODEL.replace("        self.scale = torch.ones(3)\n", ""))
    git("add", "-A", cwd=project)
    first = pre_commit("run", "--config", str(config), "nnlint-fix", "--all-files", cwd=project, home=home)
    assert first.returncode == 1, first.stdout + first.stderr  # files were modified by this hook
    assert "        super().__init__()\n" in (project / "model.py").read_text()

    git("add", "-A", cwd=project)
    second = pre_commit("run", "--config", str(config), "nnlint-fix", "--all-files", cwd=project, home=home)
    assert second.returncode == 0, second.stdout + second.stderr
