"""``python -m bench``: the same as ``peoplelens bench``."""

from bench.cli import bench

if __name__ == "__main__":
    bench(prog_name="python -m bench")
