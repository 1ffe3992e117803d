"""``python -m lens.runtime run|device|phone ...``: the same commands as ``peoplelens``, same error handling."""

from lens.cli import main

if __name__ == "__main__":
    main()
