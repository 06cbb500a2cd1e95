"""HRTEM image formation of metal nanoparticles on amorphous carbon, exact segmentation labels, and the recipe.

* :mod:`~atomdata.sim.hrtem.structures` -- FCC nanoparticles (Wulff shapes, octahedra, decahedra,
  icosahedra; twins; zone axes) and amorphous-carbon supports;
* :mod:`~atomdata.sim.hrtem.potentials` -- projected potentials (Lobato-Van Dyck 2014);
* :mod:`~atomdata.sim.hrtem.optics` -- wavelength, lens transfer, partial coherence, camera MTF;
* :mod:`~atomdata.sim.hrtem.image` -- multislice, lens, camera and dose;
* :mod:`~atomdata.sim.hrtem.labels` -- masks and instance images from projected atom positions;
* :mod:`~atomdata.sim.hrtem.sample`, :mod:`~atomdata.sim.hrtem.benchmark` -- one image, and the
  splits and sweeps of each benchmark version (the recipe ``atomdata build atomdata-hrtem`` runs);
* :mod:`~atomdata.sim.hrtem.fidelity` -- comparison with abTEM (optional extra).
"""
from __future__ import annotations

from atomdata.sim.hrtem.benchmark import DATASET_NAME, DEFAULT_VERSION, HRTEMConfig, hrtem_config, split_specs

__all__ = ["DATASET_NAME", "DEFAULT_VERSION", "HRTEMConfig", "hrtem_config", "split_specs"]
