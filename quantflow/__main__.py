"""`python -m quantflow` is the same as the `quantflow` console script."""

from quantflow.cli import main

raise SystemExit(main())
