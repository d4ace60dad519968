"""Radio settings of the simulated BC28-class module: bands (``AT+NBAND``), APN (``AT+CGDCONT``).

Layer: simulator (state and answers; no I/O). As on the module, both are set
with the radio off (``AT+CFUN=0``; otherwise ``+CME ERROR:3``), kept across a
reboot, and read back with ``AT+NBAND?`` (``+NBAND:5,8``) and ``AT+CGDCONT?``
(``+CGDCONT:1,"IP","<apn>"``). A cell is found only on a band the module scans,
and when the network insists on an APN, attach waits for that one.
Sources: BC28 bands 1/3/5/8/20/28 (RT-Thread at_device BC28 configuration);
``AT+NBAND=<n>[,<n>]`` before ``AT+CFUN=1`` after a reboot (luhuadong/rtt-bc28-mqtt);
``AT+CGDCONT=<cid>,"IP","<apn>"`` (3GPP TS 27.007). That the module refuses both
while the radio is on is our reading of the manual [unverified].
"""

from __future__ import annotations

from simulators.modem_mqtt import CME_BAD_PARAMETER, CME_NOT_ALLOWED, CmeError, split_params

SUPPORTED_BANDS = (1, 3, 5, 8, 20, 28)
OK = "OK"


class RadioSettings:
    """Bands and APN; see the module docstring.

    Args:
        cell_band: the band of the only cell in reach.
        required_apn: the APN the network insists on (None: any).
    """

    def __init__(self, *, cell_band: int = 8, required_apn: str | None = None) -> None:
        self.cell_band, self.required_apn = cell_band, required_apn
        self.bands: tuple[int, ...] = SUPPORTED_BANDS
        self.apn = ""

    @property
    def can_register(self) -> bool:
        """Whether the cell is on a scanned band and the APN is one the network takes."""
        apn_ok = self.required_apn is None or self.apn == self.required_apn
        return self.cell_band in self.bands and apn_ok

    def nband(self, args: str, radio_on: bool) -> list[str]:
        """``AT+NBAND=<n>[,<n>...]``."""
        if radio_on:
            raise CmeError(CME_NOT_ALLOWED)
        fields = args.split(",")
        if not all(f.isdigit() and int(f) in SUPPORTED_BANDS for f in fields):
            raise CmeError(CME_BAD_PARAMETER)
        self.bands = tuple(int(f) for f in fields)
        return [OK]

    def read_nband(self) -> list[str]:
        """``AT+NBAND?``."""
        return ["+NBAND:" + ",".join(str(b) for b in self.bands), OK]

    def cgdcont(self, params: str, radio_on: bool) -> list[str]:
        """``AT+CGDCONT=1,"IP","<apn>"``."""
        if radio_on:
            raise CmeError(CME_NOT_ALLOWED)
        fields = split_params(params)
        if len(fields) < 3 or fields[0] != "1" or fields[1] != "IP":
            raise CmeError(CME_BAD_PARAMETER)
        self.apn = fields[2]
        return [OK]

    def read_cgdcont(self) -> list[str]:
        """``AT+CGDCONT?``."""
        return [f'+CGDCONT:1,"IP","{self.apn}"', OK]
