"""PeopleLens: a spatial-audio People Map for people who are blind.

One import package. The source folders of the repository are installed under it (``pyproject.toml`` maps
them): ``peoplelens.core`` (shared types, errors, configuration), ``peoplelens.models`` (model registry, assets,
sessions, one thin wrapper per model), ``peoplelens.lens`` (perception, world, People Map, experiences, the
pipeline and the runtime), ``peoplelens.audio``, ``peoplelens.registration_app``, ``peoplelens.sim_harness``
and ``peoplelens.bench``.
"""

__version__ = "0.2.0"
