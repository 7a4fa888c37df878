"""neurovis.core: seeding, devices, data location, results, timing, training loop."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from neurovis.core import (
    DataNotFoundError,
    check_scale,
    choose_device,
    embedded_path,
    require_data_root,
    results,
    seed_everything,
    set_threads,
    timing,
)
from neurovis.core.training import KeepBest, TrainConfig, fit


def test_seed_everything_makes_torch_and_numpy_repeat():
    seed_everything(3)
    a = (torch.randn(5), np.random.rand(5))
    rng1 = seed_everything(3)
    b = (torch.randn(5), np.random.rand(5))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert rng1.integers(1000) == seed_everything(3).integers(1000)
    seed_everything(4)
    assert not torch.equal(a[0], torch.randn(5))


@pytest.mark.parametrize("bad", [-1, 1.5, "0", None])
def test_seed_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="seed"):
        seed_everything(bad)


def test_choose_device_auto_and_forced(monkeypatch):
    assert choose_device("cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device("auto").type in ("cpu", "mps")
    with pytest.raises(ValueError, match="CUDA is not available"):
        choose_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device("auto").type == "cuda"
    with pytest.raises(ValueError, match="device must be one of"):
        choose_device("tpu")


def test_set_threads():
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        with pytest.raises(ValueError):
            set_threads(0)
    finally:
        torch.set_num_threads(before)


def test_check_scale():
    assert check_scale("small") == "small"
    with pytest.raises(ValueError, match="scale must be one of"):
        check_scale("huge")


def test_missing_embedded_data_names_the_set():
    with pytest.raises(DataNotFoundError, match="no-such-set"):
        embedded_path("no-such-set", "x.png")


def test_require_data_root_explains_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("NEUROVIS_DATA_ROOT", raising=False)
    with pytest.raises(DataNotFoundError, match="(?s)BSD68.*data_root.*How to get it: download"):
        require_data_root(None, "BSD68", ["BSD68/test001.png"], "download from X")
    (tmp_path / "BSD68").mkdir()
    with pytest.raises(DataNotFoundError, match=r"missing: \['BSD68/test001.png'\]"):
        require_data_root(tmp_path, "BSD68", ["BSD68/test001.png"], "download from X")
    (tmp_path / "BSD68" / "test001.png").write_bytes(b"x")
    assert require_data_root(tmp_path, "BSD68", ["BSD68/test001.png"], "x") == tmp_path


def test_data_root_message_names_the_option_the_reader_typed(monkeypatch):
    monkeypatch.delenv("NEUROVIS_DATA_ROOT", raising=False)
    monkeypatch.setenv("NEUROVIS_RUNNER", "1")  # what `python -m neurovis run` sets
    with pytest.raises(
        DataNotFoundError,
        match=r"BSD68: scale='paper' needs the full data set; pass --data-root DIR",
    ):
        require_data_root(None, "BSD68", ["BSD68/test001.png"], "download from X")
    with pytest.raises(
        DataNotFoundError, match=r"under --data-root /nonexistent these are missing"
    ):
        require_data_root("/nonexistent", "BSD68", ["BSD68/test001.png"], "download from X")
    monkeypatch.delenv("NEUROVIS_RUNNER")
    with pytest.raises(DataNotFoundError, match=r"pass data_root=\.\.\."):
        require_data_root(None, "BSD68", ["BSD68/test001.png"], "download from X")


def test_results_save_records_provenance_and_table_reads_it(tmp_path):
    path = results.save(
        "99_demo",
        "small",
        {"psnr": 30.123456, "acc": 0.9},
        paper={"psnr": (31.0, "Table 1")},
        data="demo images",
        notes={"psnr": "mean of 2"},
        device="cpu",
    )
    record = json.loads(path.read_text())
    assert path.parent == tmp_path / "results"
    assert record["metrics"]["psnr"] == pytest.approx(30.123456)
    prov = record["provenance"]
    assert set(prov) >= {"commit", "date", "machine", "device", "duration_s", "data"}
    assert prov["data"] == "demo images" and prov["device"] == "cpu"
    df = results.table("99_demo", "small", labels={"psnr": "PSNR (dB)", "acc": "accuracy"})
    assert list(df.index) == ["PSNR (dB)", "accuracy"]
    assert df.loc["PSNR (dB)", "paper (reported)"] == "31.00 (Table 1)"
    assert df.loc["PSNR (dB)", "ours (small, this run)"] == "30.12"
    assert df.loc["accuracy", "paper (reported)"] == "—"
    assert df.loc["PSNR (dB)", "ours (paper scale)"] == "not run yet"
    assert df.loc["PSNR (dB)", "notes"] == "mean of 2"


def test_table_shows_paper_scale_column_when_a_paper_run_exists():
    results.save("99_demo", "small", {"psnr": 30.0})
    results.save("99_demo", "paper", {"psnr": 32.5}, device="cuda")
    df = results.table("99_demo", "small")
    col = [c for c in df.columns if c.startswith("ours (paper scale")][0]
    assert "cuda" in col and df.loc["psnr", col] == "32.50"


def test_results_reject_non_finite_and_empty():
    with pytest.raises(ValueError, match="non-finite"):
        results.save("99_demo", "small", {"psnr": float("nan")})
    with pytest.raises(ValueError, match="no metrics"):
        results.save("99_demo", "small", {})
    with pytest.raises(TypeError, match="metric 'x'"):
        results.save("99_demo", "small", {"x": {"a": 1}})


def test_timing_median_and_ratio():
    calls = []
    t = timing.measure(lambda: calls.append(1) or time.sleep(0.01), warmup=2, repeats=3)
    assert len(calls) == 5 and len(t.times) == 3
    assert 0.009 < t.median < 0.5
    assert timing.ratio(
        timing.Timing([2.0, 4.0, 6.0]), timing.Timing([1.0, 2.0, 3.0])
    ) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        timing.ratio(1.0, 0.0)
    with timing.Stopwatch() as sw:
        time.sleep(0.01)
    assert sw.seconds >= 0.009


def _toy_problem(seed=0):
    g = torch.Generator().manual_seed(0)  # the data never change; `seed` moves everything else
    x = torch.randn(64, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(64, generator=g)
    seed_everything(seed)
    ds = torch.utils.data.TensorDataset(x, y)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.2), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.5)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    return model, loader, opt, sched


def _mse(model, batch):
    x, y = batch
    return torch.nn.functional.mse_loss(model(x).squeeze(-1), y)


def test_fit_learns():
    model, loader, opt, sched = _toy_problem()
    hist = fit(
        model, _mse, loader, opt, TrainConfig(num_epochs=8, progress=False), "cpu", scheduler=sched
    )
    assert hist["loss"][-1] < 0.25 * hist["loss"][0]


def test_keep_best_restores_the_best_validation_epoch_and_stops_on_patience():
    model, loader, opt, _ = _toy_problem()
    scores = iter([3.0, 1.0, 2.0, 2.5, 0.5, 9.0])  # a scripted validation metric
    snapshots = []

    def evaluate(m):
        snapshots.append([p.detach().clone() for p in m.parameters()])
        return {"val": next(scores)}

    keep = KeepBest(model, "val", patience=2)
    hist = fit(
        model,
        _mse,
        loader,
        opt,
        TrainConfig(num_epochs=6, progress=False),
        "cpu",
        evaluate=evaluate,
        on_epoch_end=keep,
    )
    # epoch 2 (index 1) is best; epochs 3 and 4 do not improve: stop after epoch 4
    assert keep.best_epoch == 1 and keep.best_value == 1.0
    assert len(hist["loss"]) == 4 and hist["stopped"][0] == 4
    keep.restore()
    for p, q in zip(model.parameters(), snapshots[1]):
        assert torch.equal(p, q)
    with pytest.raises(KeyError, match="no 'acc'"):
        KeepBest(model, "acc")(0, {"val": [1.0]})
    with pytest.raises(ValueError, match="mode"):
        KeepBest(model, "val", mode="lowest")


def test_interrupted_and_resumed_run_matches_uninterrupted(tmp_path):
    model_a, loader, opt, sched = _toy_problem()
    fit(
        model_a,
        _mse,
        loader,
        opt,
        TrainConfig(num_epochs=5, progress=False),
        "cpu",
        scheduler=sched,
    )

    ckpt = tmp_path / "ckpt.pt"
    model_b, loader, opt, sched = _toy_problem()

    def crash(epoch, history):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(
            model_b,
            _mse,
            loader,
            opt,
            TrainConfig(num_epochs=5, checkpoint_path=ckpt, progress=False),
            "cpu",
            scheduler=sched,
            on_epoch_end=crash,
        )
    # a fresh process: new objects, different global RNG state, then resume from the checkpoint
    model_c, loader, opt, sched = _toy_problem(seed=123)
    hist = fit(
        model_c,
        _mse,
        loader,
        opt,
        TrainConfig(num_epochs=5, checkpoint_path=ckpt, progress=False),
        "cpu",
        scheduler=sched,
    )
    assert len(hist["loss"]) == 5
    for pa, pc in zip(model_a.parameters(), model_c.parameters()):
        assert torch.equal(pa, pc)


def test_step_scheduler_steps_after_every_optimiser_step_and_resumes(tmp_path):
    """A per-step schedule (e.g. a warmup) sees every optimiser step, and a resumed run restores it:
    the learning rate after resuming is the one an uninterrupted run has."""

    def run(ckpt=None, epochs=3, crash_at=None):
        model, loader, opt, _ = _toy_problem()
        warm = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: min(1.0, (it + 1) / 10))
        seen = []

        def on_epoch_end(epoch, history):
            seen.append(opt.param_groups[0]["lr"])
            if epoch == crash_at:
                raise KeyboardInterrupt

        cfg = TrainConfig(num_epochs=epochs, checkpoint_path=ckpt, progress=False)
        fit(model, _mse, loader, opt, cfg, "cpu", step_scheduler=warm, on_epoch_end=on_epoch_end)
        return model, warm, seen, len(loader)

    model_a, warm_a, seen_a, steps = run()
    assert warm_a.last_epoch == 3 * steps
    assert seen_a == pytest.approx([0.02 * min(1.0, (e * steps + 1) / 10) for e in (1, 2, 3)])
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt):
        run(ckpt, crash_at=0)
    model_c, warm_c, seen_c, _ = run(ckpt)
    assert warm_c.last_epoch == warm_a.last_epoch and seen_c == pytest.approx(seen_a[1:])
    for pa, pc in zip(model_a.parameters(), model_c.parameters()):
        assert torch.equal(pa, pc)


def test_fit_stops_on_nan_with_clear_error():
    model, loader, opt, _ = _toy_problem()
    with pytest.raises(FloatingPointError, match="non-finite loss.*epoch 1, step 0"):
        fit(
            model,
            lambda m, b: _mse(m, b) * float("nan"),
            loader,
            opt,
            TrainConfig(num_epochs=1, progress=False),
            "cpu",
        )


def test_checkpoint_write_is_atomic(tmp_path):
    from neurovis.core.training import save_checkpoint

    save_checkpoint(tmp_path / "c.pt", a=torch.ones(2))
    assert (tmp_path / "c.pt").is_file() and not (tmp_path / "c.pt.tmp").exists()
    assert torch.equal(torch.load(tmp_path / "c.pt")["a"], torch.ones(2))


def test_train_config_validates():
    with pytest.raises(ValueError, match="num_epochs"):
        TrainConfig(num_epochs=0)


def test_embedded_checksums_detect_changed_missing_and_unlisted_files(tmp_path, monkeypatch):
    from neurovis.core import DataIntegrityError, verify_embedded
    from neurovis.core.data import update_registry_checksums

    monkeypatch.setenv("NEUROVIS_ROOT", str(tmp_path))
    (tmp_path / "companion").mkdir()
    base = tmp_path / "data" / "embedded" / "demo"
    base.mkdir(parents=True)
    (base / "a.txt").write_text("alpha")
    (base / "SOURCE.md").write_text("where it came from")
    (tmp_path / "data" / "registry.yaml").write_text(
        "datasets:\n  demo:\n    kind: embedded\n    path: data/embedded/demo\n    files: {}\n"
    )
    assert update_registry_checksums() == {"demo": 1}
    assert verify_embedded("demo") == 1
    (base / "a.txt").write_text("tampered")
    (base / "b.txt").write_text("new")
    with pytest.raises(
        DataIntegrityError, match=r"(?s)a.txt: altered \(sha256 expected .*b.txt: not listed"
    ):
        verify_embedded("demo")
    (base / "a.txt").unlink()
    with pytest.raises(DataIntegrityError, match="a.txt: missing"):
        verify_embedded("demo")
    with pytest.raises(DataNotFoundError, match="no embedded data set named 'nope'"):
        verify_embedded("nope")


def test_explore_draws_the_static_figure_once_and_redraws_on_change(monkeypatch):
    from neurovis.core import plotting
    import ipywidgets as widgets

    monkeypatch.setattr("IPython.display.display", lambda *a, **k: None)
    calls = []
    dropdown = widgets.Dropdown(options=["a", "b"])
    plotting.explore(
        lambda name="a", level=3: calls.append((name, level)), name=dropdown, level=(0, 10)
    )
    # the default of `level`, drawn once, outside the Output
    assert calls == [("a", 3)]
    dropdown.value = "b"
    assert calls[-1] == ("b", 3)
    with pytest.raises(TypeError, match="control 'x'"):
        plotting.explore(lambda x: None, x=object())


def test_benchmark_records_round_trip():
    path = results.save_benchmark(
        "99_demo", {"psnr_ours": 29.8, "seconds_ours": 14.2}, data="Set12", device="cpu"
    )
    assert path.name == "99_demo.bench.json"
    record = results.load_benchmark("99_demo")
    assert (
        record["metrics"]["psnr_ours"] == pytest.approx(29.8)
        and record["provenance"]["data"] == "Set12"
    )
    assert results.load_benchmark("98_none") is None


# --------------------------------------------------------------------------- safe checkpoints
def _run_code_on_load(flag):
    """What a tampered checkpoint would call when unpickled without weights_only."""
    Path(flag).write_text("ran")


class _Payload:
    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        return _run_code_on_load, (self.flag,)


def test_checkpoints_hold_only_tensors_and_plain_values(tmp_path):
    from neurovis.core.training import _rng_state, _set_rng_state

    ckpt = tmp_path / "ckpt.pt"
    model, loader, opt, sched = _toy_problem()
    cfg = TrainConfig(num_epochs=1, checkpoint_path=ckpt, progress=False)
    fit(model, _mse, loader, opt, cfg, "cpu", scheduler=sched)
    state = torch.load(ckpt, weights_only=True)  # no allow-list needed
    assert set(state) >= {"model", "optimizer", "scheduler", "scaler", "history", "epoch", "rng"}
    np.random.seed(5)
    saved = _rng_state(loader)
    a = np.random.rand(3)
    _set_rng_state(saved, loader)
    assert np.array_equal(a, np.random.rand(3))


def test_a_tampered_checkpoint_is_refused_without_running_its_code(tmp_path):
    from neurovis.core.training import load_checkpoint, save_checkpoint

    ckpt, flag = tmp_path / "ckpt.pt", tmp_path / "pwned"
    model, loader, opt, sched = _toy_problem()
    fit(
        model,
        _mse,
        loader,
        opt,
        TrainConfig(num_epochs=1, checkpoint_path=ckpt, progress=False),
        "cpu",
    )
    state = torch.load(ckpt, weights_only=True)
    state["history"]["note"] = _Payload(str(flag))  # an object that runs code when unpickled
    save_checkpoint(ckpt, **state)
    with pytest.raises(ValueError, match=r"ckpt\.pt: refused to load this checkpoint"):
        load_checkpoint(ckpt)
    model, loader, opt, sched = _toy_problem()
    with pytest.raises(ValueError, match=r"ckpt\.pt: refused"):
        cfg = TrainConfig(num_epochs=2, checkpoint_path=ckpt, progress=False)
        fit(model, _mse, loader, opt, cfg, "cpu")
    assert not flag.exists()


# --------------------------------------------------------------------------- embedded data checks
def _skeleton(tmp_path, monkeypatch, sets: dict) -> Path:
    """A copy of the repository's skeleton at tmp_path/repo with the embedded sets ``sets``
    ({registry key: files to copy, or None for all}) and their registry entries; NEUROVIS_ROOT
    points at it."""
    import shutil

    import yaml

    from neurovis.core import data

    real = data.repo_root()
    reg = data.registry()["datasets"]
    root = tmp_path / "repo"
    (root / "companion").mkdir(parents=True)
    out = {}
    for key, files in sets.items():
        entry = dict(reg[key])
        if files is not None:
            entry["files"] = {f: entry["files"][f] for f in files}
        for rel in entry["files"]:
            dst = root / entry["path"] / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(real / entry["path"] / rel, dst)
        out[key] = entry
    (root / "data" / "registry.yaml").write_text(yaml.safe_dump({"datasets": out}, sort_keys=False))
    monkeypatch.setenv("NEUROVIS_ROOT", str(root))
    return root


def test_an_altered_embedded_image_stops_the_load_naming_the_file(tmp_path, monkeypatch):
    from neurovis.core import DataIntegrityError, data
    from neurovis.restoration.data import embedded_images

    root = _skeleton(tmp_path, monkeypatch, {"restoration": None})
    assert set(embedded_images(["GSR-CS/House256.tif"])) == {"House256"}  # intact: loads
    monkeypatch.setattr(data, "_VERIFIED", {})  # a new process
    tif = root / "data" / "embedded" / "restoration" / "GSR-CS" / "House256.tif"
    raw = bytearray(tif.read_bytes())
    raw[20000:22000] = bytes(255 - b for b in raw[20000:22000])  # 2,000 bytes inverted
    tif.write_bytes(bytes(raw))
    expected = data.registry()["datasets"]["restoration"]["files"]["GSR-CS/House256.tif"]
    with pytest.raises(DataIntegrityError) as err:
        embedded_images(["04"])  # any image of the set
    msg = str(err.value)
    assert "data/embedded/restoration/GSR-CS/House256.tif: altered" in msg
    assert f"expected {expected}, found {data.sha256(tif)}" in msg
    assert "git checkout -- data/embedded/restoration" in msg
    assert "Barbara256" not in msg  # only the altered file


def test_a_relabelled_annotation_stops_the_load(tmp_path, monkeypatch):
    from neurovis.core import DataIntegrityError
    from neurovis.trucks.data import load_annotations

    root = _skeleton(tmp_path, monkeypatch, {"stanford-cars-trucks": ["annotations.json"]})
    path = root / "data" / "embedded" / "trucks" / "annotations.json"
    ann = json.loads(path.read_text())
    other = next(c for c in ann["classes"] if int(c) != ann["images"][0]["class_id"])
    ann["images"][0]["class_id"] = int(other)  # still valid JSON
    path.write_text(json.dumps(ann, indent=1))
    with pytest.raises(
        DataIntegrityError, match=r"stanford-cars-trucks.*\n.*trucks/annotations\.json: altered"
    ):
        load_annotations()


def test_embedded_sets_are_verified_once_per_process(tmp_path, monkeypatch):
    from neurovis.core import data

    root = _skeleton(tmp_path, monkeypatch, {"lap_frames": None})
    calls = []
    real_verify = data.verify_embedded
    monkeypatch.setattr(data, "verify_embedded", lambda n: calls.append(n) or real_verify(n))
    for i in (1, 2, 1):
        assert data.embedded_path("lap_frames", f"{i}.jpg").is_file()
    assert calls == ["lap_frames"]
    (root / "data" / "embedded" / "lap_frames" / "extra.jpg").write_bytes(b"x")
    monkeypatch.setattr(data, "_VERIFIED", {})
    with pytest.raises(data.DataIntegrityError, match="lap_frames/extra.jpg: not listed"):
        data.embedded_path("lap_frames", "1.jpg")
    assert data.embedded_path("lap_frames", "extra.jpg", verify=False).is_file()


def test_data_command_reports_every_bad_set_and_exits_1(tmp_path, monkeypatch, capsys):
    from neurovis.__main__ import main

    root = _skeleton(
        tmp_path,
        monkeypatch,
        {"lap_frames": None, "nrsfm": None, "stanford-cars-trucks": ["annotations.json"]},
    )
    assert main(["data"]) == 0
    assert "all 3 embedded data sets match" in capsys.readouterr().out
    emb = root / "data" / "embedded"
    (emb / "lap_frames" / "3.jpg").write_bytes(b"not the frame")
    (emb / "trucks" / "annotations.json").unlink()
    assert main(["data"]) == 1
    out = capsys.readouterr().out
    assert "lap_frames: BAD" in out and "lap_frames/3.jpg: altered" in out
    assert "stanford-cars-trucks: BAD" in out and "trucks/annotations.json: missing" in out
    assert "nrsfm: 8 files ok" in out
    assert (
        "2 of 3 embedded data sets do not match data/registry.yaml: "
        "lap_frames, stanford-cars-trucks"
    ) in out


def test_map_in_processes_keeps_order_and_matches_the_sequential_map():
    import math

    from neurovis.core.parallel import map_in_processes

    jobs = [(x,) for x in (9.0, 2.0, 16.0, 5.0)]
    want = [math.sqrt(x) for (x,) in jobs]
    assert map_in_processes(math.sqrt, jobs, workers=1) == want
    assert map_in_processes(math.sqrt, jobs, workers=2) == want


@pytest.mark.parametrize("workers", [1, 2])
def test_map_in_processes_names_the_failing_job(workers):
    import math

    from neurovis.core.parallel import map_in_processes

    with pytest.raises(RuntimeError, match=r"job 1 of 3 \(sqrt\) failed: math domain error"):
        map_in_processes(math.sqrt, [(1.0,), (-1.0,), (4.0,)], workers=workers)


def test_process_workers_reads_the_environment_and_keeps_one_on_a_gpu(monkeypatch):
    from neurovis.core.parallel import process_workers

    monkeypatch.delenv("NEUROVIS_WORKERS", raising=False)
    assert process_workers("cpu") == 1
    monkeypatch.setenv("NEUROVIS_WORKERS", "2")
    assert process_workers("cpu") == 2
    assert process_workers("cuda") == 1  # the jobs would share one GPU
    assert process_workers("cpu", n=3) == 3
    monkeypatch.setenv("NEUROVIS_WORKERS", "two")
    with pytest.raises(ValueError, match="NEUROVIS_WORKERS must be a whole number"):
        process_workers("cpu")
    with pytest.raises(ValueError, match="worker count must be >= 1"):
        process_workers("cpu", n=0)
