"""The ``shanshui`` command: one CLI over the edge agent, the cloud and the simulators.

Layer: composition only. This is the one package allowed to import ``edge``,
``cloud`` and ``simulators`` together (they never import each other).
"""
