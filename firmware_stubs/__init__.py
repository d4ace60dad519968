"""Reference sensor-node firmware (MicroPython) speaking the ``wire`` formats; see README.md."""
