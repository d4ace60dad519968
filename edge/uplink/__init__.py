"""Uplinks: transports that deliver sealed batches and report confirmations."""

from edge.uplink.base import Uplink
from edge.uplink.mqtt import MqttUplink
from edge.uplink.mqtt_topics import ack_topic, status_topic, telemetry_topic

__all__ = ["MqttUplink", "Uplink", "ack_topic", "status_topic", "telemetry_topic"]
