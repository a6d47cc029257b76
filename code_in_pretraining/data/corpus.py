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

`build_default` writes `<data_dir>/default/{text,code,changelog,faq}/{train,validation}.jsonl.gz`,
one JSON record per line (`cip data fetch-default` first installs the two Debian
packages). The split is a stable hash of the id, so it does not depend on file
order. The documents do depend on the machine (its Python's standard library, the
Debian packages' versions, the changelogs installed): README.json records each
source's fingerprint, a hash of its documents, so two corpora can be compared.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys
import sysconfig

from code_in_pretraining.data import fingerprint
from code_in_pretraining.data.paths import default_corpus_dir

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


def missing_debian_packages(packages=DEBIAN_PACKAGES) -> list[str]:
    """The Debian packages that carry the prose and are not installed."""
    return [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]


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


def source_fingerprint(source_dir: pathlib.Path) -> str:
    """A hash of a source's documents (both splits, as written), independent of gzip's header."""
    return fingerprint.of_files(source_dir / f"{s}.jsonl.gz" for s in SPLITS)


def corpus_ready(root: pathlib.Path | None = None, sources=("text", "code")) -> bool:
    root = root or default_corpus_dir()
    return all((root / src / f"{s}.jsonl.gz").exists() for src in sources for s in SPLITS)


def _write_readme(root: pathlib.Path, documents: dict, sources: dict) -> None:
    path = root / "README.json"
    readme = json.loads(path.read_text()) if path.exists() else {"python": sys.version.split()[0]}
    readme.setdefault("documents", {}).update(documents)
    readme.setdefault("sources", {}).update(sources)
    fingerprints = readme.setdefault("fingerprints", {})
    for src in readme["documents"]:
        if src in documents or src not in fingerprints:  # rewritten now, or built before fingerprints
            fingerprints[src] = source_fingerprint(root / src)
    path.write_text(json.dumps(readme, indent=2))


def build_extras(root: pathlib.Path, *, force: bool = False) -> dict[str, dict[str, int]]:
    """The changelog and FAQ records (offline code-adjacent and instruction data)."""
    built = {}
    if force or not corpus_ready(root, ("changelog",)):
        built["changelog"] = write_jsonl(changelog_documents(), root / "changelog")
    if force or not corpus_ready(root, ("faq",)):
        built["faq"] = write_jsonl(faq_records(), root / "faq")
    if built:
        _write_readme(root, built, {"changelog": "Debian changelog entries installed on this machine",
                                    "faq": "python3.11-doc FAQ pages, question / answer"})
    return built


def build_default(root: pathlib.Path | None = None, *, force: bool = False) -> pathlib.Path:
    """Build the default corpus once; later calls return at once. The Debian packages that carry
    the prose must be installed (`cip data fetch-default` installs them)."""
    root = root or default_corpus_dir()
    if corpus_ready(root) and not force:
        if not corpus_ready(root, EXTRA_SOURCES):
            build_extras(root)
        elif "fingerprints" not in json.loads((root / "README.json").read_text()):
            _write_readme(root, {}, {})  # a corpus built before fingerprints were recorded
        return root
    missing = missing_debian_packages()
    if missing:
        raise FileNotFoundError(
            f"the default corpus needs the Debian packages {missing}: run `cip data fetch-default` as root, "
            f"or `apt-get install {' '.join(missing)}`")
    code = write_jsonl(stdlib_documents(), root / "code")

    def text_docs():
        yield from kjv_documents()
        yield from pydoc_documents()

    text = write_jsonl(text_docs(), root / "text")
    _write_readme(root, {"code": code, "text": text},
                  {"code": "Python standard library", "text": "bible-kjv (chapters) + python3.11-doc (reST pages)"})
    build_extras(root, force=True)
    return root
