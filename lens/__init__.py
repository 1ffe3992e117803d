"""PeopleLens runtime: perception pipeline, People Map and experiences."""

__version__ = "0.1.0"
