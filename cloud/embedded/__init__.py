"""Real servers started on demand: PostgreSQL from a wheel, an MQTT broker from a wheel.

Layer: process management. Used when no ``SHANSHUI_DATABASE_URL`` or
``SHANSHUI_MQTT_URL`` is given (``make demo``, a laptop, CI). Production points
Shanshui at its own TimescaleDB and Mosquitto/EMQX and starts nothing here.
"""
