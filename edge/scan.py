"""Find Modbus devices on a bus, guess their models, and change a device's address.

Layer: asyncio over :class:`~edge.polling.modbus_master.ModbusMaster`; no
printing (the CLI draws the progress bar from the callback). For every line
setting (baud rate, parity) and slave address, one read of holding register 0
is sent: any answer, an exception response included, means a device is there;
silence or noise means none (a device at other line settings hears noise and
stays silent). Each device found is then read with every candidate profile:
a profile matches when each of its blocks answers and every value is plausible
for its quantity. Changing an address follows the profile's writable
``slave_address`` setting (unlock, write, save), never a guessed register.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from device_profiles import Profile, ProfileError
from device_profiles.settings import SLAVE_ADDRESS
from edge.bus_timing import Parity
from edge.errors import (
    BadFrameError,
    DeviceReadError,
    EdgeError,
    ExceptionResponseError,
    NoAnswerError,
)
from edge.polling.device_read import read_points, to_readings
from edge.polling.modbus_master import ModbusMaster
from wire import Quality

# any time after 2000 will do: the readings are judged, never sent
_JUDGE_TIME_MS = 1_700_000_000_000


@dataclass(frozen=True, slots=True)
class LineSetting:
    """Baud rate and parity of one pass over the addresses."""

    baudrate: int
    parity: Parity = "N"

    def __str__(self) -> str:
        return f"{self.baudrate} 8{self.parity}1"


@dataclass(frozen=True, slots=True)
class FoundDevice:
    """A slave that answered, and the models whose registers it serves plausibly."""

    line: LineSetting
    slave: int
    models: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScanProgress:
    """How far a scan is: probes done and to do, devices found, seconds left (estimate)."""

    done: int
    total: int
    found: int
    left_s: float | None


MasterFactory = Callable[[LineSetting], ModbusMaster]
ProgressCallback = Callable[[ScanProgress], None]


class ScanError(EdgeError):
    """A scan or an address change cannot go on (no port, no such device, no setting)."""


async def scan(
    master_for: MasterFactory,
    lines: Sequence[LineSetting],
    slaves: Sequence[int],
    candidates: Sequence[Profile],
    *,
    timeout_s: float,
    progress: ProgressCallback | None = None,
    clock_s: Callable[[], float] = time.monotonic,
) -> list[FoundDevice]:
    """Probe every address at every line setting; name the models of what answers.

    Raises:
        LinkError: the port or converter cannot be opened.
    """
    total = len(lines) * len(slaves)
    found: list[FoundDevice] = []
    started_s, done = clock_s(), 0
    for line in lines:
        master = master_for(line)
        try:
            for slave in slaves:
                if await probe(master, slave, timeout_s):
                    models = await suggest_models(master, slave, candidates, line, timeout_s)
                    found.append(FoundDevice(line, slave, models))
                done += 1
                if progress is not None:
                    elapsed_s = clock_s() - started_s
                    left_s = elapsed_s / done * (total - done) if elapsed_s > 0 else None
                    progress(ScanProgress(done, total, len(found), left_s))
        finally:
            master.close()
    return found


async def probe(master: ModbusMaster, slave: int, timeout_s: float) -> bool:
    """True if ``slave`` answers a read of holding register 0 (even with an exception)."""
    try:
        await master.read(slave, 3, 0, 1, timeout_s)
    except ExceptionResponseError:
        return True
    except (NoAnswerError, BadFrameError):
        return False
    return True


async def suggest_models(
    master: ModbusMaster,
    slave: int,
    candidates: Sequence[Profile],
    line: LineSetting,
    timeout_s: float,
) -> tuple[str, ...]:
    """Models whose every point ``slave`` serves with a plausible value, best first.

    Devices with the same register layout cannot be told apart by reading them;
    the order says which is likelier: more points matched, then factory line
    settings equal to ``line``, then maps verified against a vendor document.
    """
    matches: list[Profile] = []
    for profile in candidates:
        if profile.protocol != "modbus" or not profile.points:
            continue
        try:
            values = await read_points(master, profile, slave, "scan", timeout_s=timeout_s)
        except DeviceReadError:
            continue
        conversion = to_readings("scan", profile, values, _JUDGE_TIME_MS)
        plausible = all(r.quality == Quality.NORMAL for r in conversion.readings)
        if plausible and len(conversion.readings) == len(profile.points):
            matches.append(profile)

    def likelier_first(profile: Profile) -> tuple[int, bool, bool, str]:
        serial = profile.modbus.serial
        other_line = (serial.baudrate, serial.parity) != (line.baudrate, line.parity)
        return (-len(profile.points), other_line, not profile.verified, profile.model)

    return tuple(p.model for p in sorted(matches, key=likelier_first))


async def set_address(
    master: ModbusMaster, profile: Profile, old: int, new: int, timeout_s: float
) -> bool:
    """Give the device at ``old`` the address ``new``, as ``profile``'s setting says.

    Returns:
        True when the device now answers at ``new``; False when the profile says
        the change takes effect only after a power cycle.

    Raises:
        ScanError: the profile names no ``slave_address`` setting, or refuses ``new``.
        BusError: a write failed.
    """
    setting = profile.modbus.setting(SLAVE_ADDRESS)
    if setting is None:
        raise ScanError(f"profile {profile.model} does not say how to change the address")
    try:
        code = setting.encode(new)
    except ProfileError as exc:
        raise ScanError(str(exc)) from None
    target = old
    for write in setting.writes(new):
        function = setting.write_function_code if write.address == setting.address else 6
        await master.write_register(target, write.address, write.value, timeout_s, function)
        if write.address == setting.address and write.value == code:
            if setting.effective != "immediately":
                continue
            target = new  # a save write after the change goes to the new address
    if setting.effective != "immediately":
        return False
    return await probe(master, new, timeout_s)
