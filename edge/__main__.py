"""``python -m edge``: the edge command line."""

from edge.cli import app

app(prog_name="shanshui edge")
