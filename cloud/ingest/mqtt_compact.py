"""``MqttCompactFrames``: NB-IoT compact frames that a module's MQTT client publishes.

Layer: ingest logic for the MQTT worker (no MQTT client, no SQL). An NB-IoT
module with its own MQTT stack (Quectel's ``AT+QMTPUB``) publishes each compact
frame on ``{root}/{gateway}/up/compact`` as upper-case hex text (the module's
payloads are text ended by Ctrl-Z, so binary cannot pass). The worker hands
such messages here instead of to the JSON path: the frame is verified and
settled by :class:`cloud.ingest.compact_frames.CompactFrames`, exactly as one
that came over UDP, and only then is the signed compact acknowledgement
published, as hex too, on ``{root}/{gateway}/down/compact-ack``, which the module
subscribes to. A frame that cannot be verified is kept as a dead letter and
answered with nothing. While the database is unavailable the settling is
retried with the pipeline's back-off and the message is not PUBACKed, as for
JSON batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from cloud.ingest.compact_frames import CompactFrames
from cloud.ingest.decode import MALFORMED, Rejected, channel_of
from cloud.ingest.pipeline import IngestPipeline, Settled
from cloud.ingest.registries import ChannelTables
from wire.compact import Channel

log = logging.getLogger(__name__)

COMPACT = "compact"


def compact_ack_topic(topic_root: str, gateway_id: str) -> str:
    """``{root}/{gateway}/down/compact-ack``."""
    return f"{topic_root}/{gateway_id}/down/compact-ack"


class MqttCompactFrames:
    """Settles ``up/compact`` messages and publishes their acknowledgement.

    Args:
        pipeline: the worker's pipeline.
        tables: each gateway's channel table.
        publish: sends ``(topic, payload)`` at QoS 1 (the worker's client).
    """

    def __init__(
        self,
        pipeline: IngestPipeline,
        tables: ChannelTables | Mapping[str, Sequence[Channel]],
        publish: Callable[[str, bytes], None],
    ) -> None:
        self._frames = CompactFrames(pipeline, pipeline.storage, tables)
        self._pipeline = pipeline
        self._root = pipeline.topic_root
        self._publish = publish
        self.acks_published = 0

    def handles(self, topic: str) -> bool:
        """Whether ``topic`` is some gateway's ``up/compact``."""
        channel = channel_of(self._root, topic)
        return channel is not None and channel.name == COMPACT

    async def settle(self, topic: str, payload: bytes) -> Settled:
        """Settle one message of :meth:`handles`' topic; acknowledge it after the commit.

        Raises:
            StoppingError: the pipeline stops while the database is unavailable.
        """
        channel = channel_of(self._root, topic)
        assert channel is not None  # noqa: S101 - handles() said so
        try:
            frame = bytes.fromhex(payload.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            rejected = Rejected(MALFORMED, "up/compact carries no hex text", channel.gateway_id)
            return await self._pipeline.refuse(topic, payload, rejected)
        settled, ack = await self._pipeline.retrying(  # the database down: wait, no PUBACK
            lambda: self._frames.settle_frame(topic, frame, channel.gateway_id)
        )
        if ack is not None:
            reply_topic = compact_ack_topic(self._root, channel.gateway_id)
            self._publish(reply_topic, ack.hex().upper().encode("ascii"))
            self.acks_published += 1
        return settled
