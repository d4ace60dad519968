"""Units of measure and the conversion of a sensor's unit into a quantity's canonical unit.

Layer: pure functions and constant tables. No I/O.

A sensor that reports hPa, °F or ppm is stored in its quantity's canonical unit
(``quantities.yaml``), never under a label that is not true. Every conversion
here is affine (``canonical = value * factor + offset``), so it composes and
inverts exactly; the simulators use the inverse to serve a canonical value in
the sensor's own unit.

Gas mole fractions (ppm, ppb) become mass concentrations (µg/m³, mg/m³) through
the quantity's molar mass at the reference state of GB 3095-2012 as amended in
2018: 298.15 K and 101.325 kPa, where one mole of ideal gas fills
``R * T / p`` = 24.465 L.
"""

from __future__ import annotations

from dataclasses import dataclass

from device_profiles.errors import ProfileError

GAS_CONSTANT = 8.314462618  # J/(mol·K), CODATA 2018 exact value
REFERENCE_TEMPERATURE_K = 298.15
REFERENCE_PRESSURE_PA = 101_325.0
MOLAR_VOLUME_L = GAS_CONSTANT * REFERENCE_TEMPERATURE_K / REFERENCE_PRESSURE_PA * 1000.0


class UnitError(ProfileError):
    """An unknown unit, or two units that do not measure the same thing."""


@dataclass(frozen=True, slots=True)
class Affine:
    """``y = x * factor + offset``."""

    factor: float
    offset: float = 0.0

    def __call__(self, value: float) -> float:
        """Apply the conversion."""
        return value * self.factor + self.offset

    def inverse(self) -> Affine:
        """The conversion back."""
        return Affine(1.0 / self.factor, -self.offset / self.factor)

    def then(self, other: Affine) -> Affine:
        """This conversion followed by ``other``."""
        return Affine(self.factor * other.factor, self.offset * other.factor + other.offset)

    @property
    def is_identity(self) -> bool:
        """True when the conversion changes nothing."""
        return self.factor == 1.0 and self.offset == 0.0


# unit -> (dimension, affine map into the dimension's base unit)
_UNITS: dict[str, tuple[str, Affine]] = {
    # temperature, base K
    "K": ("temperature", Affine(1.0)),
    "°C": ("temperature", Affine(1.0, 273.15)),
    "°F": ("temperature", Affine(5.0 / 9.0, 273.15 - 32.0 * 5.0 / 9.0)),
    # pressure, base Pa
    "Pa": ("pressure", Affine(1.0)),
    "hPa": ("pressure", Affine(100.0)),
    "mbar": ("pressure", Affine(100.0)),
    "kPa": ("pressure", Affine(1000.0)),
    "bar": ("pressure", Affine(100_000.0)),
    "MPa": ("pressure", Affine(1_000_000.0)),
    "mmHg": ("pressure", Affine(101_325.0 / 760.0)),  # the torr; a conventional mmHg is 1.4e-7 more
    "inHg": ("pressure", Affine(3386.389)),
    "psi": ("pressure", Affine(6894.757293168)),
    # length (water level, rain, displacement), base m
    "m": ("length", Affine(1.0)),
    "cm": ("length", Affine(0.01)),
    "mm": ("length", Affine(0.001)),
    "µm": ("length", Affine(1e-6)),
    "in": ("length", Affine(0.0254)),
    # speed, base m/s
    "m/s": ("speed", Affine(1.0)),
    "km/h": ("speed", Affine(1.0 / 3.6)),
    "kn": ("speed", Affine(1852.0 / 3600.0)),
    "mph": ("speed", Affine(0.44704)),
    # plane angle, base degree
    "°": ("angle", Affine(1.0)),
    "rad": ("angle", Affine(57.29577951308232)),
    # mass concentration in air or water, base µg/m³ (1 mg/L = 1 g/m³)
    "µg/m³": ("mass_concentration", Affine(1.0)),
    "mg/m³": ("mass_concentration", Affine(1000.0)),
    "mg/L": ("mass_concentration", Affine(1_000_000.0)),
    "µg/L": ("mass_concentration", Affine(1000.0)),
    # mole fraction of a gas, base ppb
    "ppb": ("mole_fraction", Affine(1.0)),
    "ppm": ("mole_fraction", Affine(1000.0)),
    "%vol": ("mole_fraction", Affine(1e7)),
    # nutrient content of soil, base mg/kg
    "mg/kg": ("mass_fraction", Affine(1.0)),
    "g/kg": ("mass_fraction", Affine(1000.0)),
    # electric conductivity, base µS/cm
    "µS/cm": ("conductivity", Affine(1.0)),
    "mS/cm": ("conductivity", Affine(1000.0)),
    "S/m": ("conductivity", Affine(10_000.0)),
    # electric potential (ORP), base mV
    "mV": ("potential", Affine(1.0)),
    "V": ("potential", Affine(1000.0)),
    # illuminance, base lx
    "lx": ("illuminance", Affine(1.0)),
    "klx": ("illuminance", Affine(1000.0)),
    # ambient dose equivalent rate, base µSv/h
    "µSv/h": ("dose_rate", Affine(1.0)),
    "nSv/h": ("dose_rate", Affine(0.001)),
    "mSv/h": ("dose_rate", Affine(1000.0)),
    # dimensionless ratios, base %
    "%": ("ratio", Affine(1.0)),
    "%RH": ("relative_humidity", Affine(1.0)),
    "%sat": ("saturation", Affine(1.0)),
    # units without a family here: identity only
    "dB(A)": ("sound_level", Affine(1.0)),
    "pH": ("ph", Affine(1.0)),
    "NTU": ("turbidity", Affine(1.0)),
    "µmol/(m²·s)": ("photon_flux", Affine(1.0)),
    "W/m²": ("irradiance", Affine(1.0)),
    "count": ("count", Affine(1.0)),
    "code": ("code", Affine(1.0)),
    "min": ("time", Affine(60.0)),
    "s": ("time", Affine(1.0)),
    "h": ("time", Affine(3600.0)),
}

_MASS = "mass_concentration"
_MOLE = "mole_fraction"


def known_units() -> list[str]:
    """Every unit this module can convert, sorted."""
    return sorted(_UNITS)


def dimension(unit: str) -> str:
    """What ``unit`` measures (``"pressure"`` for hPa).

    Raises:
        UnitError: the unit is unknown.
    """
    return _lookup(unit)[0]


def conversion(from_unit: str, to_unit: str, molar_mass_g_mol: float | None = None) -> Affine:
    """The affine map from ``from_unit`` to ``to_unit``.

    Args:
        from_unit: the unit a sensor reports in.
        to_unit: the unit the value is wanted in (usually the canonical one).
        molar_mass_g_mol: needed between a gas mole fraction (ppm, ppb) and a
            mass concentration (µg/m³, mg/m³).

    Raises:
        UnitError: unknown units, different dimensions, or a missing molar mass.
    """
    from_dim, into_base = _lookup(from_unit)
    to_dim, to_base = _lookup(to_unit)
    if from_dim == to_dim:
        return into_base.then(to_base.inverse())
    if {from_dim, to_dim} == {_MASS, _MOLE}:
        if molar_mass_g_mol is None or molar_mass_g_mol <= 0:
            raise UnitError(
                f"converting {from_unit} to {to_unit} needs the gas's molar mass "
                "(molar_mass_g_mol in quantities.yaml)"
            )
        # 1 ppb of a gas of molar mass M is M / molar volume µg/m³
        ppb_to_ug = Affine(molar_mass_g_mol / MOLAR_VOLUME_L)
        across = ppb_to_ug if from_dim == _MOLE else ppb_to_ug.inverse()
        return into_base.then(across).then(to_base.inverse())
    raise UnitError(f"cannot convert {from_unit} ({from_dim}) to {to_unit} ({to_dim})")


def convert(
    value: float, from_unit: str, to_unit: str, molar_mass_g_mol: float | None = None
) -> float:
    """``value`` in ``from_unit`` expressed in ``to_unit`` (see :func:`conversion`)."""
    return conversion(from_unit, to_unit, molar_mass_g_mol)(value)


def _lookup(unit: str) -> tuple[str, Affine]:
    try:
        return _UNITS[unit]
    except KeyError:
        raise UnitError(f"unknown unit {unit!r}; known units: {', '.join(known_units())}") from None
