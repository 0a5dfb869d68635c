"""The edges of a :class:`~pyrolite.poutine.trace_struct.Trace`: which site may depend on which.

A trace is a directed graph over its site names. ``poutine.trace(fn, graph_type="dense")``
adds an edge from every earlier sample site to every later one it may depend on (see
:func:`~pyrolite.poutine.trace_messenger.add_dense_edges`); a flat trace has no edges.

The adjacency maps ``_succ`` and ``_pred`` (site name -> set of names, one entry per node, as
in Pyro) are built on first use, so a flat trace that nobody asks about pays nothing per site.
Nodes added to ``nodes`` before or after that get their (empty) entries when the maps are next
read.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any


class TraceGraph:
    """Edge bookkeeping mixed into ``Trace``; it reads ``self.nodes`` and, for a new name in
    :meth:`add_edge`, calls ``self.add_node``."""

    nodes: dict
    _edge_maps: tuple[dict[Any, set], dict[Any, set]] | None = None

    def _graph(self) -> tuple[dict[Any, set], dict[Any, set]]:
        """``(succ, pred)`` with one entry for every node (built or topped up on demand)."""
        maps = self._edge_maps
        if maps is None:
            maps = self._edge_maps = ({}, {})
        succ, pred = maps
        if len(succ) != len(self.nodes):
            for name in self.nodes:
                if name not in succ:
                    succ[name] = set()
                    pred[name] = set()
        return maps

    @property
    def _succ(self) -> dict[Any, set]:
        """Site name -> names of its successors (children)."""
        return self._graph()[0]

    @property
    def _pred(self) -> dict[Any, set]:
        """Site name -> names of its predecessors (parents)."""
        return self._graph()[1]

    @property
    def edges(self) -> Iterator[tuple[Any, Any]]:
        """Every edge as a ``(parent, child)`` pair of site names."""
        for name, children in self._graph()[0].items():
            for child in children:
                yield name, child

    def add_edge(self, site1: Hashable, site2: Hashable) -> None:
        """Record that ``site2`` depends on ``site1``; a name not yet in the trace becomes a
        bare node (a site with no fields set, ``type`` None)."""
        for name in (site1, site2):
            if name not in self.nodes:
                self.add_node(name)
        succ, pred = self._graph()
        succ[site1].add(site2)
        pred[site2].add(site1)

    def remove_node(self, site_name: Hashable) -> None:
        """Remove a site and every edge into or out of it (KeyError if it is absent)."""
        del self.nodes[site_name]
        maps = self._edge_maps
        if maps is None:
            return
        succ, pred = maps
        for parent in pred.pop(site_name, ()):
            succ[parent].discard(site_name)
        for child in succ.pop(site_name, ()):
            pred[child].discard(site_name)

    def predecessors(self, site_name: Hashable) -> set:
        """The names of the sites ``site_name`` depends on directly."""
        return self._graph()[1][site_name]

    def successors(self, site_name: Hashable) -> set:
        """The names of the sites that depend directly on ``site_name``."""
        return self._graph()[0][site_name]

    def _copy_edges_to(self, other: TraceGraph) -> None:
        maps = self._edge_maps
        if maps is not None:
            other._edge_maps = tuple({k: set(v) for k, v in m.items()} for m in maps)

    def _dfs(self, site: Hashable, visited: set) -> Iterator:
        """Post-order walk of the sites reachable from ``site`` that are not in ``visited``
        (adds them to it). Iterative, so a long chain of sites cannot hit the recursion
        limit."""
        if site in visited:
            return
        succ = self._graph()[0]
        visited.add(site)
        stack = [(site, iter(succ[site]))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if child not in visited:
                    visited.add(child)
                    stack.append((child, iter(succ[child])))
                    break
            else:
                stack.pop()
                yield node

    def topological_sort(self, reverse: bool = False) -> list:
        """Every node's name, parents before children (children first if ``reverse``)."""
        visited: set = set()
        order: list = []
        for name in list(self._graph()[0]):
            order.extend(self._dfs(name, visited))
        return order if reverse else order[::-1]
