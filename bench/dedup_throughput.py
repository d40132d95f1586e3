"""MinHash signature throughput: cc2gpt's dedup signature stage vs datatrove's MinhashDedupSignature.

Both compute FineWeb's signatures (word 5-grams, 112 hashes as 14 bands x 8 rows)
of the same documents, in this process, on one core: real extracted web pages
(the Article Extraction Benchmark's human-checked bodies) topped up with LM-corpus
windows of the same length distribution. cc2gpt's side is the code its Beam DoFns
run (batched datasketch signatures, then the band keys LSH shuffles on), without
the runner; datatrove's side is its whole signature step (spaCy word tokenization,
hashing, per-band files sorted on disk), which needs `pip install -e '.[bench]'`.

    .venv/bin/python bench/dedup_throughput.py [--docs 1500] [--memory-docs 25000,50000,100000]

With --memory-docs (off by default: minutes per 100k docs) it also runs, for each
size and in a fresh process each, the whole Dedup transform on synthetic-from-real
documents (LM-corpus windows, near copies and exact copies) on the DirectRunner with
--workers SDK worker processes, next to a control job that only shuffles the same
documents once (one GroupByKey), and prints the peak RSS (VmHWM from /proc) of the
runner process and the largest over the SDK workers (and of any other child), the
largest bundle input the runner pushed to one worker, and our DoFns' largest
per-key working sets (LSH bucket, connected-component neighbourhood, exact group).

Why a DirectRunner worker still grows with the input (Beam 2.77; offline, the
DirectRunner falls back from Prism to its FnApiRunner): the FnApiRunner keeps every
shuffle in the runner process and runs each stage as one bundle per worker. It
encodes a worker's whole share of the stage's input (GroupingBuffer.partition makes
one bytes object) and writes it as one data-plane message before the bundle starts
(BundleManager._send_input_to_worker), so the worker holds input/workers bytes,
several times over (gRPC buffer, protobuf, Python bytes), while it decodes the
elements one by one; its outputs wait in the SDK harness's send queues (up to
2 x 100 MB, constants of data_plane.py) while the runner decodes them, and what a
stage frees stays with the process (glibc), so RSS ratchets up stage over stage. No
DirectRunner option bounds a bundle: --direct_num_workers only divides it, and
MALLOC_ARENA_MAX=2 in the environment (inherited by the workers) lowers the ratchet;
try either with --workers or the variable on this benchmark. Our DoFns hold one
signature batch (DedupConfig.batch_size docs) or one key's values at a time
(tests/pipeline/dedup/test_memory_bound.py). Runners on Beam's Java runner harness
(Flink, Spark; Dataflow reads its shuffle in bounded chunks too) stream a bundle to
the SDK worker in data-plane messages of about 1 MB (BeamFnDataOutboundAggregator's
default data_buffer_size_limit) while it runs, and the Python harness queues at most
5 per bundle, so there a worker holds those constants plus our per-batch and per-key
state, not a share of the input.

Throughput is per CPU second of this process (both sides are single-threaded), so
other load on the machine does not skew it. The last line is `ratio: X`,
cc2gpt's signatures/s over datatrove's.
"""
import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")   # single core for both sides
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from _common import read_text  # noqa: E402
from pipeline.dedup import DedupConfig  # noqa: E402
from pipeline.dedup.fuzzy import Sign  # noqa: E402
from pipeline.dedup.minhash import MinHasher  # noqa: E402
from pipeline.doc import Doc  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "../shared/data"


def web_like_texts(n: int, seed: int = 0) -> list[str]:
    """The 90 gold article bodies, then LM-corpus windows with their word-count distribution."""
    gold = json.loads((DATA / "extraction_gold/scrapinghub_aeb/ground-truth.json").read_text())
    pages = [v["articleBody"] for _, v in sorted(gold.items()) if v["articleBody"].strip()]
    lengths = [len(p.split()) for p in pages]
    words = " ".join(read_text(p) for p in sorted((DATA / "lm_corpus").glob("*/*.txt"))).split()
    rng = random.Random(seed)
    texts = pages[:n]
    while len(texts) < n:
        size = rng.choice(lengths)
        start = rng.randrange(len(words) - size)
        texts.append(" ".join(words[start:start + size]))
    return texts


def _clocks():
    """(CPU seconds of this process, wall seconds) as an array, so differences subtract."""
    import numpy as np
    return np.array([time.process_time(), time.perf_counter()])


def cc2gpt_signatures(texts: list[str], config: DedupConfig) -> "np.ndarray":
    """(CPU, wall) seconds for the signature DoFn over batches, plus the band keys of every signature."""
    sign = Sign(MinHasher(config.num_perm, config.ngram, config.seed, *config.bands_rows()))
    docs = [Doc(id=str(i), url="", crawl_date="", text=t) for i, t in enumerate(texts)]
    start = _clocks()
    for i in range(0, len(docs), config.batch_size):
        for _, sig in sign.process(docs[i:i + config.batch_size]):
            sign.hasher.band_keys(sig)
    return _clocks() - start


def datatrove_signatures(texts: list[str]) -> "np.ndarray":
    """(CPU, wall) seconds for datatrove's signature step (FineWeb's config: 5-grams, 14 x 8)."""
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    with tempfile.TemporaryDirectory() as tmp:
        stage = MinhashDedupSignature(output_folder=tmp, config=MinhashConfig())
        stage.word_tokenizer.word_tokenize("warm up")   # load spaCy outside the timing
        docs = (Document(text=t, id=str(i)) for i, t in enumerate(texts))
        start = _clocks()
        stage.run(docs)
        return _clocks() - start


def synthetic_docs(n: int, seed: int = 1):
    """n docs: 60% LM-corpus windows of 50-300 words at random offsets (so many overlap, as
    pages quoting each other do), 30% near copies of a recent one, 10% exact copies (upper-cased)."""
    rng = random.Random(seed)
    words = " ".join(read_text(p) for p in sorted((DATA / "lm_corpus").glob("*/*.txt"))).split()
    recent = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.6 or not recent:
            size = rng.randrange(50, 300)
            start = rng.randrange(len(words) - size)
            text = " ".join(words[start:start + size])
            recent = (recent + [text])[-1000:]
        elif roll < 0.9:   # near copy: a few words replaced
            base = rng.choice(recent).split()
            for _ in range(max(1, len(base) // 100)):
                base[rng.randrange(len(base))] = rng.choice(words)
            text = " ".join(base)
        else:
            text = rng.choice(recent).upper()
        yield Doc(id=f"{rng.getrandbits(64):016x}", url="", crawl_date="", text=text,
                  language="en", language_score=1.0)


class _PeakRss:
    """Samples VmHWM (peak resident memory) of this process and every descendant from /proc,
    and the largest current RSS of an SDK worker while each stage (`self.stage`, set by the caller) ran."""

    def __init__(self):
        import threading
        self.peaks: dict[int, tuple[str, int]] = {}
        self.stage = ""
        self.stage_worker_kb: dict[str, int] = {}   # in the order the stages ran
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _descendants(self):
        pids, frontier = [os.getpid()], [os.getpid()]
        while frontier:
            pid = frontier.pop()
            kids = []
            for task in Path(f"/proc/{pid}/task").glob("*"):   # children are listed per forking thread
                try:
                    kids += map(int, (task / "children").read_text().split())
                except OSError:
                    pass
            pids += kids
            frontier += kids
        return pids

    def _run(self):
        while not self.stop.wait(0.2):
            for pid in self._descendants():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM"):   # absent once a process is a zombie
                        self.peaks[pid] = (cmd, max(int(line.split()[1]), self.peaks.get(pid, ("", 0))[1]))
                    if line.startswith("VmRSS") and "sdk_worker_main" in cmd and not cmd.startswith("/bin/sh"):
                        kb = int(line.split()[1])
                        self.stage_worker_kb[self.stage] = max(kb, self.stage_worker_kb.get(self.stage, 0))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def _record_bundle_inputs(largest: dict, rss: _PeakRss):
    """Wrap the FnApiRunner's hand-over of a bundle's input to a worker, keeping the largest per stage
    and telling `rss` which stage runs.

    Diagnostic only: the runner writes a worker's whole share of a stage's input
    as one bundle (one data-plane message) before the bundle starts, so this is
    what the worker must hold at once whatever our DoFns do.
    """
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    send = fn_runner.BundleManager._send_input_to_worker

    def recording(self, bundle_id, transform_id, byte_streams):
        byte_streams = list(byte_streams or [])
        rss.stage = stage = _stage_label(self.bundle_context_manager.stage.name)
        largest[stage] = max(largest.get(stage, 0), sum(map(len, byte_streams)))
        return send(self, bundle_id, transform_id, byte_streams)

    fn_runner.BundleManager._send_input_to_worker = recording


def _dedup_job(docs, tmp):
    from pipeline.dedup import Dedup
    return Dedup(DedupConfig(), out=tmp).expand(docs)


def _shuffle_job(docs, tmp):
    """The control: the same documents through one GroupByKey and nothing else (no state of ours)."""
    import apache_beam as beam
    return {"kept": docs | beam.Map(lambda d: (d.id, d)) | beam.GroupByKey() | beam.FlatMap(lambda kv: kv[1])}


JOBS = {"dedup": _dedup_job, "1 GBK": _shuffle_job}


def _stage_label(stage: str) -> str:
    """'((Dedup/JoinDecisions/CoGroupByKeyImpl/GroupByKey/Read)+...' -> 'JoinDecisions/GroupByKey'."""
    parts = [p for p in stage.lstrip("(").split("/Read")[0].split("/") if p != "Dedup"]
    if parts[0].endswith("_split"):   # the source's split restrictions: the stage reading the file
        return "ReadFromText"
    return parts[0] if len(parts) == 1 else f"{parts[0]}/{parts[-1]}"


def memory_run(n: int, workers: int, job: str) -> dict:
    """One job on n docs, DirectRunner worker processes: peak memory of each process.

    Runs in a fresh process per size and job (the caller's job), so every peak is this run's own.
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    bundles: dict[str, int] = {}
    rss = _PeakRss()
    _record_bundle_inputs(bundles, rss)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "docs.jsonl"
        with src.open("w") as f:
            for d in synthetic_docs(n):
                f.write(json.dumps(d) + "\n")
        mb = src.stat().st_size / 1e6
        options = PipelineOptions([f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"])
        start = time.perf_counter()
        with rss:
            p = beam.Pipeline(options=options)
            out = JOBS[job](p | beam.io.ReadFromText(str(src)) | beam.Map(json.loads), tmp)
            (out["kept"] | "CountKept" >> beam.combiners.Count.Globally()
             | "SaveCount" >> beam.Map(lambda c, path: Path(path).write_text(str(c)), f"{tmp}/kept"))
            result = p.run()
            result.wait_until_finish()
        secs = time.perf_counter() - start
        kept = int(Path(f"{tmp}/kept").read_text())
    largest = {d.key.metric.name: d.committed.max for d in result.metrics().query()["distributions"]
               if d.key.metric.namespace == "dedup"}
    me = os.getpid()
    children = {pid: kb for pid, (cmd, kb) in rss.peaks.items()
                if pid != me and not cmd.startswith("/bin/sh")}   # Beam starts each worker through a shell
    worker_peaks = [kb for pid, kb in children.items() if "sdk_worker_main" in rss.peaks[pid][0]]
    other_peaks = [kb for pid, kb in children.items() if "sdk_worker_main" not in rss.peaks[pid][0]]
    stage, size = max(bundles.items(), key=lambda x: x[1])
    return {"json_mb": mb, "secs": secs, "kept": kept,
            "runner_mb": rss.peaks[me][1] / 1024, "workers": len(worker_peaks),
            "worker_mb": max(worker_peaks) / 1024, "other_mb": max(other_peaks, default=0) / 1024,
            "bundle_mb": size / 2**20, "bundle_stage": stage, "per_key": largest,
            "stages": [(name, bundles.get(name, 0) / 2**20, kb / 1024) for name, kb in rss.stage_worker_kb.items()]}


def memory(sizes: list[int], workers: int):
    """memory_run per size and job, each in a fresh process, in one table: worker peak against input size."""
    import subprocess
    import sys

    print(f"\nMemory, DirectRunner (Beam's FnApiRunner) multi_processing, {workers} SDK worker processes, "
          f"a fresh process per row; '1 GBK' is the control: the same docs through one GroupByKey only")
    print(f"{'docs':>8}{'JSON MB':>9}  {'job':<7}{'wall s':>7}{'runner MB':>11}{'max worker MB':>15}"
          f"   {'largest bundle to 1 worker':<37}our largest per-key state")
    for n in sizes:
        for job in JOBS:
            out = subprocess.run([sys.executable, __file__, "--memory-child", str(n), "--workers", str(workers),
                                  "--memory-job", job], check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            if r["workers"] != workers:
                raise RuntimeError(f"expected {workers} SDK worker processes, sampled {r['workers']}")
            per_key = ", ".join(f"{k} {v}" for k, v in sorted(r["per_key"].items()))
            print(f"{n:8d}{r['json_mb']:9.0f}  {job:<7}{r['secs']:7.0f}{r['runner_mb']:11.0f}{r['worker_mb']:15.0f}"
                  f"{r['bundle_mb']:8.0f} MB {r['bundle_stage']:<25}{per_key}")
            if r["other_mb"]:
                print(f"{'':8}other child processes: peak {r['other_mb']:.0f} MB")
            if job == "dedup":
                stages = r["stages"]
    print(f"\nDedup on {sizes[-1]} docs, stage by stage (stages whose bundles carry >= 1 MB, and the read); "
          f"a worker's RSS ratchets up, since the allocator keeps what a stage freed:")
    print(f"{'stage':>32}{'bundle to 1 worker MB':>23}{'max worker RSS while it ran MB':>33}")
    for name, bundle_mb, worker_mb in stages:
        if bundle_mb >= 1 or name == "ReadFromText":
            print(f"{name[:32]:>32}{bundle_mb:23.0f}{worker_mb:33.0f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds over parts of the documents")
    ap.add_argument("--memory-docs", default="",
                    help="comma-separated document counts for the Dedup memory table, e.g. 25000,50000,100000")
    ap.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)   # one row of the table, in its own process
    ap.add_argument("--memory-job", choices=JOBS, default="dedup", help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=2, help="DirectRunner worker processes (memory run)")
    args = ap.parse_args()
    sizes = [int(n) for n in args.memory_docs.split(",")] if args.memory_docs else []
    if any(n < 1 for n in sizes):
        ap.error("--memory-docs takes positive document counts (leave it out to skip the memory table)")
    if args.memory_child:
        print(json.dumps(memory_run(args.memory_child, args.workers, args.memory_job)))
        return

    texts = web_like_texts(args.docs)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    config = DedupConfig()
    cc2gpt_signatures(texts[:50], config)   # warm up
    ours = theirs = 0.0   # becomes (CPU, wall) seconds
    for i in range(args.rounds):   # interleaved, so load from other processes hits both sides alike
        part = texts[i::args.rounds]
        ours += cc2gpt_signatures(part, config)
        theirs += datatrove_signatures(part)
    print(f"{len(texts)} documents, {mb:.2f} MB of text, 112 hashes (14 bands x 8 rows), word 5-grams, "
          f"one core, CPU time")
    print(f"{'':24}{'signatures/s':>14}{'MB/s':>10}{'CPU s':>9}{'wall s':>9}")
    for name, (cpu, wall) in (("cc2gpt (datasketch)", ours), ("datatrove", theirs)):
        print(f"{name:24}{len(texts) / cpu:14.1f}{mb / cpu:10.2f}{cpu:9.2f}{wall:9.2f}")
    if sizes:
        memory(sizes, args.workers)
    print(f"ratio: {theirs[0] / ours[0]:.2f}")


if __name__ == "__main__":
    main()
