"""Connected components inside Beam: alternating large-star / small-star rounds.

Kiveris et al., "Connected Components in MapReduce and Beyond" (SoCC 2014).
Each round is one shuffle keyed by node, so no worker ever holds more than one
node's neighbourhood. Beam has no loops, so the rounds are unrolled into the
graph, and a round whose input was already all stars (it changed nothing) stops
the work: the later rounds receive no edges, and the edges go straight to the
end. Counters per round show how many nodes each round saw and how many had
not yet settled. At convergence every component is a star around its smallest
node; a graph still unsettled after the last round fails the job.
"""
import apache_beam as beam
from apache_beam.metrics import Metrics


def _both_ways(edge):
    u, v = edge
    return [(u, v), (v, u)]


def _settled(u, nbrs: set) -> bool:
    """True when u is a star centre (all neighbours larger) or a leaf of one (one smaller neighbour)."""
    return min(nbrs) > u or len(nbrs) == 1


def _unsettled(node) -> int:
    return 0 if _settled(node[0], set(node[1])) else 1


class _LargeStar(beam.DoFn):
    """Connect every larger neighbour of u to the smallest node of u's neighbourhood."""

    def __init__(self, round_index: int):
        self.nodes = Metrics.counter("dedup", f"cc_nodes_round_{round_index:02d}")
        self.unsettled = Metrics.counter("dedup", f"cc_unsettled_round_{round_index:02d}")
        self.degrees = Metrics.distribution("dedup", "cc_degree")   # the largest neighbourhood one worker holds

    def process(self, node):
        u, nbrs = node[0], set(node[1])
        self.nodes.inc()
        self.unsettled.inc(0 if _settled(u, nbrs) else 1)   # 0 still reports the round
        self.degrees.update(len(nbrs))
        m = min(min(nbrs), u)
        for v in nbrs:
            if v > u:
                yield v, m


def _small_star(node):
    """Connect u and its smaller neighbours to the smallest of them."""
    u, nbrs = node
    smaller = {v for v in nbrs if v < u}
    if smaller:
        m = min(smaller)
        for v in smaller | {u}:
            if v != m:
                yield v, m


class _Settle(beam.DoFn):
    """Converged graph -> (node, component root) for every non-root node."""

    def __init__(self, rounds: int):
        self.rounds = rounds

    def process(self, node):
        u, nbrs = node[0], set(node[1])
        if not _settled(u, nbrs):
            raise RuntimeError(
                f"dedup connected components did not converge in {self.rounds} rounds "
                f"(node {u!r} still has {len(nbrs)} neighbours): raise DedupConfig.cc_rounds")
        if min(nbrs) < u:
            yield u, min(nbrs)


def _gate(edge, converged: bool):
    """Edges of a converged graph skip the remaining rounds (tagged `done`)."""
    yield beam.pvalue.TaggedOutput("done", edge) if converged else edge


class ConnectedComponents(beam.PTransform):
    """PCollection[(u, v)] undirected edges -> PCollection[(node, smallest node of its component)].

    Only nodes that are not their component's smallest node appear in the output.
    """

    def __init__(self, rounds: int):
        super().__init__()
        self.rounds = rounds

    def expand(self, edges):
        done, converged = [], None
        for k in range(self.rounds):
            if converged is not None:
                gated = edges | f"Gate{k}" >> beam.FlatMap(
                    _gate, beam.pvalue.AsSingleton(converged)).with_outputs("done", main="edges")
                edges = gated.edges
                done.append(gated.done)
            neighbours = (edges
                          | f"Undirect{k}" >> beam.FlatMap(_both_ways)
                          | f"Neighbours{k}" >> beam.GroupByKey())
            converged = (neighbours
                         | f"Unsettled{k}" >> beam.Map(_unsettled)
                         | f"SumUnsettled{k}" >> beam.CombineGlobally(sum)
                         | f"Converged{k}" >> beam.Map(lambda n: n == 0))
            edges = (neighbours
                     | f"LargeStar{k}" >> beam.ParDo(_LargeStar(k))
                     | f"SmallStarNeighbours{k}" >> beam.GroupByKey()
                     | f"SmallStar{k}" >> beam.FlatMap(_small_star))
        return ((edges, *done)
                | "AllEdges" >> beam.Flatten()
                | "UndirectFinal" >> beam.FlatMap(_both_ways)
                | "NeighboursFinal" >> beam.GroupByKey()
                | "Settle" >> beam.ParDo(_Settle(self.rounds)))
