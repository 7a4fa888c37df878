"""The overload check of Figure 1: recognised model -> gross-weight limit from a model registry;
weigh-station record (measured weight, axle count, licence plate, time) -> verdict, with the
enforcement tolerance as a parameter; a cross-check of the plate's registered model against the
recognised one. Plus a simulated stream of station events to run it end to end.

Rules (``overload_verdict``), for a recognised model with limit L (its GVWR) and tolerance t:
- measured weight W > L·(1 + t)         -> "overloaded"
- L < W <= L·(1 + t)                    -> "within tolerance" (over the rating, not enforced)
- W <= L                                -> "legal"
- recognised model not in the registry  -> "unknown model" (no limit: manual review)
Flags that send the vehicle to manual review, whatever the verdict: the plate is not registered,
the plate's registered model differs from the recognised one (a cloned, swapped or misread plate, or
a recognition error), the measured axle count differs from the model's.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import numpy as np

from .registry import VehicleSpec

STATUSES = ("legal", "within tolerance", "overloaded", "unknown model")


@dataclass(frozen=True)
class StationRecord:
    """One vehicle at the automatic weighing station."""

    event_id: int
    plate: str
    measured_kg: float
    axles: int
    time: str

    def __post_init__(self):
        if not (
            isinstance(self.measured_kg, (int, float))
            and math.isfinite(self.measured_kg)
            and self.measured_kg > 0
        ):
            raise ValueError(
                f"event {self.event_id}: measured_kg must be a positive finite weight, got "
                f"{self.measured_kg!r}"
            )
        if not isinstance(self.axles, (int, np.integer)) or self.axles < 2:
            raise ValueError(
                f"event {self.event_id}: axles must be an integer >= 2, got {self.axles!r}"
            )
        if not self.plate or not isinstance(self.plate, str):
            raise ValueError(
                f"event {self.event_id}: plate must be a non-empty string, got {self.plate!r}"
            )


@dataclass(frozen=True)
class Verdict:
    event_id: int
    plate: str
    recognised: str
    measured_kg: float
    limit_kg: float | None
    status: str
    excess_pct: float | None
    plate_unregistered: bool
    plate_mismatch: bool
    axle_mismatch: bool

    @property
    def review(self) -> bool:
        """Manual review: unknown model or any flag."""
        return (
            self.status == "unknown model"
            or self.plate_unregistered
            or self.plate_mismatch
            or self.axle_mismatch
        )


def overload_verdict(
    record: StationRecord,
    recognised: str,
    registry: dict[str, VehicleSpec],
    plates: dict[str, str],
    tolerance: float = 0.05,
) -> Verdict:
    """The verdict for one station record given the recognised model (module docstring).

    registry: {model: VehicleSpec}; plates: {plate: registered model}; tolerance: the enforcement
    tolerance t as a fraction (0.05 = 5 % over the rating is not enforced)."""
    if not 0 <= tolerance <= 0.5:
        raise ValueError(f"tolerance must be a fraction in [0, 0.5], got {tolerance}")
    spec = registry.get(recognised)
    registered = plates.get(record.plate)
    unregistered = registered is None
    mismatch = (not unregistered) and registered != recognised
    if spec is None:
        return Verdict(
            record.event_id,
            record.plate,
            recognised,
            record.measured_kg,
            None,
            "unknown model",
            None,
            unregistered,
            mismatch,
            False,
        )
    limit = float(spec.gvwr_kg)
    # rounding: W exactly at L·(1+t) is not overloaded
    enforce = round(limit * (1 + tolerance), 6)
    W = float(record.measured_kg)
    status = "overloaded" if W > enforce else ("within tolerance" if W > limit else "legal")
    return Verdict(
        record.event_id,
        record.plate,
        recognised,
        W,
        limit,
        status,
        100.0 * (W - limit) / limit,
        unregistered,
        mismatch,
        int(record.axles) != int(spec.axles),
    )


# --------------------------------------------------------------------------------- simulated stream
@dataclass(frozen=True)
class StreamTruth:
    """Ground truth of a simulated event: the vehicle's real model, whether its plate is registered
    to another model (cloned / swapped) and whether it is really overloaded (by its real model's
    limit)."""

    true_model: str
    plate_cloned: bool
    true_status: str


def simulate_stream(
    true_models: list[str],
    registry: dict[str, VehicleSpec],
    rng: np.random.Generator,
    tolerance: float = 0.05,
    overload_rate: float = 0.3,
    clone_rate: float = 0.15,
    start: str = "2026-11-24T08:00:00",
) -> tuple[list[StationRecord], dict[str, str], list[StreamTruth]]:
    """Station events for vehicles of ``true_models`` (one per event), with the plate registry.

    Weights: an overloaded vehicle weighs L·U(1 + t + 1 %, 1.4), the others L·U(0.55, 1 + t) (some
    of these are over L but within the tolerance). A fraction ``clone_rate`` of plates is registered
    to another model of the registry (a cloned or swapped plate); the rest to the real model. Axle
    counts are the real model's. Events arrive 20-90 s apart."""
    if not true_models:
        raise ValueError("simulate_stream needs at least one vehicle")
    names = sorted(registry)
    records, plates, truth = [], {}, []
    t = datetime.fromisoformat(start)
    for i, model in enumerate(true_models):
        spec = registry[model]
        over = rng.random() < overload_rate
        W = spec.gvwr_kg * (
            rng.uniform(1 + tolerance + 0.01, 1.4) if over else rng.uniform(0.55, 1 + tolerance)
        )
        plate = (
            f"{chr(65 + int(rng.integers(26)))}{chr(65 + int(rng.integers(26)))}"
            f"-{int(rng.integers(1000, 9999))}"
        )
        cloned = rng.random() < clone_rate
        plates[plate] = str(rng.choice([n for n in names if n != model])) if cloned else model
        t += timedelta(seconds=int(rng.integers(20, 90)))
        rec = StationRecord(
            i, plate, round(float(W), 1), spec.axles, t.isoformat(timespec="seconds")
        )
        records.append(rec)
        truth.append(
            StreamTruth(
                model, cloned, overload_verdict(rec, model, registry, plates, tolerance).status
            )
        )
    return records, plates, truth


def run_stream(
    records: list[StationRecord],
    recognise,
    registry: dict[str, VehicleSpec],
    plates: dict[str, str],
    tolerance: float = 0.05,
) -> tuple[list[Verdict], np.ndarray]:
    """Recognise and judge every event in arrival order. ``recognise(event_id) -> model name`` (the
    camera photos of that vehicle through the network). Returns the verdicts and the per-vehicle
    latency in ms (recognition + rules), measured here."""
    verdicts, ms = [], []
    for rec in records:
        t0 = time.perf_counter()
        model = recognise(rec.event_id)
        verdicts.append(overload_verdict(rec, model, registry, plates, tolerance))
        ms.append(1e3 * (time.perf_counter() - t0))
    return verdicts, np.array(ms)


def score_stream(
    verdicts: list[Verdict],
    truth: list[StreamTruth],
    registry: dict[str, VehicleSpec] | None = None,
) -> dict:
    """Decision quality of a stream against its ground truth:
    decisions_correct_pct: verdict status equal to the status under the real model's limit;
    decisions_correct_when_recognised_pct: the same among correctly recognised vehicles;
    missed_overloads: really overloaded vehicles not judged "overloaded";
    clones_flagged_pct: cloned plates flagged as mismatching; false_plate_alarms: honest plates
    flagged (a recognition error makes the registered model look wrong); with ``registry``, also
    light_as_heavy: light-duty vehicles recognised as a heavy-duty model (the dangerous error)."""
    ok = np.array([v.status == t.true_status for v, t in zip(verdicts, truth)])
    rec_ok = np.array([v.recognised == t.true_model for v, t in zip(verdicts, truth)])
    clones = np.array([t.plate_cloned for t in truth])
    flagged = np.array([v.plate_mismatch for v in verdicts])
    over = np.array([t.true_status == "overloaded" for t in truth])
    judged_over = np.array([v.status == "overloaded" for v in verdicts])
    pct = lambda a: float(100.0 * a.mean()) if len(a) else float("nan")
    return {
        "events": len(verdicts),
        "recognised_pct": pct(rec_ok),
        "decisions_correct_pct": pct(ok),
        "decisions_correct_when_recognised_pct": pct(ok[rec_ok]),
        "overloaded": int(over.sum()),
        "missed_overloads": int((over & ~judged_over).sum()),
        "false_overloads": int((~over & judged_over).sum()),
        "cloned_plates": int(clones.sum()),
        "clones_flagged_pct": pct(flagged[clones]),
        "false_plate_alarms": int((flagged & ~clones).sum()),
    } | (
        {}
        if registry is None
        else {
            "light_as_heavy": int(
                sum(
                    registry[t.true_model].duty == "light"
                    and v.recognised in registry
                    and registry[v.recognised].duty == "heavy"
                    for v, t in zip(verdicts, truth)
                )
            )
        }
    )


def verdict_table(verdicts: list[Verdict], truth: list[StreamTruth] | None = None, records=None):
    """A pandas DataFrame of events and verdicts (optionally with the ground truth)."""
    import pandas as pd

    rows = []
    for i, v in enumerate(verdicts):
        r = asdict(v)
        r["review"] = v.review
        if records is not None:
            r["time"] = records[i].time
        if truth is not None:
            r["true model"] = truth[i].true_model
            r["true status"] = truth[i].true_status
        rows.append(r)
    df = pd.DataFrame(rows).set_index("event_id")
    return df
