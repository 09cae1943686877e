"""``python -m pipeline``: the command-line entry point."""
from pipeline.cli.main import main

raise SystemExit(main())
