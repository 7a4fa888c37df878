"""The evidence layer: statistics against scipy/statsmodels and hand-computed cases, claims and
their verdicts, the results files of a seeded run, and the machine-independent regression checks."""

import json

import numpy as np
import pytest
from scipy import stats as sps

from neurovis.core import claims, regression, results, stats
from neurovis.core.claims import Claim, Evidence
from neurovis.core.scale import check_scale, seeds_for


def test_mean_sd_matches_numpy_sample_sd():
    s = stats.mean_sd([1.0, 2.0, 4.0])
    assert s["mean"] == pytest.approx(7 / 3)
    assert s["sd"] == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert s["n"] == 3 and s["values"] == [1.0, 2.0, 4.0]
    assert stats.mean_sd([5.0])["sd"] == 0.0
    with pytest.raises(ValueError, match="non-finite"):
        stats.mean_sd([1.0, float("nan")])


def test_paired_bootstrap_ci_is_scipys_bca_on_the_differences():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 1.0, 40), rng.normal(0.0, 1.0, 40)
    res = stats.paired_bootstrap_ci(a, b, seed=3)
    direct = sps.bootstrap(
        (a - b,), np.mean, method="BCa", n_resamples=10_000, rng=np.random.default_rng(3)
    ).confidence_interval
    assert res["effect"] == pytest.approx(np.mean(a - b))
    assert res["ci"] == pytest.approx([direct.low, direct.high])
    assert res["ci"][0] < res["effect"] < res["ci"][1]
    # lower is better: the sign flips so that positive still means "the method is better"
    flipped = stats.paired_bootstrap_ci(a, b, higher_is_better=False, seed=3)
    assert flipped["effect"] == pytest.approx(-res["effect"])


def test_bootstrap_ci_covers_a_known_mean_difference_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(60):
        d = rng.normal(0.5, 1.0, 30)
        lo, hi = stats.paired_bootstrap_ci(d, np.zeros(30), n_resamples=2000)["ci"]
        hits += lo <= 0.5 <= hi
    assert 50 <= hits <= 60


def test_degenerate_and_single_pair_cases():
    same = stats.paired_bootstrap_ci([2.0, 2.0, 2.0], [1.0, 1.0, 1.0])
    assert same == {"effect": 1.0, "ci": [1.0, 1.0], "n": 3}
    one = stats.paired_bootstrap_ci([2.0], [1.0])
    assert one["n"] == 1 and stats.verdict(one["ci"], one["n"]) == "inconclusive"
    with pytest.raises(ValueError, match="equal lengths"):
        stats.paired_bootstrap_ci([1.0, 2.0], [1.0])


@pytest.mark.parametrize(
    "ci,n,expected",
    [
        ([0.1, 0.5], 5, "reproduced"),
        ([-0.5, -0.1], 5, "contradicted"),
        ([-0.1, 0.2], 5, "inconclusive"),
        ([0.0, 0.2], 5, "inconclusive"),
        ([0.1, 0.5], 1, "inconclusive"),
    ],
)
def test_verdict_from_the_ci(ci, n, expected):
    assert stats.verdict(ci, n) == expected


def test_mcnemar_hand_computed_and_against_statsmodels():
    from statsmodels.stats.contingency_tables import mcnemar as sm

    # 10 items: both right on 5, only A right on 4, only B right on 1
    a = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 0], bool)
    b = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 1], bool)
    res = stats.mcnemar(a, b)
    assert (res["a_only"], res["b_only"], res["n"]) == (4, 1, 10)
    # exact test: two-sided binomial p of 1 success in 5 at p=0.5 = 2 * (1 + 5) / 32
    assert res["pvalue"] == pytest.approx(12 / 32)
    assert res["pvalue"] == pytest.approx(sm([[5, 4], [1, 0]], exact=True).pvalue)
    big = stats.mcnemar(
        np.r_[np.ones(40), np.zeros(10)].astype(bool), np.r_[np.zeros(30), np.ones(20)].astype(bool)
    )
    # chi2 with continuity correction: (|b - c| - 1)^2 / (b + c) with b=30, c=10
    assert big["statistic"] == pytest.approx((abs(30 - 10) - 1) ** 2 / 40)


def test_wilcoxon_matches_scipy_and_handles_identical_errors():
    rng = np.random.default_rng(2)
    a, b = rng.random(25), rng.random(25) + 0.2
    res = stats.wilcoxon(a, b)
    direct = sps.wilcoxon(a, b)
    assert res["statistic"] == pytest.approx(direct.statistic) and res["pvalue"] == pytest.approx(
        direct.pvalue
    )
    assert res["median_difference"] == pytest.approx(np.median(a - b))
    assert stats.wilcoxon(a, a)["pvalue"] == 1.0


def test_scales_and_seeds():
    assert check_scale("reference") == "reference"
    assert seeds_for("small") == [0] and seeds_for("small", small=3) == [0, 1, 2]
    assert seeds_for("reference", seed=10) == [10, 11, 12, 13, 14]
    with pytest.raises(ValueError, match="scale must be one of"):
        check_scale("huge")


def _evidence(gap_items=0.3, gap_seeds=0.2):
    rng = np.random.default_rng(0)
    ev = Evidence()
    for s in range(5):
        base = rng.normal(0, 1, 30)
        ev.add(
            s,
            {"m": 1 + gap_seeds + 0.01 * s, "b": 1.0 + 0.01 * s},
            items={"m_items": base + gap_items + rng.normal(0, 0.1, 30), "b_items": base},
        )
    return ev


def test_claims_use_items_x_seeds_when_paired_items_exist_else_seeds():
    ev = _evidence()
    per_seed, per_item = ev.evaluate_all(
        [
            Claim("s", "m beats b", "Table 1", method="m", baseline="b"),
            Claim("i", "m beats b per item", "Table 1", method="m_items", baseline="b_items"),
        ]
    )
    assert (
        per_seed["unit"] == "seeds"
        and per_seed["n"] == 5
        and per_seed["effect"] == pytest.approx(0.2)
    )
    assert per_seed["verdict"] == "reproduced"
    assert (
        per_item["unit"] == "test items × seeds"
        and per_item["n"] == 150
        and per_item["n_seeds"] == 5
    )
    assert (
        per_item["effect"] == pytest.approx(0.3, abs=0.05) and per_item["verdict"] == "reproduced"
    )
    # the paper's direction is "lower is better": the same data now contradict the claim
    [lower] = ev.evaluate_all(
        [Claim("l", "m has lower error", "T2", method="m", baseline="b", higher_is_better=False)]
    )
    assert lower["effect"] == pytest.approx(-0.2) and lower["verdict"] == "contradicted"


def test_a_gap_inside_the_noise_is_inconclusive():
    rng = np.random.default_rng(5)
    ev = Evidence()
    for s in range(5):
        ev.add(s, {"m": rng.normal(0, 1), "b": rng.normal(0, 1)})
    [c] = ev.evaluate_all([Claim("n", "noise", "T", method="m", baseline="b")])
    assert c["ci"][0] < 0 < c["ci"][1] and c["verdict"] == "inconclusive"


def test_claims_reject_bad_definitions_and_missing_metrics():
    with pytest.raises(ValueError, match="same metric"):
        Claim("x", "t", "s", method="a", baseline="a")
    with pytest.raises(ValueError, match="non-empty"):
        Claim("x", "", "s", method="a", baseline="b")
    with pytest.raises(KeyError, match="no values recorded"):
        _evidence().evaluate(Claim("x", "t", "s", method="nope", baseline="b"))
    with pytest.raises(ValueError, match="unique"):
        _evidence().evaluate_all([Claim("x", "t", "s", method="m", baseline="b")] * 2)
    with pytest.raises(ValueError, match="not finite"):
        Evidence().add(0, {"m": float("inf")})


def test_save_evidence_writes_the_reference_schema_and_the_claims_table_reads_it(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("NEUROVIS_RESULTS_DIR", str(tmp_path))
    cl = [Claim("s", "m beats b", "Table 1", method="m", baseline="b", paper="+0.5 (Table 1)")]
    path = results.save_evidence(
        "98_probe", "reference", _evidence(), cl, data="generated", settings={"steps": 1000}
    )
    rec = json.loads(path.read_text())
    assert rec["seeds"] == [0, 1, 2, 3, 4]
    assert set(rec["metrics"]["m"]) == {"mean", "sd", "n", "values"}
    assert rec["claims"][0]["verdict"] == "reproduced"
    assert {"effect", "ci", "n", "verdict", "text", "source"} <= set(rec["claims"][0])
    prov = rec["provenance"]
    assert prov["settings"] == {"steps": 1000} and {
        "commit",
        "date",
        "machine",
        "cpu",
        "device",
        "code_hash",
    } <= set(prov)
    small_ev = Evidence()
    small_ev.add(0, {"m": 1.1, "b": 1.0})
    df = claims.table("98_probe", cl, small=small_ev.evaluate_all(cl))
    row = df.iloc[0]
    assert row["paper"] == "+0.5 (Table 1)"
    assert row["verdict"].startswith("reproduced") and row["ours (reference)"].endswith("; 5 seeds")
    assert row["ours (small, this run)"] == "+0.10 (n=1, no CI)"
    # run_table: the small run's view is table(); a reference run shows its own evaluation
    small_view = claims.run_table("98_probe", cl, small_ev.evaluate_all(cl), "small")
    assert small_view.equals(df)
    ref_view = claims.run_table("98_probe", cl, _evidence().evaluate_all(cl), "reference")
    assert list(ref_view.columns) == ["paper", "ours (reference, this run)", "verdict"]
    assert ref_view.iloc[0]["verdict"] == "reproduced"
    # the paper-vs-ours table has the reference column (mean ± sd over seeds)
    results.save_evidence("98_probe", "small", small_ev, cl)
    t = results.table("98_probe", "small")
    ref_col = [c for c in t.columns if c.startswith("ours (reference")][0]
    assert t.loc["m", ref_col].startswith("1.22 ± 0.02 (n=5)")


def test_a_reference_run_older_than_its_code_is_stale(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROVIS_RESULTS_DIR", str(tmp_path))
    rec = {
        "chapter": "11_restoration",
        "provenance": {"code_hash": results.code_hash("11_restoration")},
    }
    assert not results.is_stale(rec)
    rec["provenance"]["code_hash"] = "0" * 16
    assert results.is_stale(rec)
    assert results.is_stale({"chapter": "11_restoration", "provenance": {}})


def test_regression_checks_print_stable_text_and_the_value_only_on_failure():
    ok = regression.report(
        regression.band("MAE", 8.31, expected=8.0, tol=1.0),
        regression.below("MAE", 8.31, "mean predictor", 10.7),
        regression.above("accuracy", 0.61, "chance", 0.25, margin=0.1),
    )
    assert (
        ok
        == "ok   MAE in 8 ± 1\nok   MAE below mean predictor\nok   accuracy above chance by more "
        "than 0.1"
    )
    assert "8.31" not in ok
    bad = str(regression.band("MAE", 9.5, expected=8.0, tol=1.0))
    assert bad == "FAIL MAE = 9.5, outside 8 ± 1"
    assert str(regression.band("MAE", float("nan"), 8.0, 1.0)).startswith("FAIL")
    assert (
        str(regression.below("err", 3.0, "chance", 2.0)) == "FAIL err = 3 is not below chance = 2"
    )
    with pytest.raises(ValueError, match="tolerance must be positive"):
        regression.band("x", 1.0, 1.0, 0.0)
    with pytest.raises(TypeError, match="Check objects"):
        regression.report("ok")


def test_the_makefile_and_the_runner_pin_the_same_float_path():
    from neurovis.core.data import repo_root

    text = (repo_root() / "Makefile").read_text()
    for key, value in regression.CPU_FLOAT_PATH.items():
        assert f"export {key} ?= {value}" in text
    env = {"MKL_CBWR": "COMPATIBLE"}
    assert regression.pin_float_path(env) == {**regression.CPU_FLOAT_PATH, "MKL_CBWR": "COMPATIBLE"}


def test_ledger_lists_every_claim_with_its_verdict_and_marks_stale_runs(tmp_path, monkeypatch):
    from neurovis.site import pages

    root = tmp_path
    (root / "data").mkdir()
    (root / "notebooks").mkdir()
    (root / "book" / "results").mkdir(parents=True)
    for ch in ("01_alpha", "02_beta"):
        (root / "notebooks" / f"{ch}.py").write_text("# %%\nprint(1)\n")
    monkeypatch.setenv("NEUROVIS_ROOT", str(root))
    monkeypatch.setenv("NEUROVIS_RESULTS_DIR", str(root / "book" / "results"))
    cl = [
        Claim("a", "m beats b", "Table 2", method="m", baseline="b", paper="+1.0"),
        Claim("z", "b has lower m", "Sec 4", method="b", baseline="m"),
    ]
    results.save_evidence(
        "01_alpha", "reference", _evidence(), cl, data="UTD-MHAD", data_kind="real"
    )
    page = pages.ledger_page(root)
    assert "2 claims with a reference run: 1 reproduced, 1 contradicted, 0 inconclusive" in page
    assert "| m beats b (Table 2) | **reproduced** |" in page and "| +1.0 |" in page
    assert "| 01_alpha | reference, 5 | real |" in page  # the run's provenance, in its own table
    assert "[02_beta](chapters/02_beta.ipynb) | no reference run yet" in page
    (root / "notebooks" / "01_alpha.py").write_text("# %%\nprint(2)\n")  # the code changed since
    assert "**reproduced** (stale)" in pages.ledger_page(root)
    with pytest.raises(ValueError, match="data_kind"):
        results.save_evidence("01_alpha", "reference", _evidence(), cl, data_kind="synthetic")


def test_two_level_ci_holds_the_spread_between_seeds():
    from neurovis.core import stats

    rng = np.random.default_rng(0)
    # the effect flips sign between training runs; within a run the items agree closely
    diffs = [s + 0.1 * rng.standard_normal(600) for s in (5.0, -4.0, 6.0, -5.0, 4.0)]
    pooled = stats.paired_bootstrap_ci(np.concatenate(diffs), np.zeros(3000))
    assert pooled["ci"][0] > 0  # pooled over seed x item pairs: "reproduced", wrongly
    two = stats.two_level_bootstrap_ci(diffs)
    assert two["ci"][0] < 0 < two["ci"][1] and two["crossed"]
    assert two["effect"] == pytest.approx(np.mean([d.mean() for d in diffs]))
    assert two["seed_effects"] == pytest.approx([d.mean() for d in diffs])
    # a consistent effect stays clear of 0 and about as wide as the pooled CI
    same = [1.0 + rng.standard_normal(600) for _ in range(5)]
    a = stats.two_level_bootstrap_ci(same)
    b = stats.paired_bootstrap_ci(np.concatenate(same), np.zeros(3000))
    assert a["ci"][0] > 0 and (a["ci"][1] - a["ci"][0]) < 2 * (b["ci"][1] - b["ci"][0])
    # no spread within seeds: the CI is the percentile bootstrap of the seed means
    from scipy import stats as sps

    flat = [np.full(10, v) for v in (1.0, 2.0, 4.0, 3.0, 0.5)]
    ours = stats.two_level_bootstrap_ci(flat, n_resamples=20000)["ci"]
    ref = sps.bootstrap(
        (np.array([1.0, 2.0, 4.0, 3.0, 0.5]),),
        np.mean,
        method="percentile",
        n_resamples=20000,
        rng=np.random.default_rng(1),
    ).confidence_interval
    assert ours == pytest.approx([ref.low, ref.high], abs=0.15)
    # unequal item counts: nested; crossed needs equal counts
    assert not stats.two_level_bootstrap_ci([np.ones(3), np.arange(4.0)])["crossed"]
    with pytest.raises(ValueError, match="equal item counts"):
        stats.two_level_bootstrap_ci([np.ones(3), np.ones(4)], crossed=True)


def test_a_per_item_claim_is_judged_with_the_two_level_ci():
    rng = np.random.default_rng(1)
    ev = Evidence()
    for seed, s in enumerate((5.0, -4.0, 6.0, -5.0, 4.0)):
        base = rng.standard_normal(200)
        ev.add(seed, {}, items={"m": base + s + 0.1 * rng.standard_normal(200), "b": base})
    c = ev.evaluate(Claim("x", "m beats b", "T", method="m", baseline="b"))
    assert c["unit"] == "test items × seeds" and c["verdict"] == "inconclusive"
    assert c["ci_method"].startswith("two-level") and len(c["seed_effects"]) == 5
