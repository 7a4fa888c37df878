"""The model registry of the overload check (Figure 1): recognised model -> duty class, gross-weight
limit and axle count, for the 26 pickup / van / cab classes of Stanford Cars embedded in the book.

The light / heavy rule
----------------------
A class is **heavy-duty** when its nominal gross vehicle weight rating (GVWR) exceeds 8,500 lb
(3,856 kg), the US federal boundary between light-duty and heavy-duty vehicles (40 CFR 86.1803-01);
otherwise it is **light-duty**. In the class names this follows the makers' own designations: the
3/4- and 1-ton "HD", "2500", "3500", "450 Super Duty" pickups and the full-size vans built on those
chassis (Express, Savana, E-Series, Sprinter, NV) are heavy-duty; half-ton and mid-size pickups, the
Escalade EXT / Avalanche and the Ram C/V minivan are light-duty.

The GVWR values are *nominal* figures for a common configuration of each model (rounded, from
memory of makers' brochures, not verified against spec sheets here): the overload check only needs
a documented, plausible limit per class. A real deployment reads its limits from the vehicle
authority's registry (``VehicleSpec`` rows, e.g. from a CSV with ``load_registry_csv``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

HEAVY_DUTY_GVWR_KG = 3856.0  # 8,500 lb: light-duty <= this < heavy-duty


@dataclass(frozen=True)
class VehicleSpec:
    """One registry row: model name, nominal GVWR (kg, the gross-weight limit) and axle count.
    The duty class follows from the GVWR (module docstring)."""

    model: str
    gvwr_kg: float
    axles: int = 2

    @property
    def duty(self) -> str:
        return "heavy" if self.gvwr_kg > HEAVY_DUTY_GVWR_KG else "light"


# Stanford Cars class id (official, 1-based) -> nominal spec
STANFORD_TRUCKS: dict[int, VehicleSpec] = {
    s_id: VehicleSpec(name, kg)
    for s_id, name, kg in [
        (53, "Cadillac Escalade EXT Crew Cab 2007", 3220),
        (54, "Chevrolet Silverado 1500 Hybrid Crew Cab 2012", 3220),
        (64, "Chevrolet Express Cargo Van 2007", 3900),
        (65, "Chevrolet Avalanche Crew Cab 2012", 3130),
        (69, "Chevrolet Silverado 2500HD Regular Cab 2012", 4170),
        (70, "Chevrolet Silverado 1500 Classic Extended Cab 2007", 3040),
        (71, "Chevrolet Express Van 2007", 3900),
        (74, "Chevrolet Silverado 1500 Extended Cab 2012", 3130),
        (75, "Chevrolet Silverado 1500 Regular Cab 2012", 3040),
        (86, "Dodge Ram Pickup 3500 Crew Cab 2010", 5220),
        (87, "Dodge Ram Pickup 3500 Quad Cab 2009", 5220),
        (88, "Dodge Sprinter Cargo Van 2009", 4080),
        (90, "Dodge Dakota Crew Cab 2010", 2770),
        (91, "Dodge Dakota Club Cab 2007", 2720),
        (106, "Ford F-450 Super Duty Crew Cab 2012", 6350),
        (111, "Ford Ranger SuperCab 2011", 2340),
        (113, "Ford F-150 Regular Cab 2012", 3040),
        (114, "Ford F-150 Regular Cab 2007", 2950),
        (116, "Ford E-Series Wagon Van 2012", 4310),
        (119, "GMC Savana Van 2012", 3900),
        (122, "GMC Canyon Extended Cab 2012", 2360),
        (124, "HUMMER H3T Crew Cab 2010", 2880),
        (125, "HUMMER H2 SUT Crew Cab 2009", 3900),
        (166, "Mercedes-Benz Sprinter Van 2012", 3880),
        (169, "Nissan NV Passenger Van 2012", 4200),
        (174, "Ram C/V Cargo Van Minivan 2012", 2720),
    ]
}

# The paper's four truck models (Sec. 4) and their duty, for reference in the chapter
PAPER_TRUCKS = {
    "FAW J7": "heavy",
    "Shaanxi Delong X3000": "heavy",
    "Dongfeng Dorica D6": "light",
    "JAC Junling V6": "light",
}


def duty_of(model: str, registry: dict | None = None) -> str:
    """'light' or 'heavy' for a model name in ``registry`` (default: STANFORD_TRUCKS)."""
    for spec in (registry or STANFORD_TRUCKS).values():
        if spec.model == model:
            return spec.duty
    raise KeyError(f"model {model!r} is not in the registry")


def load_registry_csv(path: str | Path) -> dict[str, VehicleSpec]:
    """A registry from a CSV with columns ``model,gvwr_kg[,axles]`` -> {model: VehicleSpec}."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such registry file")
    out = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"model", "gvwr_kg"} <= set(reader.fieldnames):
            raise ValueError(
                f"{path}: expected a header with at least 'model' and 'gvwr_kg', got "
                f"{reader.fieldnames}"
            )
        for i, row in enumerate(reader, start=2):
            try:
                kg = float(row["gvwr_kg"])
                axles = int(row.get("axles") or 2)
            except ValueError as e:
                raise ValueError(f"{path}, line {i}: bad number ({e})") from None
            if kg <= 0 or axles < 2:
                raise ValueError(
                    f"{path}, line {i}: gvwr_kg must be > 0 and axles >= 2, got {kg}, {axles}"
                )
            out[row["model"]] = VehicleSpec(row["model"], kg, axles)
    return out
