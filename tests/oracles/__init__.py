"""Oracles: independent implementations the engine's results are compared with.

- `interpreter`: a tree-walking interpreter of the typed program (any policy), the other side
  of the differential property tests and of the fuzzer;
- `contracts`: hand-written Python implementations of the shipped policies' contracts, written
  from the contracts' text without reading the policies.
"""
