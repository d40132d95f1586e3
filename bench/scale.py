"""Scale: `cc2gpt curate` on 1x, 4x, 16x and 64x the real pages, time and memory per size.

Each size is that many copies of the WARC file, each copy its records in its
own seeded order (`_common.shuffled_copies`, as pipeline_throughput.py
--scaling builds them), curated by the whole job (the same graph and local
runner as `cc2gpt curate`, vocabulary 2048 as in `make demo`) in a child
process with `--workers` SDK workers. While it runs, /proc is sampled for the
job's process tree: the peak resident memory (VmHWM) of the launcher, of the
largest SDK worker and of the largest extraction child, and the peak of their
sum. After it, the job's PCollection metrics (element count times sampled mean
size) give the bytes that entered each GroupByKey of the graph the runner ran
(combiners lifted), i.e. crossed a shuffle, per input page. A 1-worker run at
--one-worker-size gives the 1 -> 2 worker speed-up, in wall time and in the CPU time of the busiest SDK worker and its
extraction children: on a shared machine wall times are contended, while the
busiest worker's CPU time still says how evenly the work was spread.

    PYTHONPATH=. .venv/bin/python bench/scale.py [--sizes 1,4,16,64] [--workers 2] [--one-worker-size 16]

Last line: `ratio: X` = peak memory of the largest process at 1x over that at
the largest size (64x by default): 1.0 is flat, lower means memory grows with input.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import shuffled_copies

WARC = Path(__file__).resolve().parents[1] / "../shared/data/warc/real_pages_aeb_trafilatura.warc.gz"
SINK_URN = "beam:runner:sink:v1"
MB = 1 << 20


def run_job(metrics_path: str, argv: list[str]) -> None:
    """Child side: run the curation job as `cc2gpt curate` builds it; write its shuffle bytes and funnel."""
    from apache_beam.metrics import monitoring_infos as mi

    from cc2gpt.pipeline.cli import new_pipeline
    from cc2gpt.pipeline.curate import Curate
    from cc2gpt.pipeline.options import parse_args
    from cc2gpt.tokenizer.manifest import read_manifest

    config, beam_args = parse_args(argv)
    p = new_pipeline(beam_args)
    _ = p | "Curate" >> Curate(config)
    result = p.run()
    result.wait_until_finish()
    # The runner's own graph (combiners lifted, stages fused): a GroupByKey is a sink into a
    # "group:" buffer, and what enters it is what crosses the shuffle.
    _, stages = p.runner.create_stages(p.to_runner_api())
    shuffled = {pc: t.unique_name.removesuffix("/Write") for stage in stages for t in stage.transforms
                if t.spec.urn == SINK_URN and t.spec.payload.startswith(b"group:")
                for pc in t.inputs.values()}
    counts, sums, sampled = {}, {}, {}
    for info in result.monitoring_infos():
        pc = info.labels.get("PCOLLECTION")
        if pc not in shuffled:
            continue
        value = mi.extract_metric_result_map_value(info)
        if info.urn == mi.ELEMENT_COUNT_URN:
            counts[pc] = counts.get(pc, 0) + value
        elif info.urn == mi.SAMPLED_BYTE_SIZE_URN:
            sums[pc], sampled[pc] = sums.get(pc, 0) + value.sum, sampled.get(pc, 0) + value.count
    nbytes = {shuffled[pc].removeprefix("Curate/"): counts[pc] * sums[pc] / sampled[pc]
              for pc in counts if sampled.get(pc)}
    Path(metrics_path).write_text(json.dumps({"shuffled": nbytes, "funnel": read_manifest(config.output)["funnel"]}))


def process_tree(root: int) -> dict[int, int]:
    """pid -> parent pid of `root` and its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])  # the field after "(name)"
            except OSError:
                continue
    tree, todo = {root: parents.get(root, 0)}, [root]
    while todo:
        pid = todo.pop()
        for child in (c for c, parent in parents.items() if parent == pid):
            tree[child] = pid
            todo.append(child)
    return tree


def usage(pid: int) -> tuple[str, int, int, float] | None:
    """(role, peak RSS, current RSS, CPU seconds) of one process, or None if it is gone."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if "VmHWM" not in status:  # a zombie
        return None
    role = ("extractor" if b"cc2gpt.pipeline.extract_worker" in cmdline else
            "worker" if b"cc2gpt.pipeline.worker" in cmdline or b"sdk_worker_main" in cmdline else "other")
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return role, int(status["VmHWM"].split()[0]) * 1024, int(status["VmRSS"].split()[0]) * 1024, cpu


def curate(warcs_glob: str, out: str, workers: int) -> dict:
    """Run the job in a child process: its wall time, peak memory per role, the CPU time of its
    busiest worker (with its extraction children), shuffle bytes and funnel."""
    metrics = f"{out}.json"
    argv = [sys.executable, __file__, "--job", metrics, "--input", warcs_glob, "--output", out,
            "--vocab-size", "2048", "--direct_running_mode=multi_processing",
            f"--direct_num_workers={workers}"]
    peak = {"launcher": 0, "worker": 0, "extractor": 0, "other": 0, "sum": 0}
    cpu: dict[int, tuple[str, int, float]] = {}  # pid -> (role, parent, CPU seconds so far)
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    while child.poll() is None:
        total = 0
        for pid, parent in process_tree(child.pid).items():
            found = usage(pid)
            if found:
                role = "launcher" if pid == child.pid else found[0]
                peak[role] = max(peak[role], found[1])
                total += found[2]
                cpu[pid] = role, parent, found[3]
        peak["sum"] = max(peak["sum"], total)
        time.sleep(0.2)
    wall = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"the job failed with exit code {child.returncode}")
    busiest = max(seconds + sum(s for role, parent, s in cpu.values() if parent == pid)
                  for pid, (role, _, seconds) in cpu.items() if role == "worker")
    return dict(json.loads(Path(metrics).read_text()), wall=wall, peak=peak, busiest_cpu=busiest)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--job":
        return run_job(sys.argv[2], sys.argv[3:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--warc", type=Path, default=WARC)
    p.add_argument("--sizes", default="1,4,16,64", help="comma-separated numbers of copies")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--one-worker-size", type=int, default=16, help="also run this size on 1 worker (0: no)")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    runs = {}
    print(f"{args.warc.name} x N, `cc2gpt curate` on the local runner "
          "(wall times are contended if the machine is shared)")
    print(f"{'size':>5}{'workers':>8}{'pages':>7}{'wall s':>8}{'pages/s':>8}{'launcher MB':>12}"
          f"{'worker MB':>10}{'extractor MB':>13}{'all MB':>8}{'shuffled B/page':>16}"
          f"{'busiest CPU s':>14}")
    plan = [(n, args.workers) for n in sizes]
    if args.one_worker_size:
        plan.append((args.one_worker_size, 1))
    for n, workers in plan:
        with tempfile.TemporaryDirectory() as tmp:
            shuffled_copies(args.warc, n, tmp)
            run = curate(f"{tmp}/*.warc.gz", f"{tmp}/out", workers)
        runs[n, workers] = run
        pages = run["funnel"]["records"] - sum(run["funnel"]["skipped"].values())
        run["pages"] = pages
        peak = run["peak"]
        print(f"{n:>4}x{workers:>8}{pages:>7}{run['wall']:>8.1f}{pages / run['wall']:>8.1f}"
              f"{peak['launcher'] / MB:>12.0f}{peak['worker'] / MB:>10.0f}{peak['extractor'] / MB:>13.0f}"
              f"{peak['sum'] / MB:>8.0f}{sum(run['shuffled'].values()) / pages:>16,.0f}"
              f"{run['busiest_cpu']:>14.1f}", flush=True)

    top = runs[max(sizes), args.workers]
    print(f"bytes per input page into each shuffle at {max(sizes)}x (largest first):")
    for name, nbytes in sorted(top["shuffled"].items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {nbytes / top['pages']:>10,.0f}  {name}")
    if args.one_worker_size:
        one, two = runs[args.one_worker_size, 1], runs[args.one_worker_size, args.workers]
        print(f"speed-up at {args.one_worker_size}x, 1 -> {args.workers} workers: "
              f"{one['wall'] / two['wall']:.2f} in wall time ({one['pages'] / one['wall']:.1f} -> "
              f"{two['pages'] / two['wall']:.1f} pages/s), {one['busiest_cpu'] / two['busiest_cpu']:.2f} "
              f"in the busiest worker's CPU time (the speed-up idle cores would allow)")
    largest = {n: max(runs[n, args.workers]["peak"][r] for r in ("launcher", "worker", "extractor"))
               for n in (min(sizes), max(sizes))}
    print(f"peak memory of the largest process: {largest[min(sizes)] / MB:.0f} MB at {min(sizes)}x, "
          f"{largest[max(sizes)] / MB:.0f} MB at {max(sizes)}x")
    print(f"ratio: {largest[min(sizes)] / largest[max(sizes)]:.2f}")


if __name__ == "__main__":
    main()
