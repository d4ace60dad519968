"""The error family of the simulators.

Layer: plain exception classes.

    SimulatorError (ValueError)     a simulator cannot be built or started as asked
"""

from __future__ import annotations


class SimulatorError(ValueError):
    """A simulator cannot be built or started as asked (bad slave id, port in use, ...)."""
