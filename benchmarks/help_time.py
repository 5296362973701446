"""Start-up cost a user feels on every command: `quantflow --help` (should stay well under a second, so heavy
libraries must not load) and `quantflow check` (validates config, data, model and decoder; converts the model).

    python benchmarks/help_time.py [--config configs/ssd.yml] [--set key=value ...] [--repeat 10]
"""

from __future__ import annotations

import statistics

from common import parser, quantflow_command, spread, wall_time

TARGET_HELP = 1.0



def main() -> None:
    options = parser(__doc__.split("\n\n")[0], repeat=10).parse_args()
    quantflow = quantflow_command()
    commands = {
        "--help": [*quantflow, "--help"],
        "check": [*quantflow, "check", "--config", str(options.config), *(f"--set={o}" for o in options.overrides)],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for rep in range(options.repeat):
        for name in (commands if rep % 2 == 0 else reversed(commands)):
            times[name].append(wall_time(commands[name]))
    print(f"command: {' '.join(quantflow)}")
    for name, values in times.items():
        print(f"quantflow {name}: {spread(values, ' s', 3)}")
    median = statistics.median(times["--help"])
    print(f"--help target < {TARGET_HELP:g} s: {'met' if median < TARGET_HELP else 'MISSED'}")


if __name__ == "__main__":
    main()
