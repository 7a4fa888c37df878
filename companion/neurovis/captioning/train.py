"""Training: skip-gram word vectors (gensim, hierarchical softmax), the MIL encoder, cross-entropy
captioning, and the RL stage: actor-critic with a value network and the embedding reward (Eq. 27-36)
or self-critical sequence training (SCST, the standard RL baseline). Every network goes through
``neurovis.core.training.fit``."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..core.training import KeepBest, TrainConfig, fit
from .decoding import beam_search, greedy, sample, value_guided_beam_search
from .baselines import NIC, SoftAttention
from .models import Captioner, CaptionerConfig, DoubleAttentionCaptioner, GuidedNLSTMCaptioner
from .metrics import caption_scores


@dataclass(frozen=True)
class TrainSettings:
    num_epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    clip_grad_norm: float | None = 2.0
    seed: int = 0
    # XE with validation: stop when validation CIDEr has not improved for this many epochs
    patience: int | None = None


def _loader(dataset, batch_size, seed, shuffle=True):
    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, generator=gen, num_workers=0
    )


# gensim seeds word vectors with hash(); Python's str hash changes per process
def _crc_hash(s) -> int:
    return zlib.crc32(str(s).encode())


def word2vec_vectors(
    sentences: list[list[str]], vocab, dim: int, seed: int = 0, epochs: int = 10
) -> torch.Tensor:
    """Skip-gram word vectors with hierarchical softmax over a Huffman tree (Section 2.2; gensim's
    Word2Vec with sg=1, hs=1, negative=0), as a (len(vocab), dim) tensor for the decoder's
    embedding. Words gensim did not see (the special tokens) get small seeded random vectors."""
    from gensim.models import Word2Vec

    unk = set(vocab.words[:4])
    sents = [[w if w in vocab.index else "<unk>" for w in s] for s in sentences]
    w2v = Word2Vec(
        sents,
        vector_size=dim,
        window=4,
        min_count=1,
        sg=1,
        hs=1,
        negative=0,
        workers=1,
        seed=seed,
        hashfxn=_crc_hash,
        epochs=epochs,
    )
    g = torch.Generator().manual_seed(seed)
    out = torch.randn(len(vocab), dim, generator=g)
    for i, w in enumerate(vocab.words):
        if w in w2v.wv.key_to_index and (w not in unk or w == "<unk>"):
            v = torch.from_numpy(np.array(w2v.wv[w]))
            # unit variance per dimension, as nn.Embedding's init
            out[i] = v / (v.norm() + 1e-8) * dim**0.5
    out[0] = 0.0
    return out


# ------------------------------------------------------------------------------------------------
# Encoder (MIL) and cross-entropy captioning
# ------------------------------------------------------------------------------------------------
class _Paired(torch.utils.data.Dataset):
    def __init__(self, images, targets):
        self.images, self.targets = images, targets

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], self.targets[i]


def train_mil(
    detector,
    images: torch.Tensor,
    targets: torch.Tensor,
    settings: TrainSettings,
    device="cpu",
    checkpoint_path=None,
) -> dict:
    """Train DenseNet + MIL on image-level word labels: binary cross-entropy of the noisy-OR P_w
    (Eq. 2) against y (Eq. 1: positive bag when w is in the image's captions)."""
    if len(images) != targets.shape[0]:
        raise ValueError(f"{len(images)} images but {targets.shape[0]} label rows")
    data = (
        torch.utils.data.TensorDataset(images, targets)
        if isinstance(images, torch.Tensor)
        else _Paired(images, targets)
    )  # paper scale: images read from files by a Dataset
    loader = _loader(data, settings.batch_size, settings.seed)

    def loss_fn(model, batch):
        x, y = (b.to(device) for b in batch)
        _, _, P = model(x)
        return nn.functional.binary_cross_entropy(P.clamp(1e-6, 1 - 1e-6), y)

    opt = torch.optim.Adam(detector.parameters(), lr=settings.lr)
    return fit(
        detector,
        loss_fn,
        loader,
        opt,
        TrainConfig(
            settings.num_epochs,
            clip_grad_norm=settings.clip_grad_norm,
            checkpoint_path=checkpoint_path,
            desc="MIL",
        ),
        device,
    )


def caption_pairs(ids: torch.Tensor) -> torch.utils.data.TensorDataset:
    """(image index, caption ids) for every reference of every image; ``ids``: (N, R, L)."""
    N, R, L = ids.shape
    return torch.utils.data.TensorDataset(
        torch.arange(N).repeat_interleave(R), ids.reshape(N * R, L)
    )


def xe_loss(model, feats, idx, caps, device):
    """Cross-entropy of the next word under teacher forcing (padding ignored)."""
    logits = model({k: v.to(device) for k, v in feats.batch(idx).items()}, caps.to(device))
    target = caps[:, 1:].to(device)
    return nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=0
    )


def decode_all(
    model,
    feats,
    vocab,
    beam: int = 1,
    batch_size: int = 256,
    device="cpu",
    max_len: int = 16,
    value=None,
    lam: float = 1.0,
) -> list[str]:
    """Captions (strings) for every image of ``feats``: greedy (beam=1), beam search, or with a
    value network ``value`` value-guided beam search with weight ``lam`` on log pi."""
    model.eval()
    if value is not None:
        value.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(feats), batch_size):
            f = {k: v.to(device) for k, v in feats.batch(slice(s, s + batch_size)).items()}
            if value is not None:
                seq = value_guided_beam_search(model, value, f, lam, beam, max_len)
            elif beam == 1:
                seq = greedy(model, f, max_len)
            else:
                seq = beam_search(model, f, beam, max_len)
            out += [vocab.decode(r) for r in seq.cpu()]
    return out


def evaluate_captions(
    model,
    feats,
    refs,
    vocab,
    beam: int = 5,
    meteor: bool = True,
    device="cpu",
    tokenize: bool = False,
    value=None,
    lam: float = 1.0,
) -> tuple[dict, list[str]]:
    """All metrics of ``model``'s captions (beam search; value-guided with ``value``) against
    ``refs``; returns (scores with "CIDEr per image", captions). ``tokenize``: PTB-tokenise first
    (real captions)."""
    hyps = decode_all(model, feats, vocab, beam, device=device, value=value, lam=lam)
    scores = caption_scores(
        {i: r for i, r in enumerate(refs)},
        dict(enumerate(hyps)),
        meteor=meteor,
        tokenize=tokenize,
        per_image_cider=True,
    )
    return scores, hyps


def val_cider(model, feats, refs, vocab, device="cpu") -> float:
    """Greedy CIDEr on a held-out split (the cheap per-epoch curve of Figure 10)."""
    hyps = decode_all(model, feats, vocab, 1, device=device)
    return caption_scores({i: r for i, r in enumerate(refs)}, dict(enumerate(hyps)), meteor=False)[
        "CIDEr"
    ]


def train_xe(
    model, feats, ids, settings: TrainSettings, device="cpu", val=None, checkpoint_path=None
) -> dict:
    """Cross-entropy training on every (image, reference) pair. ``val`` = (feats, refs, vocab) adds
    a per-epoch greedy CIDEr on held-out images to the history, keeps the epoch with the best one
    (``KeepBest``, early stopping after ``settings.patience`` epochs without improvement) and
    restores its weights; ``best_epoch`` is recorded."""
    loader = _loader(caption_pairs(ids), settings.batch_size, settings.seed)

    def loss_fn(m, batch):
        idx, caps = batch
        return xe_loss(m, feats, idx, caps, device)

    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    evaluate = (
        (lambda m: {"val_cider": val_cider(m, val[0], val[1], val[2], device)}) if val else None
    )
    keep = KeepBest(model, "val_cider", mode="max", patience=settings.patience) if val else None
    hist = fit(
        model,
        loss_fn,
        loader,
        opt,
        TrainConfig(
            settings.num_epochs,
            clip_grad_norm=settings.clip_grad_norm,
            checkpoint_path=checkpoint_path,
            desc="XE",
        ),
        device,
        evaluate=evaluate,
        on_epoch_end=keep,
    )
    if keep is not None:
        keep.restore()
        hist["best_epoch"] = [keep.best_epoch + 1]
    return hist


# ------------------------------------------------------------------------------------------------
# RL: embedding reward, value network, actor-critic, SCST
# ------------------------------------------------------------------------------------------------
class SentenceEncoder(nn.Module):
    """LSTM over a caption's words; its last hidden state h_T(s) (Eq. 34-35)."""

    def __init__(self, vocab_size: int, embed: int, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        lengths = (tokens != 0).sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(tokens), lengths, batch_first=True, enforce_sorted=False
        )
        _, (h, _) = self.lstm(packed)
        return h[-1]


class EmbeddingReward(nn.Module):
    """Visual-semantic embedding: sentence state h_T(s) and the mapped image feature f_m(f_cnn) in
    one space, trained with the hinge ranking loss of Eq. 34; the reward is their cosine (Eq.
    35)."""

    def __init__(self, vocab_size: int, channels: int, embed: int = 64, hidden: int = 128):
        super().__init__()
        self.sent = SentenceEncoder(vocab_size, embed, hidden)
        self.f_m = nn.Linear(channels, hidden)

    def pair(self, regions, tokens):
        s = nn.functional.normalize(self.sent(tokens), dim=1)
        v = nn.functional.normalize(self.f_m(regions.mean(1)), dim=1)
        return s, v

    def forward(self, regions, tokens) -> torch.Tensor:
        """r_T = h_T(s) . f_m(f_cnn) / ||.|| (Eq. 35): cosine between sentence and image, (B,)."""
        s, v = self.pair(regions, tokens)
        return (s * v).sum(1)


def ranking_loss(s: torch.Tensor, v: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Eq. 34: sum over mismatched pairs of max(0, alpha - s_k.v_k + s_k.v_j) (both directions),
    with alpha the margin and the other images/sentences of the batch as negatives."""
    sim = s @ v.T
    pos = sim.diag()
    off = ~torch.eye(len(s), dtype=torch.bool, device=s.device)
    cost = (margin - pos[:, None] + sim).clamp(min=0) + (margin - pos[None, :] + sim).clamp(min=0)
    return (cost * off).sum() / len(s)


def train_embedding(
    model: EmbeddingReward, feats, ids, settings: TrainSettings, device="cpu"
) -> dict:
    loader = _loader(caption_pairs(ids), settings.batch_size, settings.seed)

    def loss_fn(m, batch):
        idx, caps = batch
        return ranking_loss(*m.pair(feats.regions[idx].to(device), caps[:, 1:].to(device)))

    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    return fit(
        model,
        loss_fn,
        loader,
        opt,
        TrainConfig(settings.num_epochs, clip_grad_norm=settings.clip_grad_norm, desc="embedding"),
        device,
    )


class ValueNetwork(nn.Module):
    """v(s_t) (Eq. 33, Figure 9): CNN module (the frozen encoder's pooled features, one layer), an
    LSTM over the words generated so far, and a fully connected regressor of the final reward."""

    def __init__(self, vocab_size: int, channels: int, embed: int = 64, hidden: int = 128):
        super().__init__()
        self.img = nn.Linear(channels, hidden)
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.fc = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def _head(self, h, v):
        return self.fc(torch.cat([h, v[:, None].expand(-1, h.shape[1], -1)], -1)).squeeze(-1)

    def forward(self, regions: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
        """Values (B, T) of the states s_t = (image, <start> x_1..x_t) for t = 0..T-1."""
        v = torch.relu(self.img(regions.mean(1)))
        h, _ = self.lstm(self.embed(prefix))
        return self._head(h, v)

    def init(self, regions: torch.Tensor) -> dict:
        """Incremental use (value-guided decoding): the state before ``<start>`` is fed; every
        entry has the batch first."""
        z = regions.new_zeros(regions.shape[0], self.lstm.hidden_size)
        return {"v": torch.relu(self.img(regions.mean(1))), "h": z, "c": z.clone()}

    def step(self, tokens: torch.Tensor, state: dict):
        """Feed one word per row; returns (v(s) after it (B,), new state)."""
        out, (h, c) = self.lstm(self.embed(tokens)[:, None], (state["h"][None], state["c"][None]))
        return self._head(out, state["v"])[:, 0], {"v": state["v"], "h": h[0], "c": c[0]}


class ActorCritic(nn.Module):
    """Policy (the captioner, Eq. 30-32) and value network trained together (Eq. 27-29)."""

    def __init__(self, policy, value: ValueNetwork):
        super().__init__()
        self.policy, self.value = policy, value


class GroupClippedAdam(torch.optim.Adam):
    """Adam that clips the gradient norm of each parameter group separately (its ``clip`` key):
    the policy's and the value network's gradients have different scales, and one shared clip would
    let the larger one throttle the other."""

    def step(self, closure=None):
        for g in self.param_groups:
            if g.get("clip"):
                nn.utils.clip_grad_norm_(g["params"], g["clip"])
        return super().step(closure)


@dataclass(frozen=True)
class RLSettings:
    num_epochs: int = 10
    samples: int = 5  # captions sampled per image
    baseline: str = "mean"  # SCST: "mean" of the other samples of the image, or "greedy"
    critic_epochs: int = 2  # actor-critic: value network pre-trained with the policy fixed
    batch_size: int = 50  # images per batch
    lr: float = 5e-4  # a, the policy step of Eq. 28
    value_lr: float = 1e-3  # beta, the value step of Eq. 29
    embed_weight: float = 0.2  # lambda of the embedding reward next to CIDEr-D (actor-critic)
    clip_policy: float | None = 1.0
    clip_value: float | None = 1.0
    patience: int | None = 3  # stop when validation CIDEr has not improved for this many epochs
    seed: int = 0


class Reward:
    """r = CIDEr-D(caption; training document frequencies) + weight * r_T (Eq. 35)."""

    def __init__(self, cider, vocab, embedding: EmbeddingReward | None = None, weight=0.0):
        self.cider, self.vocab, self.embedding, self.weight = cider, vocab, embedding, weight

    def __call__(self, tokens, refs_batch, regions=None) -> torch.Tensor:
        hyps = [self.vocab.decode(t) for t in tokens.cpu()]
        r = torch.as_tensor(self.cider(hyps, refs_batch), dtype=torch.float32, device=tokens.device)
        if self.embedding is not None and self.weight:
            with torch.no_grad():
                r = r + self.weight * self.embedding(regions, tokens)
        return r


def _value_targets(value, regions, tokens, mask, r):
    """Values of every state s_0..s_T of the sampled captions (the state after the last action
    included, so that value-guided decoding can score a finished caption) and their squared error
    to the return r."""
    prefix = torch.cat([torch.full_like(tokens[:, :1], 1), tokens], 1)  # <start> x_1..x_T
    values = value(regions, prefix)  # (N, T+1)
    vmask = torch.cat([mask[:, :1], mask], 1)
    loss = (((r[:, None] - values) ** 2) * vmask).sum() / vmask.sum()
    return values, loss


def _rl_batch(pol, f, rb, reward, settings, gen):
    """Sample ``settings.samples`` captions per image in eval mode (no dropout) and reward them."""
    n = settings.samples
    pol.eval()
    tokens, logp, mask = sample(pol, f, generator=gen, n=n)
    rb_n = [r for r in rb for _ in range(n)]
    regions = f["regions"].repeat_interleave(n, 0)
    return tokens, logp, mask, reward(tokens, rb_n, regions), regions


def pretrain_critic(
    policy, value: ValueNetwork, feats, refs, reward: Reward, settings: RLSettings, device="cpu"
) -> dict:
    """Fit v(s_t) to the returns of captions sampled from the fixed cross-entropy policy, before
    actor-critic starts (an untrained v makes the advantage r - v(s_t) pure noise)."""
    gen = torch.Generator().manual_seed(settings.seed + 1)
    loader = _loader(
        torch.utils.data.TensorDataset(torch.arange(len(refs))), settings.batch_size, settings.seed
    )
    for p in policy.parameters():
        p.requires_grad_(False)

    def loss_fn(v, batch):
        (idx,) = batch
        f = {k: t.to(device) for k, t in feats.batch(idx).items()}
        with torch.no_grad():
            tokens, _, mask, r, regions = _rl_batch(
                policy, f, [refs[i] for i in idx.tolist()], reward, settings, gen
            )
        _, loss = _value_targets(v, regions, tokens, mask, r)
        return loss, {"reward": float(r.mean())}

    opt = GroupClippedAdam(
        [{"params": value.parameters(), "clip": settings.clip_value}], lr=settings.value_lr
    )
    try:
        return fit(
            value,
            loss_fn,
            loader,
            opt,
            TrainConfig(settings.critic_epochs, desc="critic"),
            device,
        )
    finally:
        for p in policy.parameters():
            p.requires_grad_(True)


def train_rl(
    policy,
    feats,
    refs: list[list[str]],
    reward: Reward,
    settings: RLSettings,
    method: str = "actor_critic",
    value: ValueNetwork | None = None,
    device="cpu",
    val=None,
) -> dict:
    """Fine-tune ``policy`` by RL from its cross-entropy weights; ``settings.samples`` captions per
    image are sampled in eval mode and rewarded by ``reward`` (CIDEr-D with training document
    frequencies, plus the embedding reward where its weight is set).

    ``actor_critic`` (Eq. 27-29): advantage r - v(s_t) from ``value`` (pre-trained by
    ``pretrain_critic``, then trained alongside); policy loss -sum_t (r - v(s_t)) log pi(a_t|s_t),
    value loss sum_t (r - v(s_t))^2. ``scst``: advantage r - b with b the mean reward of the image's
    other samples (``baseline="mean"``) or of its greedy caption (``"greedy"``). Policy and value
    gradients are clipped separately. ``val`` = (feats, refs, vocab) logs per epoch the greedy
    validation CIDEr (``val_cider``) and the mean validation reward (``val_reward``), keeps the best
    epoch by validation CIDEr (``KeepBest``; patience ``settings.patience``) and restores it; the
    history's ``start_*`` entries are the cross-entropy model's values."""
    if method not in ("actor_critic", "scst"):
        raise ValueError(f"method must be 'actor_critic' or 'scst', got {method!r}")
    if method == "actor_critic" and value is None:
        raise ValueError("actor_critic needs a value network (pre-trained by pretrain_critic)")
    if settings.samples < 2 and method == "scst" and settings.baseline == "mean":
        raise ValueError("the mean baseline needs at least 2 samples per image")
    V = value if method == "actor_critic" else None
    model = ActorCritic(policy, V) if V is not None else policy
    gen = torch.Generator().manual_seed(settings.seed)
    loader = _loader(
        torch.utils.data.TensorDataset(torch.arange(len(refs))), settings.batch_size, settings.seed
    )
    n = settings.samples

    def loss_fn(m, batch):
        (idx,) = batch
        f = {k: t.to(device) for k, t in feats.batch(idx).items()}
        pol = m.policy if V is not None else m
        rb = [refs[i] for i in idx.tolist()]
        tokens, logp, mask, r, regions = _rl_batch(pol, f, rb, reward, settings, gen)
        logs = {"reward": float(r.mean())}
        if V is None:
            if settings.baseline == "mean":
                g = r.reshape(-1, n)
                base = ((g.sum(1, keepdim=True) - g) / (n - 1)).reshape(-1)
            else:
                with torch.no_grad():
                    base = reward(greedy(pol, f), rb, f["regions"]).repeat_interleave(n)
            adv = (r - base)[:, None].expand_as(logp)
            return -(adv * logp * mask).sum() / mask.sum(), logs
        values, val_loss = _value_targets(m.value, regions, tokens, mask, r)
        adv = (r[:, None] - values[:, :-1]).detach()  # delta (Eq. 28), v(s_t) before action t
        pol_loss = -(adv * logp * mask).sum() / mask.sum()
        return pol_loss + val_loss, logs | {"value_loss": float(val_loss.detach())}

    groups = [
        {"params": list(policy.parameters()), "lr": settings.lr, "clip": settings.clip_policy}
    ]
    if V is not None:
        groups.append(
            {"params": list(V.parameters()), "lr": settings.value_lr, "clip": settings.clip_value}
        )
    opt = GroupClippedAdam(groups)
    evaluate, keep, start = None, None, {}
    if val:
        vf, vrefs, vocab = val

        def evaluate(m):
            pol = m.policy if V is not None else m
            hyps = decode_all(pol, vf, vocab, 1, device=device)
            cider = caption_scores(dict(enumerate(vrefs)), dict(enumerate(hyps)), meteor=False)
            toks = torch.tensor([vocab.encode(h)[1:] for h in hyps])
            rv = reward(toks.to(device), vrefs, vf.regions.to(device))
            return {"val_cider": cider["CIDEr"], "val_reward": float(rv.mean())}

        policy.eval()
        with torch.no_grad():
            start = {f"start_{k}": [v] for k, v in evaluate(model).items()}
        keep = KeepBest(model, "val_cider", mode="max", patience=settings.patience)
    hist = fit(
        model,
        loss_fn,
        loader,
        opt,
        TrainConfig(settings.num_epochs, clip_grad_norm=None, desc=method),
        device,
        evaluate=evaluate,
        on_epoch_end=keep,
    )
    if keep is not None:
        keep.restore()
        hist["best_epoch"] = [keep.best_epoch + 1]
    policy.eval()
    return hist | start


# ------------------------------------------------------------------------------------------------
# Drivers the chapter calls
# ------------------------------------------------------------------------------------------------
def build_captioner(kind: str, cfg: CaptionerConfig) -> Captioner:
    """``kind``: "nic" | "soft_attention" | "basic" | "attention" (the double-layer model)."""
    table = {
        "nic": NIC,
        "soft_attention": SoftAttention,
        "basic": GuidedNLSTMCaptioner,
        "attention": DoubleAttentionCaptioner,
    }
    if kind not in table:
        raise ValueError(f"captioner kind must be one of {list(table)}, got {kind!r}")
    return table[kind](cfg)


def train_captioners(
    kinds: dict, cfg, feats, ids, settings, word_vectors, val=None, device="cpu"
) -> tuple[dict, dict]:
    """Train one captioner per {name: kind} with cross-entropy from the same seed and word vectors;
    ``settings``: one ``TrainSettings`` or {name: TrainSettings} (learning rates tuned per model).
    Returns ({name: model}, {name: history}). Prints one line per model."""
    models, hists = {}, {}
    for name, kind in kinds.items():
        st = settings[name] if isinstance(settings, dict) else settings
        torch.manual_seed(st.seed)
        m = build_captioner(kind, cfg).load_word_vectors(word_vectors)
        hists[name] = train_xe(m, feats, ids, st, device, val)
        models[name] = m.eval()
        h = hists[name]
        extra = (
            f", best validation greedy CIDEr {max(h['val_cider']):.3f} at epoch "
            f"{h['best_epoch'][0]} of {len(h['val_cider'])}"
            if val
            else ""
        )
        print(f"{name}: final train loss {hists[name]['loss'][-1]:.3f}{extra}")
    return models, hists


def score_models(
    models: dict,
    feats,
    refs,
    vocab,
    beam: int = 5,
    meteor: bool = True,
    device="cpu",
    tokenize=False,
    per_image: bool = False,
):
    """Beam-search captions of every model on ``feats`` and their scores: (DataFrame, {name:
    captions}), and with ``per_image`` also {name: per-image CIDEr array}."""
    import pandas as pd

    rows, caps, items = {}, {}, {}
    for name, m in models.items():
        rows[name], caps[name] = evaluate_captions(
            m, feats, refs, vocab, beam, meteor, device, tokenize
        )
        items[name] = rows[name].pop("CIDEr per image")
    return (pd.DataFrame(rows).T, caps, items) if per_image else (pd.DataFrame(rows).T, caps)
