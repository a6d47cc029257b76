"""What reading a shard saw: documents kept, drops per filter, bad records with where they were.

One `SourceStats` per shard; the per-task stats are the merge of the shards', so a
run that resumes after an interruption reports the same totals as one that did not.
"""

from __future__ import annotations

import collections
import dataclasses
import logging

log = logging.getLogger(__name__)
MAX_EXAMPLES = 10  # bad records reported with file and line, per shard and per task
FILE_ERRORS = ("missing_file", "unreadable_file")  # a shard that saw one of these failed as a whole


class BadInputError(ValueError):
    """A bad record or file under on_bad_record="fail"; the message says file, line and why."""


@dataclasses.dataclass
class SourceStats:
    documents: int = 0
    tokens: int = 0
    characters: int = 0
    dropped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    malformed: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    malformed_examples: list = dataclasses.field(default_factory=list)

    def drop(self, name: str) -> None:
        self.dropped[name] += 1

    def bad(self, path: str, location: int, reason: str, detail: str = "") -> None:
        self.malformed[reason] += 1
        if len(self.malformed_examples) < MAX_EXAMPLES:
            self.malformed_examples.append({"file": path, "line": location, "reason": reason, "detail": detail})
            log.warning("%s:%d: skipped (%s) %s", path, location, reason, detail)

    def file_error(self) -> str | None:
        """Why the shard's input file could not be read (missing, unreadable), or None: such a shard
        is not written, so that a later run reads it again."""
        for example in self.malformed_examples:
            if example["reason"] in FILE_ERRORS:
                return f"{example['reason']}: {example['file']}" + (f" ({example['detail']})"
                                                                  if example["detail"] != example["file"] else "")
        reasons = [r for r in FILE_ERRORS if self.malformed.get(r)]
        return reasons[0] if reasons else None

    def to_json(self) -> dict:
        return {"documents": self.documents, "tokens": self.tokens, "characters": self.characters,
                "dropped": dict(sorted(self.dropped.items())), "malformed": dict(sorted(self.malformed.items())),
                "malformed_examples": list(self.malformed_examples)}

    @classmethod
    def from_json(cls, d: dict) -> SourceStats:
        return cls(d["documents"], d["tokens"], d.get("characters", 0), collections.Counter(d["dropped"]),
                   collections.Counter(d["malformed"]), list(d["malformed_examples"]))

    def merge(self, other: SourceStats) -> SourceStats:
        examples = (self.malformed_examples + other.malformed_examples)[:MAX_EXAMPLES]
        return SourceStats(self.documents + other.documents, self.tokens + other.tokens,
                           self.characters + other.characters, self.dropped + other.dropped,
                           self.malformed + other.malformed, examples)
