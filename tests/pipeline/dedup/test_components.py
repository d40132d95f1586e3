"""Connected components in Beam (large-star / small-star) against a plain union-find."""
import random

import apache_beam as beam
import pytest
from dedup_testlib import UnionFind, run_pipeline

from pipeline.dedup.components import ConnectedComponents


def graphs() -> dict[str, list[tuple[str, str]]]:
    """Named edge lists: chains with shuffled and sorted ids, a big star, random forests and graphs."""
    rng = random.Random(7)
    out = {}
    ids = [f"{i:05d}" for i in range(300)]
    rng.shuffle(ids)
    out["chain"] = list(zip(ids, ids[1:]))
    out["sorted_chain"] = [(f"{i:03d}", f"{i + 1:03d}") for i in range(200)]
    out["star"] = [(f"{i:04d}", "9999") for i in range(1000)]
    out["tree"] = [(f"{i:03d}", f"{rng.randrange(i):03d}") for i in range(1, 300)]
    out["random"] = [(f"{rng.randrange(400):03d}", f"{rng.randrange(400):03d}") for _ in range(300)]
    out["cycle"] = [(f"{i}", f"{(i + 1) % 50}") for i in range(50)]
    # one graph, node names prefixed so the graphs stay apart
    return {name: [(f"{name}/{a}", f"{name}/{b}") for a, b in edges if a != b] for name, edges in out.items()}


@pytest.fixture(scope="module")
def components():
    edges = [e for g in graphs().values() for e in g]
    outputs, result = run_pipeline(
        lambda p: {"roots": p | beam.Create(edges, reshuffle=False) | ConnectedComponents(rounds=12)})
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    return dict(outputs["roots"]), counters, edges


def test_components_match_union_find(components):
    roots, _, edges = components
    uf = UnionFind()
    for a, b in edges:
        uf.union(a, b)
    expected = {node: uf.find(node) for node in uf.parent if uf.find(node) != node}
    assert roots == expected   # every non-root node once, with its component's smallest node


def rounds_run(counters) -> list[int]:
    """Unsettled nodes per round, for the rounds that received any node."""
    return [counters[f"cc_unsettled_round_{k:02d}"] for k in range(16)
            if counters.get(f"cc_nodes_round_{k:02d}", 0)]


def test_rounds_stop_once_one_changes_nothing(components):
    _, counters, _ = components
    unsettled = rounds_run(counters)
    assert unsettled[0] > 500
    # every round until the first that found nothing to settle ran; none after it did
    assert unsettled.index(0) == len(unsettled) - 1 < 11


def components_of_chain(nodes: int, rounds: int):
    chain = [(f"{i:03d}", f"{i + 1:03d}") for i in range(nodes - 1)]
    outputs, result = run_pipeline(
        lambda p: {"roots": p | beam.Create(chain, reshuffle=False) | ConnectedComponents(rounds=rounds)})
    return dict(outputs["roots"]), {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}


def test_a_chain_stops_after_the_rounds_it_needs_and_fails_with_fewer():
    roots, counters = components_of_chain(100, rounds=12)
    assert roots == {f"{i:03d}": "000" for i in range(1, 100)}
    needed = rounds_run(counters).index(0)   # rounds that changed the graph
    assert 3 <= needed < 11
    assert components_of_chain(100, rounds=needed)[0] == roots
    with pytest.raises(Exception, match=f"did not converge in {needed - 1} rounds"):
        components_of_chain(100, rounds=needed - 1)
