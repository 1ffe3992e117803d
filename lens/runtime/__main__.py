"""``python -m peoplelens.lens.runtime run|device|phone ...``: the same commands as ``peoplelens``, same errors."""

from peoplelens.cli import main

if __name__ == "__main__":
    main()
