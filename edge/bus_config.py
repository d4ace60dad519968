"""The ``buses:`` section of ``gateway.yaml``: bus types, line settings, devices.

Layer: pydantic models only (no I/O); :mod:`edge.config` reads the file and
reports errors as ``file:line: key: message``.

Bus types (the ``type`` key):

``modbus_tcp``
    a Modbus TCP device or gateway (``host``, ``port``).
``modbus_rtu``
    an RS-485 line on a serial port (``port``, ``baudrate``, ``parity``,
    ``stopbits``, ``bytesize``).
``modbus_rtu_over_tcp``
    an RS-485-to-Ethernet converter in transparent mode: RTU frames over TCP
    (``host``, ``port``; ``baudrate`` etc. describe the RS-485 side and set
    the silences kept between frames).
``ascii``
    one serial sensor speaking a line protocol (its profile's grammar): ``port``
    and line settings; the device has no slave id.

Every bus has ``timeout_s``, ``retries`` (extra attempts of a request that got
no usable answer), ``backoff_max_s`` (the longest a silent device waits between
attempts) and ``turnaround_s`` (extra silence after each reply, for slow
devices). RTU buses also have ``inter_frame_gap_s``, defaulting to the spec's
t3.5 for the baud rate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from device_profiles import Calibration, Profile, builtin_profile
from device_profiles.yaml_source import LocatedError
from edge.bus_timing import Parity, char_time_s, silent_interval_s

# The wire rule for a reading's device id (wire.batch._ID), so a bad id fails here, not in a poll.
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
BUS_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
BUS_TYPES = ("modbus_tcp", "modbus_rtu", "modbus_rtu_over_tcp", "ascii")
FIRST_SLAVE, LAST_SLAVE = 1, 247
STANDARD_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)

_STRICT = ConfigDict(extra="forbid", frozen=True)


def check_slave(slave: int) -> int:
    """Refuse the broadcast id 0 and the reserved 248..255 with a message that says why."""
    if slave == 0:
        raise ValueError(
            "slave 0 is the Modbus broadcast address (no device answers it): use 1..247"
        )
    if 248 <= slave <= 255:
        raise ValueError(f"slave {slave} is reserved by the Modbus specification: use 1..247")
    if not FIRST_SLAVE <= slave <= LAST_SLAVE:
        raise ValueError(f"slave {slave} is not a Modbus address: use 1..247")
    return slave


class DeviceBase(BaseModel):
    """What every device has: an id, a model, a poll interval, a calibration.

    Subclasses declare ``interval_s`` and ``calibration`` after their own keys,
    so that problems are reported in the order a technician writes the keys.
    """

    model_config = _STRICT

    id: str = Field(pattern=DEVICE_ID_PATTERN)
    model: str
    if TYPE_CHECKING:  # declared by each subclass, after its own keys
        interval_s: float
        calibration: Calibration | None

    @property
    def profile(self) -> Profile:
        """The built-in device profile of this device's model."""
        return builtin_profile(self.model)


class DeviceConfig(DeviceBase):
    """One Modbus sensor on a bus."""

    slave: int
    interval_s: float = Field(default=5.0, ge=0.05, le=86400)
    # the device's own correction (value * factor + offset, in the canonical unit),
    # from a technician's check against a reference instrument
    calibration: Calibration | None = None

    @field_validator("slave")
    @classmethod
    def _legal_slave(cls, value: int) -> int:
        return check_slave(value)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        # ProfileError is a ValueError: its message lists known models
        if builtin_profile(value).protocol != "modbus":
            raise ValueError(f"{value} is a serial ASCII sensor: put it on a bus of type ascii")
        return value


class AsciiDeviceConfig(DeviceBase):
    """The one sensor of an ``ascii`` bus (no slave id: the port is the sensor's)."""

    interval_s: float = Field(default=5.0, ge=0.05, le=86400)
    calibration: Calibration | None = None

    @field_validator("model")
    @classmethod
    def _ascii_model(cls, value: str) -> str:
        if builtin_profile(value).protocol != "ascii":
            raise ValueError(f"{value} speaks Modbus: put it on a modbus_rtu bus")
        return value


class _Bus(BaseModel):
    """What every bus has: a name, timing of answers, and devices."""

    model_config = _STRICT

    name: str = Field(pattern=BUS_NAME_PATTERN)
    timeout_s: float = Field(default=1.0, gt=0, le=60)
    retries: int = Field(default=1, ge=0, le=5)
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600)
    turnaround_s: float = Field(default=0.0, ge=0, le=5)
    # not Field(min_length=1): on a tuple whose items all failed, pydantic adds "Tuple
    # should have at least 1 item after validation, not 0" to the real error
    devices: tuple[DeviceConfig, ...]

    @field_validator("devices")
    @classmethod
    def _some_devices(cls, value: tuple[DeviceConfig, ...]) -> tuple[DeviceConfig, ...]:
        if not value:
            raise ValueError("a bus needs at least one device")
        return value

    @model_validator(mode="after")
    def _distinct_slaves(self) -> Self:
        seen: dict[int, int] = {}
        for index, device in enumerate(self.devices):
            if device.slave in seen:
                raise LocatedError(
                    ("devices", index, "slave"),
                    f"slave {device.slave} is already used by devices[{seen[device.slave]}]",
                )
            seen[device.slave] = index
        return self


class _SerialLine(BaseModel):
    """Line settings of an RS-485 segment."""

    baudrate: int = Field(default=9600, ge=300, le=921600)
    parity: Parity = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    inter_frame_gap_s: float | None = Field(default=None, ge=0, le=1)

    @property
    def char_s(self) -> float:
        """Seconds per byte on the line."""
        return char_time_s(self.baudrate, self.parity, self.stopbits, self.bytesize)

    @property
    def gap_s(self) -> float:
        """The silence kept between frames: configured, else t3.5 for the baud rate."""
        if self.inter_frame_gap_s is not None:
            return self.inter_frame_gap_s
        return silent_interval_s(self.baudrate, self.parity, self.stopbits, self.bytesize)

    @property
    def line(self) -> str:
        """``9600 8N1``."""
        return f"{self.baudrate} {self.bytesize}{self.parity}{self.stopbits}"


class ModbusTcpBus(_Bus):
    """A Modbus TCP endpoint (a sensor, or a TCP-to-RS-485 gateway) and its slaves."""

    type: Literal["modbus_tcp"]
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    retries: int = Field(default=0, ge=0, le=5)

    @property
    def where(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"


class ModbusRtuBus(_Bus, _SerialLine):
    """An RS-485 line on a serial port of the gateway."""

    type: Literal["modbus_rtu"]
    port: str = Field(min_length=1, description="serial device, e.g. /dev/ttyUSB0")
    timeout_s: float = Field(default=0.5, gt=0, le=60)

    @property
    def where(self) -> str:
        """``/dev/ttyUSB0 9600 8N1``."""
        return f"{self.port} {self.line}"


class ModbusRtuOverTcpBus(_Bus, _SerialLine):
    """An RS-485-to-Ethernet converter in transparent mode: RTU frames over TCP."""

    type: Literal["modbus_rtu_over_tcp"]
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)

    @property
    def where(self) -> str:
        """``host:port (RS-485 side 9600 8N1)``."""
        return f"{self.host}:{self.port} (RS-485 side {self.line})"


class AsciiBus(_SerialLine):
    """A serial port with one sensor that speaks a line protocol (streamed or on request)."""

    model_config = _STRICT

    name: str = Field(pattern=BUS_NAME_PATTERN)
    type: Literal["ascii"]
    port: str = Field(min_length=1, description="serial device, e.g. /dev/ttyUSB1")
    timeout_s: float = Field(default=2.0, gt=0, le=60)
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600)
    devices: tuple[AsciiDeviceConfig, ...]

    @field_validator("devices")
    @classmethod
    def _one_device(cls, value: tuple[AsciiDeviceConfig, ...]) -> tuple[AsciiDeviceConfig, ...]:
        if len(value) != 1:
            raise ValueError("an ascii bus carries exactly one sensor")
        return value

    @property
    def where(self) -> str:
        """``/dev/ttyUSB1 9600 8N1``."""
        return f"{self.port} {self.line}"


# `type` discriminates
BusConfig = Annotated[
    ModbusTcpBus | ModbusRtuBus | ModbusRtuOverTcpBus | AsciiBus, Field(discriminator="type")
]
