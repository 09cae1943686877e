"""``python -m pipeline``: the command-line entry point."""

from pipeline.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
