"""Run every benchmark in this folder and print its figures: ``python -m bench [name ...]``."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def main(selected: list[str]) -> None:
    """Run the benchmarks named in ``selected``, or all of them."""
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("b_"))
    for name in names:
        if selected and name.removeprefix("b_") not in selected:
            continue
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name.removeprefix('b_')}: {module.__doc__.strip().splitlines()[0]}")
        module.run()
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
