"""Record shapes: how one raw record of a dump becomes one training document.

Each shape is a function `record (dict) -> Doc`. A record that cannot become a
document raises `BadRecord(reason)`; the caller counts it with its file and line
instead of failing deep inside tf.data or Beam. Shapes know nothing of files,
filters or tokens.

  text           {"text"} (key configurable), e.g. cooldown prose
  slimpajama     {"text", "meta": {"redpajama_set_name"}}
  stack          The Stack: {"content" | "text", "lang" | "language" | a path's extension}
  markup         as `stack` (Markdown, HTML, CSS ... files of The Stack)
  commit         {"subject"?, "message", "diff" | "old_contents" + "new_contents"}
  notebook       Jupyter: {"cells"} or a notebook JSON string in "content"/"text"
  stackexchange  {"title", "question" | "body", "answers": [str | {"body", "score"}]}
  synthetic      {"text"} or {"prompt", "solution", "tests"}
  instruct       {"instruction", "input"?, "output"} or {"messages": [{"role", "content"}]}
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import posixpath
from collections.abc import Callable, Mapping


class BadRecord(ValueError):
    """A record that cannot become a document; `reason` is the counter's name."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclasses.dataclass
class Doc:
    id: str
    text: str
    lang: str = ""  # programming or markup language, lower case ("" when unknown)
    origin: str = ""  # sub-corpus, e.g. SlimPajama's redpajama_set_name


# File extension -> language, for records that carry only a path.
EXTENSION_LANGUAGES = {
    ".py": "python", ".js": "javascript", ".mjs": "javascript", ".java": "java", ".c": "c", ".h": "c",
    ".cc": "c++", ".cpp": "c++", ".cxx": "c++", ".hpp": "c++", ".cs": "c-sharp", ".php": "php",
    ".ts": "typescript", ".tsx": "typescript", ".go": "go", ".rb": "ruby", ".rs": "rust", ".sh": "shell",
    ".bash": "shell", ".kt": "kotlin", ".swift": "swift", ".scala": "scala", ".lua": "lua", ".pl": "perl",
    ".r": "r", ".sql": "sql", ".dart": "dart", ".hs": "haskell", ".jl": "julia", ".ps1": "powershell",
    ".vb": "visual-basic", ".asm": "assembly", ".s": "assembly", ".m": "objective-c",
    ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html", ".css": "css",
    ".scss": "scss", ".sass": "sass", ".less": "less", ".xml": "xml", ".rst": "restructuredtext",
    ".adoc": "asciidoc", ".tex": "tex", ".org": "org", ".ipynb": "jupyter-notebook",
}
# Spellings of The Stack's language names -> the names used here.
LANGUAGE_ALIASES = {"c#": "c-sharp", "csharp": "c-sharp", "cpp": "c++", "visual basic": "visual-basic",
                    "bash": "shell", "md": "markdown", "rst": "restructuredtext", "js": "javascript"}


def normalise_language(name: str) -> str:
    name = name.strip().lower()
    return LANGUAGE_ALIASES.get(name, name.replace(" ", "-"))


def language_of_path(path: str) -> str:
    name = posixpath.basename(path).lower()
    for suffix in (".txt", ".gz"):  # e.g. the docs' "page.rst.txt"
        if name.endswith(suffix) and name.count(".") > 1:
            name = name[: -len(suffix)]
    return EXTENSION_LANGUAGES.get(posixpath.splitext(name)[1], "")


def _field(record: Mapping, *keys: str, required: bool = True):
    for key in keys:
        value = record.get(key)
        if value is not None:
            return value
    if required:
        raise BadRecord("missing_field", "/".join(keys))
    return None


def _string(value, what: str) -> str:
    if not isinstance(value, str):
        raise BadRecord("missing_field", f"{what} is {type(value).__name__}, not a string")
    return value


def _id(record: Mapping, fallback: str) -> str:
    value = record.get("id", record.get("hexsha", record.get("commit")))
    return str(value) if value is not None else fallback


def text(record: Mapping, fallback_id: str, *, text_key: str = "text") -> Doc:
    return Doc(_id(record, fallback_id), _string(_field(record, text_key), text_key))


def slimpajama(record: Mapping, fallback_id: str, **_) -> Doc:
    meta = record.get("meta") or {}
    origin = meta.get("redpajama_set_name", "") if isinstance(meta, Mapping) else ""
    return Doc(_id(record, fallback_id), _string(_field(record, "text"), "text"), origin=str(origin))


def stack(record: Mapping, fallback_id: str, **_) -> Doc:
    content = _string(_field(record, "content", "text"), "content")
    meta = record.get("meta") if isinstance(record.get("meta"), Mapping) else {}
    lang = record.get("lang") or record.get("language") or meta.get("lang") or meta.get("language")
    if not lang:
        path = (record.get("path") or record.get("max_stars_repo_path") or meta.get("path")
                or record.get("id") or "")
        lang = language_of_path(str(path))
    return Doc(_id(record, fallback_id), content, lang=normalise_language(str(lang or "")))


markup = stack


def commit(record: Mapping, fallback_id: str, **_) -> Doc:
    subject = record.get("subject") or ""
    message = record.get("message") or ""
    if not isinstance(subject, str) or not isinstance(message, str) or not (subject or message):
        raise BadRecord("missing_field", "subject/message")
    diff = record.get("diff")
    if diff is None and "new_contents" in record:
        old = (record.get("old_contents") or "").splitlines(keepends=True)
        new = (record.get("new_contents") or "").splitlines(keepends=True)
        path = record.get("new_file") or record.get("old_file") or "file"
        diff = "".join(difflib.unified_diff(old, new, f"a/{path}", f"b/{path}"))
    head = "\n\n".join(p.strip("\n") for p in (subject, message) if p.strip())
    body = f"{head}\n\n{diff.rstrip()}\n" if diff else f"{head}\n"
    return Doc(_id(record, fallback_id), body)


def notebook(record: Mapping, fallback_id: str, **_) -> Doc:
    """Markdown cells as text, code cells as fenced code, outputs dropped."""
    nb = record
    if "cells" not in record:
        raw = _field(record, "content", "text")
        try:
            nb = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as e:
            raise BadRecord("malformed_notebook", str(e)) from None
    cells = nb.get("cells") if isinstance(nb, Mapping) else None
    if not isinstance(cells, list):
        raise BadRecord("missing_field", "cells")
    kernel = (nb.get("metadata") or {}).get("kernelspec") or {}
    lang = normalise_language(str(kernel.get("language") or "python"))
    parts = []
    for cell in cells:
        source = cell.get("source", "") if isinstance(cell, Mapping) else ""
        source = "".join(source) if isinstance(source, list) else str(source)
        if not source.strip():
            continue
        if cell.get("cell_type") == "code":
            parts.append(f"```{lang}\n{source.rstrip()}\n```")
        elif cell.get("cell_type") == "markdown":
            parts.append(source.strip("\n"))
    return Doc(_id(record, fallback_id), "\n\n".join(parts) + "\n" if parts else "", lang=lang)


def stackexchange(record: Mapping, fallback_id: str, **_) -> Doc:
    """The question, then its answers, highest score first."""
    question = record.get("question")
    if isinstance(question, Mapping):
        title, body = question.get("title", ""), question.get("body", "")
    else:
        title, body = record.get("title", ""), question if question is not None else record.get("body", "")
    if not isinstance(body, str) or not (body.strip() or str(title).strip()):
        raise BadRecord("missing_field", "question/body")
    answers = record.get("answers") or []
    if not isinstance(answers, list):
        raise BadRecord("missing_field", "answers")
    ranked = sorted((a if isinstance(a, Mapping) else {"body": str(a)} for a in answers),
                    key=lambda a: -float(a.get("score") or 0))
    parts = [p for p in (str(title).strip(), body.strip()) if p]
    parts += [f"Answer:\n{a.get('body', '').strip()}" for a in ranked if str(a.get("body", "")).strip()]
    return Doc(_id(record, fallback_id), "\n\n".join(parts) + "\n")


def synthetic(record: Mapping, fallback_id: str, **_) -> Doc:
    if isinstance(record.get("text"), str):
        return Doc(_id(record, fallback_id), record["text"])
    parts = [_string(_field(record, key), key).strip("\n") for key in ("prompt", "solution", "tests")]
    return Doc(_id(record, fallback_id), "\n\n".join(parts) + "\n")


def instruct(record: Mapping, fallback_id: str, **_) -> Doc:
    """Instruction data as one text; a fixed, plain template (the paper does not state one)."""
    messages = record.get("messages")
    if isinstance(messages, list):
        turns = [f"{str(m.get('role', 'user')).capitalize()}: {str(m.get('content', '')).strip()}"
                 for m in messages if isinstance(m, Mapping)]
        if not turns:
            raise BadRecord("missing_field", "messages")
        return Doc(_id(record, fallback_id), "\n\n".join(turns) + "\n")
    instruction = _string(_field(record, "instruction", "question", "prompt"), "instruction").strip()
    output = _string(_field(record, "output", "answer", "response"), "output").strip()
    extra = record.get("input")
    parts = [f"Instruction:\n{instruction}"]
    if isinstance(extra, str) and extra.strip():
        parts.append(f"Input:\n{extra.strip()}")
    parts.append(f"Response:\n{output}")
    return Doc(_id(record, fallback_id), "\n\n".join(parts) + "\n")


SHAPES: dict[str, Callable[..., Doc]] = {
    "text": text, "slimpajama": slimpajama, "stack": stack, "markup": markup, "commit": commit,
    "notebook": notebook, "stackexchange": stackexchange, "synthetic": synthetic, "instruct": instruct,
}


def get_shape(name: str) -> Callable[..., Doc]:
    if name not in SHAPES:
        raise KeyError(f"unknown record shape {name!r}; known: {sorted(SHAPES)}")
    return SHAPES[name]
