"""Near-duplicate removal of one task's split, as an Apache Beam pipeline (`cip dedup`, `cip materialize`).

    cip dedup --task stack_code --out DIR
    cip dedup --task stack_code --out gs://bucket/tokens --runner DataflowRunner --project P \\
        --region R --temp_location gs://bucket/tmp --extra_package dist/code_in_pretraining-0.1.0.tar.gz

The pipeline, one element per input shard and then per group of keys (near_dedup.py
has the functions):

  1. signatures: each shard's documents (as the source yields them, after filters) ->
     content hashes and MinHash signatures, in DIR/<task>/dedup/<stem>.minhash.npz;
     a finished shard's file is kept, so an interrupted run computes only the rest
  2. exact duplicates: content hashes grouped by hash range -> pairs (first, copy)
  3. candidate pairs: each band's hashes, without the exact copies, grouped by band and
     hash range -> pairs of documents whose band agrees
  4. verification: candidate pairs grouped by the first document's shard (its signatures
     attached), then by the second's (compared) -> pairs whose estimated Jaccard
     similarity reaches the threshold
  5. connected components of all pairs (a union-find combined across workers) -> clusters;
     each keeps its lowest key; every other member is written to the drop list
     DIR/<task>/<split>.dedup.jsonl with its cluster, and the summary <split>.dedup.json
     last (drops.py)

Materialisation then leaves the listed documents out of the shards. A summary made
from the same inputs and settings means the work is done: re-running returns it.
"""

from __future__ import annotations

import importlib
import logging
import math

import apache_beam as beam
import numpy as np
from apache_beam.options.pipeline_options import PipelineOptions

from code_in_pretraining.data import drops, files
from code_in_pretraining.data import near_dedup as nd
from code_in_pretraining.data.near_dedup import DedupConfig
from code_in_pretraining.data.shards import shard_stem, sharded_source
from code_in_pretraining.data.words import batches

log = logging.getLogger(__name__)
LARGEST_CLUSTERS = 10  # in the summary, with their documents' ids


def shard_path(out_dir, task: str, split: str, index: int, num_shards: int, suffix: str) -> str:
    return files.join(out_dir, task, "dedup", shard_stem(split, index, num_shards) + suffix)


def partitions(num_shards: int) -> int:
    """Hash ranges per band (and for content hashes): enough groups to spread a large corpus over
    workers, few enough that each shard sends a handful of arrays."""
    return min(64, max(1, math.ceil(num_shards / 64)))


class _Step:
    """A pipeline step: a worker imports the modules that register the tasks before it looks one up."""

    def __init__(self, task: str, split: str, out_dir: str, num_shards: int, config: DedupConfig,
                 module_imports: tuple[str, ...]):
        self.task, self.split, self.out_dir, self.num_shards = task, split, out_dir, num_shards
        self.config, self.module_imports = config, module_imports

    def _imports(self) -> None:
        for module in self.module_imports:
            importlib.import_module(module)

    def path(self, index: int, suffix: str) -> str:
        return shard_path(self.out_dir, self.task, self.split, index, self.num_shards, suffix)

    def load(self, index: int) -> dict[str, np.ndarray]:
        return files.read_arrays(self.path(index, ".minhash.npz"))


class _Signatures(_Step):
    """Shard -> its signature file (kept when done with the same input and settings); yields the shard's
    index, or nothing when its input file is missing or unreadable (written to <stem>.failed.json)."""

    def __call__(self, work: tuple[int, str]):
        from code_in_pretraining.data.stats import SourceStats

        index, shard = work
        meta = {"input": shard, "config": self.config.to_json()}
        done = self.path(index, ".minhash.json")
        if files.exists(done) and {k: v for k, v in files.read_json(done).items() if k in meta} == meta:
            yield index
            return
        self._imports()
        source, stats = sharded_source(self.task), SourceStats()
        ids, content, sigs = [], [], []
        for batch in batches((doc["id"], doc["text"]) for doc in source.documents(self.split, shard, stats, "skip")):
            ids += [i for i, _ in batch]
            content += [nd.content_hash(t) for _, t in batch]
            sigs += nd.signatures([t for _, t in batch], self.config)
        error = stats.file_error()
        if error:
            files.write_json(self.path(index, ".failed.json"), {"input": shard, "error": error})
            log.warning("dedup %s: shard %d (%s) failed: %s", self.task, index, shard, error)
            return
        n, empty = len(ids), np.full(self.config.num_perm, np.iinfo(np.uint32).max, np.uint32)
        files.write_arrays(self.path(index, ".minhash.npz"), ids=np.array(ids, dtype=str),
                           content=np.array(content, np.uint64).reshape(n, 2),
                           signatures=np.array([empty if s is None else s for s in sigs], np.uint32).reshape(
                               n, self.config.num_perm),
                           has_words=np.array([s is not None for s in sigs], bool))
        files.write_json(done, {**meta, "documents": n})
        files.remove(self.path(index, ".failed.json"))
        log.info("dedup %s: signatures of shard %d/%d (%d documents)", self.task, index + 1, self.num_shards, n)
        yield index


def _columns(values) -> list[np.ndarray]:
    """A group's tuples of arrays, concatenated column by column."""
    return [np.concatenate(column) for column in zip(*values)]


def _split(groups: np.ndarray, *arrays):
    """(group, the arrays' rows in it) for each group present."""
    for g in np.unique(groups):
        yield int(g), tuple(a[groups == g] for a in arrays)


class _ContentParts(_Step):
    """Shard -> (hash range, (keys, content hashes)) per range present."""

    def __call__(self, index: int):
        content = self.load(index)["content"]
        keys = nd.keys(index, np.arange(len(content)))
        yield from _split(nd.partition(content[:, 0], partitions(self.num_shards)), keys, content)


def _exact_pairs(element):
    """A hash range's documents -> exact-duplicate edges (first, copy, similarity 1, exact)."""
    keys, content = _columns(element[1])
    first, copy = nd.equal_runs(content, keys)
    if len(first):
        yield first, copy, np.ones(len(first), np.float32), True


def _copies_by_shard(edges):
    """Exact edges -> (shard, positions of the copies in it), kept out of the bands."""
    copy = edges[1]
    for shard, (copies,) in _split(nd.shard_of(copy), copy):
        yield shard, nd.position_of(copies)


class _BandParts(_Step):
    """(shard, {"shard": [..], "copies": [positions...]}) -> ((band, hash range), (keys, band hashes))."""

    def __call__(self, element):
        index, joined = element
        if not joined["shard"]:  # copies of a shard whose file failed cannot happen; nothing to band
            return
        data = self.load(index)
        keep = data["has_words"].copy()
        for copies in joined["copies"]:
            keep[copies] = False
        positions = np.flatnonzero(keep)
        keys = nd.keys(index, positions)
        bands = nd.band_hashes(data["signatures"][positions], self.config)
        for band in range(self.config.bands):
            for part, arrays in _split(nd.partition(bands[:, band], partitions(self.num_shards)), keys,
                                       bands[:, band]):
                yield (band, part), arrays


def _candidates(element):
    """A band's hash range -> candidate pairs (first, other), keyed by the first's shard."""
    keys, hashes = _columns(element[1])
    first, other = nd.equal_runs(hashes, keys)
    yield from _split(nd.shard_of(first), first, other)


class _AttachFirst(_Step):
    """(shard, candidate pairs whose first document is in it) -> (other's shard, (first, other,
    first's signatures)), each pair once."""

    def __call__(self, element):
        index, values = element
        pairs = np.unique(np.stack(_columns(values), axis=1), axis=0)
        first, other = pairs[:, 0], pairs[:, 1]
        sigs = self.load(index)["signatures"][nd.position_of(first)]
        yield from _split(nd.shard_of(other), first, other, sigs)


class _Verify(_Step):
    """(shard, pairs whose other document is in it) -> edges whose estimated similarity reaches the threshold."""

    def __call__(self, element):
        index, values = element
        first, other, sig_first = _columns(values)
        sim = nd.similarity(sig_first, self.load(index)["signatures"][nd.position_of(other)])
        keep = sim >= self.config.threshold
        if keep.any():
            yield first[keep], other[keep], sim[keep].astype(np.float32), False


class _ComponentsFn(beam.CombineFn):
    """Edges -> connected components: a union-find per worker, merged."""

    def create_accumulator(self):
        return nd.Components()

    def add_input(self, acc, edges):
        acc.add(*edges)
        return acc

    def merge_accumulators(self, accs):
        accs = iter(accs)
        out = next(accs)
        for acc in accs:
            out.merge(acc)
        return out

    def extract_output(self, acc):
        return acc


def _cluster(survivor: int) -> str:
    """A cluster's name: its survivor's shard and position."""
    shard, pos = nd.split_key(survivor)
    return f"{shard}:{pos}"


class _Write(_Step):
    """Components -> the drop list (every removed document with its cluster) and the summary."""

    def __init__(self, inputs: str, shards: list[str], **kw):
        super().__init__(**kw)
        self.inputs, self.shards = inputs, shards

    def __call__(self, components: nd.Components) -> None:
        clusters = components.clusters()
        wanted = sorted({nd.split_key(k)[0] for root, members in clusters for k in (root, *members)})
        ids = {s: self.load(s)["ids"] for s in wanted}

        def doc_id(key):
            shard, pos = nd.split_key(key)
            return str(ids[shard][pos])

        rows = []
        for root, members in clusters:
            cluster = _cluster(root)
            for key in members:
                shard, pos = nd.split_key(key)
                rows.append({"shard": shard, "index": pos, "id": doc_id(key),
                             "kind": "exact_duplicate" if key in components.exact else "near_duplicate",
                             "cluster": cluster, "survivor": doc_id(root),
                             "similarity": round(components.similarity.get(key, 1.0), 4)})
        failed, documents = [], 0
        for i, shard in enumerate(self.shards):
            done = self.path(i, ".minhash.json")
            if files.exists(done):
                documents += files.read_json(done)["documents"]
            else:
                why = self.path(i, ".failed.json")
                error = files.read_json(why)["error"] if files.exists(why) else "not read"
                failed.append({"shard": i, "input": shard, "error": error})
        largest = sorted(clusters, key=lambda c: (-len(c[1]), c[0]))[:LARGEST_CLUSTERS]
        summary = {"task": self.task, "split": self.split, "config": self.config.to_json(), "inputs": self.inputs,
                   "shards": len(self.shards), "failed_shards": failed, "documents": documents,
                   "clusters": len(clusters),
                   "exact_duplicate": sum(r["kind"] == "exact_duplicate" for r in rows),
                   "near_duplicate": sum(r["kind"] == "near_duplicate" for r in rows),
                   "list": f"{self.split}.dedup.jsonl",
                   "largest_clusters": [{"cluster": _cluster(root), "survivor": doc_id(root),
                                         "size": 1 + len(members), "members": [doc_id(k) for k in members[:5]]}
                                        for root, members in largest]}
        drops.write(self.out_dir, self.task, self.split, "dedup", rows, summary)


def is_done(summary: dict | None, config: DedupConfig, inputs: str) -> bool:
    return bool(summary) and summary.get("inputs") == inputs and summary.get("config") == config.to_json() \
        and not summary.get("failed_shards")


def run(task: str, split: str, out_dir: str, *, config: DedupConfig | None = None,
        pipeline_args: list[str] | None = None, module_imports: tuple[str, ...] = ()) -> dict:
    """Deduplicates a task's split into out_dir (drop list and summary); returns the summary. `config`:
    else the data config's `dedup` settings of the task, else the defaults."""
    source = sharded_source(task)
    config = config or source.dedup or DedupConfig()
    shards = source.list_shards(split)
    inputs = drops.inputs_fingerprint(source, shards)
    if is_done(drops.read_summary(out_dir, task, split, "dedup"), config, inputs):
        return drops.read_summary(out_dir, task, split, "dedup")
    kw = {"task": task, "split": split, "out_dir": str(out_dir), "num_shards": len(shards), "config": config,
          "module_imports": tuple(module_imports)}
    options = PipelineOptions(pipeline_args or ["--runner=DirectRunner"])
    with beam.Pipeline(options=options) as p:
        done = (p | "shards" >> beam.Create(list(enumerate(shards)))
                | "spread" >> beam.Reshuffle()
                | "signatures" >> beam.FlatMap(_Signatures(**kw)))
        exact = (done | "content" >> beam.FlatMap(_ContentParts(**kw))
                 | "by content" >> beam.GroupByKey()
                 | "exact pairs" >> beam.FlatMap(_exact_pairs))
        copies = exact | "copies" >> beam.FlatMap(_copies_by_shard)
        near = ({"shard": done | "keyed" >> beam.Map(lambda i: (i, True)), "copies": copies}
                | "join copies" >> beam.CoGroupByKey()
                | "bands" >> beam.FlatMap(_BandParts(**kw))
                | "by band" >> beam.GroupByKey()
                | "candidates" >> beam.FlatMap(_candidates)
                | "by first" >> beam.GroupByKey()
                | "attach first" >> beam.FlatMap(_AttachFirst(**kw))
                | "by other" >> beam.GroupByKey()
                | "verify" >> beam.FlatMap(_Verify(**kw)))
        _ = ((exact, near) | "edges" >> beam.Flatten()
             | "components" >> beam.CombineGlobally(_ComponentsFn())
             | "write" >> beam.Map(_Write(inputs, shards, **kw)))
    return drops.read_summary(out_dir, task, split, "dedup")

