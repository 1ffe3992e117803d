"""``python -m peoplelens.bench``: the same as ``peoplelens bench``."""

from peoplelens.bench.cli import bench

if __name__ == "__main__":
    bench(prog_name="python -m peoplelens.bench")
