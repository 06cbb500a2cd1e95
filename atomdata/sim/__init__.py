"""Simulation: images and exact labels made from physics, one folder per imaging technique.

* :mod:`atomdata.sim.stem` -- incoherent HAADF-STEM images of atomic columns (the atom-finding
  benchmark: structures, probes, scan distortions, noise, the benchmark recipe);
* :mod:`atomdata.sim.seeds` -- every image is a pure function of (dataset version, split, index).

Nothing here reads or writes files: a recipe turns (version, split, index) into a record and
an image; :mod:`atomdata.build` writes them.
"""
