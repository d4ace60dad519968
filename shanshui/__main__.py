"""``python -m shanshui`` is the ``shanshui`` command."""

from shanshui.cli import app

app()
