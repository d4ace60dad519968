"""HJ 212 platform commands to a data logger, and the exchange that answers one.

Layer: pure (no I/O, no clock: the caller passes QN and times).

The exchange (HJ 212-2017 §7, kept by 2025): the platform sends the command
with the answer bit set; the logger answers ``CN=9011`` ``QnRtn`` (1 ready, else
why not), then, for a command that reads something, an upload of the same CN and
QN carrying the values, and last ``CN=9012`` ``ExeRtn`` (1 success ...). All
carry the command's QN. :class:`CommandExchange` follows one exchange from the
platform's side.

Commands here: 1011 / 1012 read / set the logger's time (``SystemTime``,
``YYYYMMDDhhmmss``), 1061 / 1062 read / set the real-time data interval
(``RtdInterval``, seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from wire.errors import Hj212Error
from wire.hj212.cp import parse_cp
from wire.hj212.messages import CN_EXECUTION_RESULT, CN_REQUEST_RESPONSE, ExeRtn, QnRtn
from wire.hj212.model import Edition, Packet

CN_GET_TIME = "1011"
CN_SET_TIME = "1012"
CN_GET_RTD_INTERVAL = "1061"
CN_SET_RTD_INTERVAL = "1062"
SYSTEM_TIME = "SystemTime"
RTD_INTERVAL = "RtdInterval"
#: each command, the parameter it sets (or None for one that reads)
COMMANDS: dict[str, str | None] = {
    CN_GET_TIME: None,
    CN_SET_TIME: SYSTEM_TIME,
    CN_GET_RTD_INTERVAL: None,
    CN_SET_RTD_INTERVAL: RTD_INTERVAL,
}
_TIME_FORMAT = "%Y%m%d%H%M%S"


def format_system_time(when: datetime) -> str:
    """``YYYYMMDDhhmmss`` of ``when`` (in the zone it is given in)."""
    return when.strftime(_TIME_FORMAT)


def parse_system_time(text: str) -> datetime:
    """A naive datetime from ``YYYYMMDDhhmmss``.

    Raises:
        Hj212Error: not 14 digits of a real time.
    """
    try:
        if len(text) != 14 or not text.isdigit():
            raise ValueError(text)
        return datetime.strptime(text, _TIME_FORMAT)
    except ValueError:
        raise Hj212Error(f"SystemTime {text[:20]!r} is not YYYYMMDDhhmmss") from None


def command_packet(
    cn: str,
    *,
    st: str,
    pw: str,
    mn: str,
    qn: str,
    edition: Edition = Edition.HJ212_2017,
    value: str | None = None,
) -> Packet:
    """The platform's command ``cn`` (answer required); ``value`` for a command that sets.

    Raises:
        Hj212Error: an unknown command, or a value missing or given when not taken.
    """
    if cn not in COMMANDS:
        raise Hj212Error(f"CN {cn} is not a command this platform sends")
    key = COMMANDS[cn]
    if (key is None) != (value is None):
        raise Hj212Error(f"CN {cn} {'takes no value' if key is None else 'needs a value'}")
    if key == RTD_INTERVAL and (value is None or not value.isdigit() or int(value) < 1):
        raise Hj212Error("RtdInterval must be a whole number of seconds, at least 1")
    if key == SYSTEM_TIME and value is not None:
        parse_system_time(value)
    cp = "" if key is None else f"{key}={value}"
    return Packet(st=st, cn=cn, pw=pw, mn=mn, cp=cp, qn=qn, edition=edition, ack=True)


@dataclass
class CommandExchange:
    """What came back for one command, as it comes (see the module docstring).

    Attributes:
        command: the command sent.
        qn_rtn: the ``QnRtn`` of the 9011, once it came.
        exe_rtn: the ``ExeRtn`` of the 9012, once it came.
        values: parameters of the uploads that answered (``SystemTime``, ``RtdInterval``).
    """

    command: Packet
    qn_rtn: int | None = None
    exe_rtn: int | None = None
    values: dict[str, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """Whether nothing more will come: the 9012, or a 9011 that refuses."""
        refused = self.qn_rtn is not None and self.qn_rtn != QnRtn.READY
        return self.exe_rtn is not None or refused

    @property
    def succeeded(self) -> bool:
        """Ready and executed."""
        return self.qn_rtn == QnRtn.READY and self.exe_rtn == ExeRtn.SUCCESS

    def belongs(self, packet: Packet) -> bool:
        """Whether ``packet`` is part of this exchange (same MN and QN)."""
        return packet.qn == self.command.qn and packet.mn == self.command.mn

    def feed(self, packet: Packet) -> None:
        """Take one packet of the exchange.

        Raises:
            Hj212Error: its CP cannot be read.
        """
        cp = dict(parse_cp(packet.cp).params)
        if packet.cn == CN_REQUEST_RESPONSE:
            self.qn_rtn = _code(cp, "QnRtn")
        elif packet.cn == CN_EXECUTION_RESULT:
            self.exe_rtn = _code(cp, "ExeRtn")
        elif packet.cn == self.command.cn:
            self.values.update(cp)


def _code(cp: dict[str, str], key: str) -> int:
    value = cp.get(key, "")
    if not value.isdigit():
        raise Hj212Error(f"{key} missing or not a number")
    return int(value)
