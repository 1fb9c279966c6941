"""The application-code corpus: training scripts, tests and notebooks from public repositories
(where most users first point nnlint), pinned to commits, for judging precision on code that is
not library source.

    python bench/app_corpus.py fetch [--dest DIR] [--mirrors DIR]   # extract the .py/.ipynb files
    python bench/app_corpus.py lint  [--dest DIR] [-o findings.json] # default rules, JSON findings

`fetch` takes each repository from a bare mirror under ``--mirrors`` (``owner+name/repo``) when
there is one, else clones it from GitHub (blobs fetched lazily) and checks out the pinned commit.
Only ``.py`` and ``.ipynb`` files are written. The judged findings are in
``bench/corpus_findings.md`` (section "Application code").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

# (owner/name, commit). moco's main branch has since deleted its sources: take the commit before.
REPOS: tuple[tuple[str, str], ...] = (
    ("karpathy/minGPT", "37baab71b9abea1b76ab957409a1cc2fbfba8a26"),
    ("karpathy/nanoGPT", "3adf61e154c3fe3fca428ad6bc3818b27a3b8291"),
    ("karpathy/nn-zero-to-hero", "73c3fcc741f0ec104ca850b1fb0df90e7e8d4cde"),
    ("pytorch/ignite", "de08e799cfb55a6cf4aa778575d6bad725385453"),
    ("pytorch/examples", "77f55b912142e11fcfdf5b530231fb9c52f181e8"),
    ("openai/whisper", "c0d2f624c09dc18e709e37c2ad90c039a4eb72a2"),
    ("mlfoundations/open_clip", "89fb801f1e6087880e951fc8354b8a2077b79c6d"),
    ("lucidrains/denoising-diffusion-pytorch", "faed4db28e724735323fa91c70aa9b28a6e1cbac"),
    ("lucidrains/vit-pytorch", "69d24fe9e3024c0d4b02761123b8583a24ebed1e"),
    ("facebookresearch/mae", "efb2a8062c206524e35e47d04501ed4f544c0ae8"),
    ("facebookresearch/moco", "8976944da9c6b94cbd9158d7ebe50912aef807ef^"),
    ("facebookresearch/DiT", "ed81ce2229091fd4ecc9a223645f95cf379d582b"),
    ("facebookresearch/dino", "7c446df5b9f45747937fb0d72314eb9f7b66930a"),
    ("facebookresearch/detr", "29901c51d7fe8712168b8d0d64351170bc0f83e0"),
    ("NVlabs/stylegan2-ada-pytorch", "d72cc7d041b42ec8e806021a205ed9349f87c6a4"),
    ("CompVis/stable-diffusion", "21f890f9da3cfbeaba8e2ac3c425ee9e998d5229"),
    ("ultralytics/yolov5", "5081342f04fb287fc2e5f2b5a4e06752b7937b1c"),
    ("eriklindernoren/PyTorch-GAN", "36d3c77e5ff20ebe0aeefd322326a134a279b93e"),
    ("kuangliu/pytorch-cifar", "49b7aa97b0c12fe0d4054e670403a16b6b834ddd"),
    ("yunjey/pytorch-tutorial", "0500d3df5a2a8080ccfccbc00aca0eacc21818db"),
    ("bentrevett/pytorch-seq2seq", "b3cd54c72cd6e4e63f672d334c795b4fe744ef92"),
    ("bentrevett/pytorch-sentiment-analysis", "329f654b2cfaed22fee432569ebd7a2674584f79"),
    ("Lightning-AI/tutorials", "15817658a2d63afa338b9e1cd8454fb98d746fac"),
)
SUFFIXES = (".py", ".ipynb")
HERE = Path(__file__).resolve().parent
DEFAULT_DEST = HERE / ".app_corpus"


def _git(git_dir: Path, *args: str, text: bool = True) -> str | bytes:
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], check=True, capture_output=True, text=text).stdout


def _git_dir(repo: str, mirrors: Path, clones: Path) -> Path:
    mirror = mirrors / repo.replace("/", "+") / "repo"
    if mirror.is_dir():
        return mirror
    clone = clones / repo.replace("/", "+")
    if not clone.is_dir():
        subprocess.run(
            ["git", "clone", "--bare", "--filter=blob:none", f"https://github.com/{repo}.git", str(clone)], check=True
        )
    return clone


def fetch(dest: Path, mirrors: Path) -> int:
    clones = dest / ".clones"
    total = 0
    for repo, commit in REPOS:
        git_dir = _git_dir(repo, mirrors, clones)
        root = dest / repo.replace("/", "+")
        names = [n for n in str(_git(git_dir, "ls-tree", "-r", "--name-only", commit)).splitlines() if n.endswith(SUFFIXES)]
        written = 0
        for name in names:
            try:
                blob = _git(git_dir, "cat-file", "blob", f"{commit}:{name}", text=False)
            except subprocess.CalledProcessError:
                print(f"{repo}: {name}: blob missing from the snapshot, skipped", file=sys.stderr)
                continue
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)  # type: ignore[arg-type]
            written += 1
        print(f"{repo}@{commit[:10]}: {written} files")
        total += written
    print(f"total: {total} files in {dest}")
    return 0


def lint(dest: Path, output: Path | None) -> int:
    proc = subprocess.run(
        [sys.executable, "-m", "nnlint", "--isolated", "--no-cache", "--no-respect-gitignore", "--output-format", "json",
         "--exclude", ".clones", str(dest)],
        capture_output=True, text=True,
    )
    items = json.loads(proc.stdout)
    findings = [i for i in items if i["type"] == "finding"]
    errors = [i for i in items if i["type"] == "error"]
    if output is not None:
        output.write_text(json.dumps(findings, indent=1) + "\n")
    for code, count in sorted(Counter(f["code"] for f in findings).items()):
        print(f"{code}: {count}")
    print(f"findings: {len(findings)}; errors: {Counter(e['name'] for e in errors)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("fetch", "lint"))
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()
    if args.command == "fetch":
        return fetch(args.dest, args.mirrors)
    return lint(args.dest, args.output)


if __name__ == "__main__":
    sys.exit(main())
