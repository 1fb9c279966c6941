"""The cheap rule-pack check answers "maybe" wherever importlib.metadata would find a pack."""

from __future__ import annotations

import importlib.metadata
import sys
import zipfile
from pathlib import Path

import pytest

from nnlint.distributions import may_declare_entry_points


def _dist(site: Path, directory: str, entry_points: str | None) -> None:
    info = site / directory
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: some-dist\nVersion: 1.0\n")
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points)


def _declared_by_importlib(group: str) -> bool:
    return bool(importlib.metadata.entry_points(group=group))


# layout -> (metadata directories and their entry_points.txt, whether a pack is installed)
LAYOUTS = {
    "no metadata": ([], False),
    "other groups only": ([("tool-1.0.dist-info", "[console_scripts]\nnnlint-helper = tool:main\n")], False),
    "no entry points file": ([("bare-1.0.dist-info", None)], False),
    "similar group names": ([("tool-1.0.dist-info", "[nnlint.extra]\na = b\n[my-nnlint]\nc = d\n")], False),
    "a pack": ([("pack-1.0.dist-info", "[console_scripts]\nx = y\n\n[nnlint]\npack = pack\n")], True),
    "a pack, indented header": ([("pack-1.0.dist-info", "  [nnlint]  \npack = pack\n")], True),
    "an egg-info pack": ([("pack-1.0.egg-info", "[nnlint]\npack = pack\n")], True),
    "an egg directory": ([("pack-1.0.egg/EGG-INFO", "[nnlint]\npack = pack\n")], True),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_cheap_check_agrees_with_importlib_metadata(tmp_path, monkeypatch, layout):
    site = tmp_path / "site"
    site.mkdir()
    directories, installed = LAYOUTS[layout]
    for directory, entry_points in directories:
        _dist(site, directory, entry_points)
    entries = [str(site)] + ([str(site / "pack-1.0.egg")] if (site / "pack-1.0.egg").exists() else [])
    monkeypatch.setattr(sys, "path", entries)
    importlib.invalidate_caches()
    assert _declared_by_importlib("nnlint") is installed  # the layout means what it says
    assert may_declare_entry_points("nnlint") is installed


def test_a_zip_archive_on_the_path_counts_as_maybe(tmp_path, monkeypatch):
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("pack-1.0.dist-info/entry_points.txt", "[nnlint]\npack = pack\n")
    monkeypatch.setattr(sys, "path", [str(archive), str(tmp_path / "missing")])
    assert may_declare_entry_points("nnlint")


def test_a_finder_that_reports_its_own_distributions_counts_as_maybe(tmp_path, monkeypatch):
    class Finder:
        @staticmethod
        def find_distributions(context=None):
            return iter(())

    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert not may_declare_entry_points("nnlint")
    monkeypatch.setattr(sys, "meta_path", [Finder(), *sys.meta_path])
    assert may_declare_entry_points("nnlint")
