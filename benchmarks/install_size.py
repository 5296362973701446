"""What the README's setup commands install: each in a fresh venv made from a git revision of this repository,
timed, then weighed (du of the venv) and checked for two TensorFlow or two OpenCV distributions, which would share
one import folder. Downloads come from the package index (pip's cache makes a second run faster).

    python benchmarks/install_size.py [--revision HEAD] [--tests-only]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

SHARED_FOLDERS = {"tensorflow": re.compile(r"^tensorflow(-cpu|-intel)?$|^tf-nightly"),
                  "opencv": re.compile(r"^opencv-(contrib-)?python(-headless)?$")}


def setup_commands(readme: str) -> list[str]:
    """The one-line bash blocks of the README's Setup section, in order."""
    section = readme.split("## Setup", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def install(checkout: Path, command: str, venv: Path) -> dict:
    """Run the install part of `command` (up to the quantflow or pytest run) in a fresh venv inside `checkout`."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    steps = [part.strip() for part in command.split("&&") if part.strip().startswith("pip ")]
    start = time.perf_counter()
    subprocess.run(" && ".join(f"{venv}/bin/python -m {step}" for step in steps), shell=True, cwd=checkout,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    listed = subprocess.run([f"{venv}/bin/python", "-m", "pip", "list", "--format=freeze"], capture_output=True,
                            text=True, check=True).stdout.split()
    names = [line.split("==")[0].lower().replace("_", "-") for line in listed]
    size = int(subprocess.run(["du", "-sm", str(venv)], capture_output=True, text=True).stdout.split()[0])
    return {"seconds": seconds, "megabytes": size, "distributions": len(names),
            **{family: [n for n in names if pattern.match(n)] for family, pattern in SHARED_FOLDERS.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revision", default="HEAD", help="git revision whose README and pyproject to install")
    parser.add_argument("--tests-only", action="store_true", help="only the second (test) setup command")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="quantflow_install_") as tmp:
        checkout = Path(tmp) / "checkout"
        checkout.mkdir()
        archive = subprocess.run(["git", "archive", args.revision], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive, check=True)
        commands = setup_commands((checkout / "README.md").read_text())
        if args.tests_only:
            commands = commands[-1:]
        for number, command in enumerate(commands, 1):
            found = install(checkout, command, Path(tmp) / f"venv{number}")
            print(f"{args.revision}: {command}\n  {found['seconds']:.0f} s, {found['megabytes']} MB, "
                  f"{found['distributions']} distributions, TensorFlow {found['tensorflow']}, "
                  f"OpenCV {found['opencv']}", flush=True)


if __name__ == "__main__":
    main()
