"""`python -m quantflow` is the same as the `quantflow` console script."""

import os
import sys

from quantflow.cli import main

code = main()
if code == 130:
    # Interrupted: leave with 130 as the console script does. Under `-m`, CPython remembers a KeyboardInterrupt
    # raised inside nested evaluation even after quantflow handled it, and kills itself with SIGINT at exit.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
raise SystemExit(code)
