"""neurovis.captioning: preprocessing, MIL noisy-OR, nested LSTM, decoding, metrics, reward,
loaders."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from neurovis.captioning import (
    CaptionerConfig,
    Vocabulary,
    NestedLSTMCell,
    beam_search,
    build_captioner,
    caption_scores,
    cider_per_caption,
    generate_scenes,
    greedy,
    load_coco_captions,
    load_karpathy_split,
    noisy_or,
    paper_sets,
    ranking_loss,
    relation,
    sample,
    tokenize,
    word2vec_vectors,
    ValueNetwork,
)
from neurovis.captioning import metrics as metrics_mod
from neurovis.core import DataNotFoundError


# ---------------------------------------------------------------- preprocessing
def test_tokenizer_lowercases_and_drops_punctuation():
    assert tokenize("A Man, riding a HORSE!  On the beach.") == [
        "a",
        "man",
        "riding",
        "a",
        "horse",
        "on",
        "the",
        "beach",
    ]
    with pytest.raises(TypeError, match="caption must be a string"):
        tokenize(None)


def test_vocabulary_unk_rule_and_round_trip():
    sents = ["a red ball"] * 5 + ["a blue ball"] * 4 + ["a zebra"]
    v = Vocabulary.build(sents, min_count=5)
    assert "red" in v.index and "ball" in v.index and "a" in v.index
    assert "blue" not in v.index and "zebra" not in v.index  # 4 and 1 occurrences < 5
    ids = v.encode("A red ball")
    assert (
        ids[0] == v.index["<start>"]
        and ids[4] == v.index["<end>"]
        and len(ids) == 17
        and ids[5:] == [0] * 12
    )
    assert v.decode(ids) == "a red ball"
    assert v.decode(v.encode("a blue zebra")) == "a <unk> <unk>"


def test_vocabulary_truncates_at_fifteen_words():
    v = Vocabulary.build(["w " * 20] * 5, min_count=5)
    ids = v.encode("w " * 20)
    assert len(ids) == 17 and ids[-1] == v.index["<end>"] and v.decode(ids).split() == ["w"] * 15


# ---------------------------------------------------------------- MIL
def test_noisy_or_matches_hand_computation():
    x = torch.tensor([[0.5, 0.2, 0.0], [0.9, 0.9, 0.9]])
    expected = torch.tensor([1 - 0.5 * 0.8 * 1.0, 1 - 0.1**3])
    assert torch.allclose(noisy_or(x), expected, atol=1e-5)
    assert torch.allclose(noisy_or(torch.zeros(2, 7)), torch.zeros(2))


# ---------------------------------------------------------------- nested LSTM
def test_nested_lstm_shapes_and_gradients():
    cell = NestedLSTMCell(5, 8)
    x = torch.randn(3, 5, requires_grad=True)
    h, c, ci = cell(x, cell.init_state(3))
    assert h.shape == c.shape == ci.shape == (3, 8)
    # c_t = h~_t = o~ * tanh(c~) (Eq. 9-10)
    assert torch.all(c.abs() <= 1) and torch.all(h.abs() <= 1)
    h.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert cell.inner_cell.weight_ih.grad.abs().sum() > 0


def test_nested_lstm_with_additive_inner_memory_is_an_lstm():
    """m_t(h~, x~) = h~ + x~ gives c_t = f*c_{t-1} + i*tanh(g): exactly nn.LSTMCell."""
    torch.manual_seed(0)
    cell, ref = NestedLSTMCell(4, 6, inner="add"), nn.LSTMCell(4, 6)
    with torch.no_grad():
        cell.x2h.weight.copy_(ref.weight_ih)
        cell.x2h.bias.copy_(ref.bias_ih)
        cell.h2h.weight.copy_(ref.weight_hh)
        cell.h2h.bias.copy_(ref.bias_hh)
    h, c = torch.randn(2, 6), torch.randn(2, 6)
    state = (h, c, torch.zeros(2, 6))
    hr, cr = h, c
    for _ in range(3):
        x = torch.randn(2, 4)
        state = cell(x, state)
        hr, cr = ref(x, (hr, cr))
    assert torch.allclose(state[0], hr, atol=1e-6) and torch.allclose(state[1], cr, atol=1e-6)


@pytest.mark.parametrize("kind", ["nic", "soft_attention", "basic", "attention"])
def test_captioners_shapes_and_attention_normalised(kind):
    cfg = CaptionerConfig.small(20, 7, 5, (3, 3), embed=8, hidden=12, att=6, guide_channels=4)
    m = build_captioner(kind, cfg).eval()
    feats = {"regions": torch.randn(2, 9, 7), "mil": torch.rand(2, 5, 3, 3)}
    caps = torch.randint(3, 20, (2, 6))
    assert m(feats, caps).shape == (2, 5, 20)
    seq, att = greedy(m, feats, max_len=5, return_attention=True)
    assert seq.shape == (2, 5)
    if kind in ("soft_attention", "attention"):
        assert att.shape == (2, 5, 9) and torch.allclose(att[:, 0].sum(1), torch.ones(2), atol=1e-5)


# ---------------------------------------------------------------- decoding
class TableModel(nn.Module):
    """A hand-made captioner: next-word log-probabilities depend only on the previous word."""

    def __init__(self, table):
        super().__init__()
        self.table = torch.log(torch.tensor(table))

    def init_state(self, feats):
        return {"dummy": torch.zeros(feats["regions"].shape[0], 1)}

    def step(self, tokens, state):
        return self.table[tokens], state, None


def _best_by_enumeration(table, max_len):
    best, best_lp = None, -math.inf
    V = len(table)

    def rec(prev, seq, lp):
        nonlocal best, best_lp
        if len(seq) == max_len or (seq and seq[-1] == 2):
            if lp > best_lp:
                best, best_lp = seq, lp
            return
        for w in range(V):
            if table[prev][w] > 0:
                rec(w, seq + [w], lp + math.log(table[prev][w]))

    rec(1, [], 0.0)
    return best


def test_beam_search_finds_the_best_sequence_greedy_misses():
    # ids: 0 pad, 1 start, 2 end, 3 A, 4 B. After <start>: A .5, B .4, end .1; after A: flat; after
    # B: end .9
    eps = 1e-9
    table = [
        [1, eps, eps, eps, eps],
        [eps, eps, 0.1, 0.5, 0.4],
        [1, eps, eps, eps, eps],
        [eps, eps, 0.34, 0.33, 0.33],
        [eps, eps, 0.9, 0.05, 0.05],
    ]
    m = TableModel(table)
    feats = {"regions": torch.zeros(1, 1, 1)}
    assert greedy(m, feats, max_len=4)[0, :2].tolist() == [3, 2]  # A <end>: 0.17
    best = beam_search(m, feats, beam=2, max_len=4)[0].tolist()
    # B <end>: 0.36
    assert best[:2] == [4, 2] and best == _best_by_enumeration(table, 4)[:2] + [0, 0]
    assert beam_search(m, feats, beam=1, max_len=4)[0, :2].tolist() == [3, 2]


def test_beam_one_equals_greedy_on_a_random_model():
    torch.manual_seed(1)
    cfg = CaptionerConfig.small(15, 7, 5, (3, 3), embed=8, hidden=12, att=6, guide_channels=4)
    m = build_captioner("attention", cfg).eval()
    feats = {"regions": torch.randn(4, 9, 7), "mil": torch.rand(4, 5, 3, 3)}
    assert torch.equal(beam_search(m, feats, beam=1, max_len=7), greedy(m, feats, max_len=7))


def test_sample_log_probs_and_mask():
    torch.manual_seed(0)
    cfg = CaptionerConfig.small(15, 7, 5, (3, 3), embed=8, hidden=12, att=6, guide_channels=4)
    m = build_captioner("basic", cfg)
    feats = {"regions": torch.randn(3, 9, 7), "mil": torch.rand(3, 5, 3, 3)}
    tok, logp, mask = sample(m, feats, max_len=6, generator=torch.Generator().manual_seed(0))
    assert tok.shape == logp.shape == mask.shape and logp.requires_grad and torch.all(logp <= 0)
    assert torch.all(tok[mask == 0] == 0)


# ---------------------------------------------------------------- metrics and reward
def test_metric_wrapper_on_hand_checked_captions():
    refs = {1: ["a red ball on the left"], 2: ["a blue box above a cat"]}
    same = caption_scores(
        refs, {1: "a red ball on the left", 2: "a blue box above a cat"}, meteor=False
    )
    assert all(math.isclose(same[f"BLEU-{n}"], 1.0, abs_tol=1e-6) for n in range(1, 5))
    assert math.isclose(same["ROUGE-L"], 1.0, abs_tol=1e-6)
    # BLEU-1 by hand: "a red box" vs "a red ball on the left": 2 of 3 unigrams match, brevity
    # penalty exp(1 - 6/3)
    one = caption_scores({1: ["a red ball on the left"]}, {1: "a red box"}, meteor=False)
    assert math.isclose(one["BLEU-1"], 2 / 3 * math.exp(1 - 6 / 3), rel_tol=1e-3)
    with pytest.raises(ValueError, match="same ids"):
        caption_scores(refs, {1: "x"}, meteor=False)


@pytest.mark.skipif(not metrics_mod.java_available(), reason="METEOR needs Java")
def test_meteor_orders_captions():
    refs = {1: ["a red ball on the left of a box"], 2: ["two dogs play in the snow"]}
    good = caption_scores(refs, {1: "a red ball left of a box", 2: "two dogs play in snow"})[
        "METEOR"
    ]
    bad = caption_scores(refs, {1: "a cat", 2: "a plane"})["METEOR"]
    assert good > bad >= 0


def test_meteor_without_java_says_so(monkeypatch):
    monkeypatch.setattr(metrics_mod.shutil, "which", lambda name: None)
    monkeypatch.setattr(metrics_mod, "_METEOR", None)
    with pytest.raises(RuntimeError, match="needs Java"):
        caption_scores({1: ["a b"]}, {1: "a b"}, meteor=True)


def test_reward_sign_better_caption_higher_cider():
    refs = [
        ["a big red circle left of a small blue square", "a red ball to the left of a blue box"],
        ["a green triangle above a yellow diamond", "a green triangle over a yellow rhombus"],
    ] * 2
    hyps = [
        "a red circle left of a blue square",
        "a green triangle above a yellow diamond",
        "a blue square",
        "a red circle",
    ]
    r = cider_per_caption(hyps, refs)
    assert r[0] > r[2] and r[1] > r[3] and np.all(r >= 0)


def test_ranking_loss_zero_when_pairs_are_separated():
    s = torch.eye(3)
    assert float(ranking_loss(s, s, margin=0.5)) == 0.0
    assert float(ranking_loss(s, s.roll(1, 0), margin=0.5)) > 0


def test_value_network_one_value_per_prefix():
    V = ValueNetwork(10, 7, 8, 12)
    assert V(torch.randn(2, 9, 7), torch.randint(0, 10, (2, 5))).shape == (2, 5)


# ---------------------------------------------------------------- data
def test_generated_captions_describe_the_scene():
    data = generate_scenes(6, size=48, seed=3)
    assert (
        data.images.shape == (6, 3, 48, 48)
        and float(data.images.min()) >= 0
        and float(data.images.max()) <= 1
    )
    for scene, refs in zip(data.scenes, data.refs):
        colours = {o["colour"] for o in scene.objects}
        assert len(refs) == 5 and all(any(c in r.split() for c in colours) for r in refs)
    a, b = {"cell": 0}, {"cell": 2}
    assert (
        relation(a, b) == "left"
        and relation(b, a) == "right"
        and relation({"cell": 1}, {"cell": 7}) == "above"
    )


def test_word2vec_is_deterministic():
    sents = [["a", "red", "ball"], ["a", "blue", "box"]] * 20
    v = Vocabulary.build(sents, min_count=5)
    a, b = (
        word2vec_vectors(sents, v, 8, seed=0, epochs=2),
        word2vec_vectors(sents, v, 8, seed=0, epochs=2),
    )
    assert a.shape == (len(v), 8) and torch.equal(a, b) and torch.all(a[0] == 0)


def _coco_fixture(path, **broken):
    data = {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
        "annotations": [
            {"id": 10, "image_id": 1, "caption": "A dog."},
            {"id": 11, "image_id": 1, "caption": "A pup"},
            {"id": 12, "image_id": 2, "caption": "A cat"},
        ],
    }
    data["annotations"][0].update(broken)
    path.write_text(json.dumps(data))
    return path


def test_coco_captions_loader(tmp_path):
    caps = load_coco_captions(_coco_fixture(tmp_path / "captions.json"))
    assert caps == {
        1: {"file_name": "a.jpg", "captions": ["A dog.", "A pup"]},
        2: {"file_name": "b.jpg", "captions": ["A cat"]},
    }


@pytest.mark.parametrize(
    "broken, match",
    [
        ({"caption": 3}, r"annotations\[0\] needs a string 'caption'"),
        ({"image_id": 99}, "image_id 99, not in 'images'"),
    ],
)
def test_malformed_caption_json_is_rejected(tmp_path, broken, match):
    with pytest.raises(ValueError, match=match):
        load_coco_captions(_coco_fixture(tmp_path / "bad.json", **broken))
    (tmp_path / "notjson.json").write_text("{oops")
    with pytest.raises(ValueError, match="notjson.json: not valid JSON"):
        load_coco_captions(tmp_path / "notjson.json")
    (tmp_path / "nolists.json").write_text(json.dumps({"images": {}}))
    with pytest.raises(ValueError, match="nolists.json: expected a COCO captions file"):
        load_coco_captions(tmp_path / "nolists.json")


def _karpathy_fixture(root):
    from PIL import Image

    (root / "flickr30k-images").mkdir(parents=True)
    images = []
    for k, split in enumerate(["train", "train", "val", "test"]):
        name = f"{k}.jpg"
        Image.fromarray(np.full((300, 260, 3), 40 * k, np.uint8)).save(
            root / "flickr30k-images" / name
        )
        images.append(
            {
                "filename": name,
                "split": split,
                "sentences": [{"tokens": ["a", "dog"], "raw": "A dog."}, {"tokens": ["a", "pup"]}],
            }
        )
    (root / "dataset_flickr30k.json").write_text(
        json.dumps({"images": images, "dataset": "flickr30k"})
    )
    return root


def test_karpathy_loader_and_paper_sets(tmp_path):
    from neurovis.captioning import ImageFiles

    root = _karpathy_fixture(tmp_path)
    tr = load_karpathy_split(root / "dataset_flickr30k.json", "train")
    assert len(tr) == 2 and tr[0]["captions"] == ["A dog.", "a pup"]
    sets = paper_sets(root, "flickr30k", add_coco_train=0)
    assert [len(sets[s]) for s in ("train", "val", "test")] == [2, 1, 1]
    img = ImageFiles([sets["test"][0]["path"]])[0]
    assert img.shape == (3, 224, 224) and 0 <= float(img.min()) <= float(img.max()) <= 1
    with pytest.raises(DataNotFoundError, match="dataset_flickr30k.json"):
        paper_sets(tmp_path / "nowhere", "flickr30k")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": [{"filename": "x.jpg", "split": "train"}]}))
    with pytest.raises(ValueError, match=r"bad.json: images\[0\] needs"):
        load_karpathy_split(bad)


# ---------------------------------------------------------------- CIDEr-D reward
_CORPUS = [
    ["a red circle left of a blue square", "a big red ball beside a blue box"],
    ["a green triangle above a yellow diamond", "a green triangle over a yellow rhombus"],
    ["two small grey squares", "a pair of grey boxes"],
    ["a blue circle under a red triangle", "a red triangle on top of a blue ball"],
]
_HYPS = [
    "a red circle left of a square",
    "a green triangle above a diamond",
    "two grey squares",
    "a red triangle above a blue circle",
]


def test_cider_d_matches_pycocoevalcap_on_its_corpus():
    from pycocoevalcap.cider.cider import Cider

    from neurovis.captioning import CiderD

    mean, per = Cider().compute_score(
        {i: r for i, r in enumerate(_CORPUS)}, {i: [h] for i, h in enumerate(_HYPS)}
    )
    ours = CiderD(_CORPUS)(_HYPS, _CORPUS)
    np.testing.assert_allclose(ours, per, rtol=1e-10, atol=1e-12)
    assert ours.mean() == pytest.approx(mean) and ours[0] > 0


def test_cider_d_of_a_caption_does_not_depend_on_its_batch():
    from neurovis.captioning import CiderD

    scorer = CiderD(_CORPUS)
    alone = scorer(_HYPS[:1], _CORPUS[:1])[0]
    in_batch = scorer(_HYPS, _CORPUS)[0]
    other = scorer([_HYPS[0], "a blue box"] * 3, [_CORPUS[0], _CORPUS[3]] * 3)[0]
    assert alone == in_batch == other
    # the batch scorer (document frequencies over the batch) moves with its batch
    assert cider_per_caption(_HYPS[:2], _CORPUS[:2])[0] != cider_per_caption(_HYPS, _CORPUS)[0]


# ---------------------------------------------------------------- RL on a toy bandit
class _BanditPolicy(nn.Module):
    """pi(next | previous word): a learnable table of logits (words 3, 4, 5; then <end>)."""

    def __init__(self, V=6):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(V, V))
        with torch.no_grad():
            self.logits[:, 0] = -1e4  # never pad
            self.logits[:, 1] = -1e4  # never <start>

    def init_state(self, feats):
        return {"x": feats["regions"][:, :1, 0] * 0}

    def step(self, tokens, state):
        return self.logits[tokens], state, None


class _Feats:
    def __init__(self, n):
        self.regions = torch.randn(n, 2, 3)

    def __len__(self):
        return len(self.regions)

    def batch(self, idx):
        return {"regions": self.regions[idx]}


def _bandit_reward(tokens, refs, regions=None):
    # 1 for the caption "w3 <end>", 0 otherwise
    return ((tokens[:, 0] == 3) & (tokens[:, 1] == 2)).float()


def _p_rewarded(pol):
    with torch.no_grad():
        p0 = torch.softmax(pol.logits[1], -1)[3]
        p1 = torch.softmax(pol.logits[3], -1)[2]
    return float(p0 * p1)


@pytest.mark.parametrize("method", ["scst", "actor_critic"])
def test_rl_raises_the_probability_of_the_rewarded_caption(method):
    from neurovis.captioning import RLSettings, pretrain_critic, train_rl

    torch.manual_seed(0)
    pol, feats = _BanditPolicy(), _Feats(40)
    refs = [["x"]] * 40
    st = RLSettings(num_epochs=15, samples=4, batch_size=20, lr=0.1, value_lr=0.02, critic_epochs=5)
    before = _p_rewarded(pol)
    value = None
    if method == "actor_critic":
        value = ValueNetwork(6, 3, 4, 8)
        pretrain_critic(pol, value, feats, refs, _bandit_reward, st)
        assert all(p.grad is None or p.requires_grad for p in pol.parameters())
    train_rl(pol, feats, refs, _bandit_reward, st, method, value=value)
    assert before < 0.1 and _p_rewarded(pol) > 0.5


def test_rl_samples_in_eval_mode():
    from neurovis.captioning import RLSettings, train_rl

    modes = []

    class Spy(_BanditPolicy):
        def step(self, tokens, state):
            modes.append(self.training)
            return super().step(tokens, state)

    train_rl(
        Spy(),
        _Feats(8),
        [["x"]] * 8,
        _bandit_reward,
        RLSettings(num_epochs=1, batch_size=8),
        "scst",
    )
    assert modes and not any(modes)


def test_group_clipped_adam_clips_each_group_alone():
    from neurovis.captioning import GroupClippedAdam

    a, b = nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(3))
    opt = GroupClippedAdam([{"params": [a], "clip": 1.0}, {"params": [b], "clip": None}], lr=0.1)
    a.grad, b.grad = torch.full((3,), 100.0), torch.full((3,), 1e-3)
    opt.step()
    assert float(a.grad.norm()) == pytest.approx(1.0) and float(b.grad.norm()) == pytest.approx(
        3**0.5 * 1e-3
    )


# ---------------------------------------------------------------- value-guided decoding
def test_value_guided_decoding_lambda_one_is_beam_search_and_value_steers():
    from neurovis.captioning import value_guided_beam_search

    torch.manual_seed(2)
    cfg = CaptionerConfig.small(15, 7, 5, (3, 3), embed=8, hidden=12, att=6, guide_channels=4)
    m = build_captioner("attention", cfg).eval()
    V = ValueNetwork(15, 7, 8, 12).eval()
    feats = {"regions": torch.randn(5, 9, 7), "mil": torch.rand(5, 5, 3, 3)}
    plain = beam_search(m, feats, beam=3, max_len=7)
    assert torch.equal(value_guided_beam_search(m, V, feats, 1.0, beam=3, max_len=7), plain)
    # a value network that values captions holding word 7 makes lam = 0 pick such captions

    class Loves7:
        def init(self, regions):
            return {"seen": torch.zeros(len(regions))}

        def step(self, tokens, state):
            seen = torch.maximum(state["seen"], (tokens == 7).float())
            return seen, {"seen": seen}

    guided = value_guided_beam_search(m, Loves7(), feats, 0.0, beam=3, max_len=7, expand=15)
    assert (guided == 7).any(1).all() and not (plain == 7).any(1).all()


def test_value_network_incremental_equals_full():
    V = ValueNetwork(10, 7, 8, 12)
    regions, prefix = torch.randn(2, 9, 7), torch.randint(1, 10, (2, 5))
    full = V(regions, prefix)
    st, vals = V.init(regions), []
    for t in range(5):
        v, st = V.step(prefix[:, t], st)
        vals.append(v)
    torch.testing.assert_close(torch.stack(vals, 1), full)


# ---------------------------------------------------------------- the guide and MIL
def test_the_guide_changes_the_logits_at_every_step():
    torch.manual_seed(0)
    cfg = CaptionerConfig.small(15, 7, 5, (3, 3), embed=8, hidden=12, att=6, guide_channels=4)
    for kind in ("basic", "attention"):
        m = build_captioner(kind, cfg).eval()
        feats = {"regions": torch.randn(2, 9, 7), "mil": torch.rand(2, 5, 3, 3)}
        state = m.init_state(feats)
        tok = torch.tensor([1, 1])
        for t in range(3):
            logits, new, _ = m.step(tok, state)
            other = {**state, "v": state["v"] + 1.0}  # same words and memory, another guide
            assert t >= 0 and not torch.allclose(m.step(tok, other)[0], logits)
            state, tok = new, logits.argmax(-1)


def test_mil_detects_toy_words_with_high_average_precision():
    from sklearn.metrics import average_precision_score

    from neurovis.captioning import DenseNetEncoder, MILDetector, TrainSettings, train_mil

    # word k present <=> a bright 6x6 patch of colour k somewhere in a 24-px grey image
    g = torch.Generator().manual_seed(0)

    def make(n):
        x = 0.3 + 0.05 * torch.randn(n, 3, 24, 24, generator=g)
        y = (torch.rand(n, 3, generator=g) < 0.4).float()
        for i in range(n):
            for k in range(3):
                if y[i, k]:
                    r, c = torch.randint(0, 18, (2,), generator=g).tolist()
                    x[i, :, r : r + 6, c : c + 6] = 0.0
                    x[i, k, r : r + 6, c : c + 6] = 1.0
        return x, y

    (xtr, ytr), (xte, yte) = make(240), make(120)
    torch.manual_seed(0)
    det = MILDetector(DenseNetEncoder("small"), 3, hidden=16)
    train_mil(det, xtr, ytr, TrainSettings(num_epochs=8, batch_size=32, lr=3e-3))
    det.eval()
    with torch.no_grad():
        P = det(xte)[2]
    ap = average_precision_score(yte.numpy(), P.numpy(), average=None)
    assert ap.min() > 0.9, ap
