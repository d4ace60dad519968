"""``python -m simulators``: the simulator command line."""

from simulators.cli import app

app(prog_name="shanshui sim")
