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

from ..core.training import TrainConfig, fit
from .decoding import beam_search, greedy, sample
from .baselines import NIC, SoftAttention
from .models import Captioner, CaptionerConfig, DoubleAttentionCaptioner, GuidedNLSTMCaptioner
from .metrics import caption_scores, cider_per_caption


@dataclass(frozen=True)
class TrainSettings:
    num_epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    clip_grad_norm: float | None = 2.0
    seed: int = 0


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
    model, feats, vocab, beam: int = 1, batch_size: int = 256, device="cpu", max_len: int = 16
) -> list[str]:
    """Captions (strings) for every image of ``feats``: greedy (beam=1) or beam search."""
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(feats), batch_size):
            f = {k: v.to(device) for k, v in feats.batch(slice(s, s + batch_size)).items()}
            seq = greedy(model, f, max_len) if beam == 1 else beam_search(model, f, beam, max_len)
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
) -> tuple[dict, list[str]]:
    """All metrics of ``model``'s captions (beam search) against ``refs``; returns (scores,
    captions). ``tokenize``: PTB-tokenise first (real captions)."""
    hyps = decode_all(model, feats, vocab, beam, device=device)
    scores = caption_scores(
        {i: r for i, r in enumerate(refs)}, dict(enumerate(hyps)), meteor=meteor, tokenize=tokenize
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
    """Cross-entropy training on every (image, reference) pair; ``val`` = (feats, refs, vocab) adds
    a per-epoch greedy CIDEr on held-out images to the history."""
    loader = _loader(caption_pairs(ids), settings.batch_size, settings.seed)

    def loss_fn(m, batch):
        idx, caps = batch
        return xe_loss(m, feats, idx, caps, device)

    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    sched = torch.optim.lr_scheduler.StepLR(
        opt, step_size=max(1, settings.num_epochs // 2), gamma=0.5
    )
    evaluate = (
        (lambda m: {"val_cider": val_cider(m, val[0], val[1], val[2], device)}) if val else None
    )
    return fit(
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
        scheduler=sched,
        evaluate=evaluate,
    )


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

    def forward(self, regions: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
        """Values (B, T) of the states s_t = (image, <start> x_1..x_t) for t = 0..T-1."""
        v = torch.relu(self.img(regions.mean(1)))
        h, _ = self.lstm(self.embed(prefix))
        return self.fc(torch.cat([h, v[:, None].expand(-1, h.shape[1], -1)], -1)).squeeze(-1)


class ActorCritic(nn.Module):
    """Policy (the captioner, Eq. 30-32) and value network trained together (Eq. 27-29)."""

    def __init__(self, policy, value: ValueNetwork):
        super().__init__()
        self.policy, self.value = policy, value


@dataclass(frozen=True)
class RLSettings:
    num_epochs: int = 3
    # actor-critic: train the value network alone first (policy fixed)
    critic_warmup_epochs: int = 1
    batch_size: int = 50
    lr: float = 2e-4  # a, the policy step of Eq. 28
    value_lr: float = 1e-3  # beta, the value step of Eq. 29
    embed_weight: float = 0.2  # lambda of the embedding reward next to CIDEr
    clip_grad_norm: float | None = 2.0
    seed: int = 0


def _rewards(
    tokens, refs_batch, vocab, emb: EmbeddingReward | None, regions, weight: float
) -> torch.Tensor:
    hyps = [vocab.decode(t) for t in tokens.cpu()]
    r = torch.as_tensor(
        cider_per_caption(hyps, refs_batch), dtype=torch.float32, device=tokens.device
    )
    if emb is not None and weight:
        with torch.no_grad():
            r = r + weight * emb(regions, tokens)
    return r


def train_rl(
    policy,
    feats,
    refs: list[list[str]],
    vocab,
    settings: RLSettings,
    method: str = "actor_critic",
    embedding: EmbeddingReward | None = None,
    device="cpu",
    val=None,
) -> dict:
    """Fine-tune ``policy`` by RL from its cross-entropy weights.

    ``actor_critic``: sample a caption, reward r = CIDEr + lambda * r_T (Eq. 35), value v(s_t) from
    a ValueNetwork; policy loss -sum_t (r - v(s_t)) log pi(a_t|s_t) (Eq. 27-28), value loss sum_t
    (r - v(s_t))^2 (Eq. 29), after ``critic_warmup_epochs`` of training v alone. ``scst``: advantage
    r(sample) - r(greedy caption), CIDEr only."""
    if method not in ("actor_critic", "scst"):
        raise ValueError(f"method must be 'actor_critic' or 'scst', got {method!r}")
    V = (
        ValueNetwork(
            policy.cfg.vocab_size, policy.cfg.channels, policy.cfg.embed, policy.cfg.hidden
        )
        if method == "actor_critic"
        else None
    )
    model = ActorCritic(policy, V) if V is not None else policy
    gen = torch.Generator().manual_seed(settings.seed)
    loader = _loader(
        torch.utils.data.TensorDataset(torch.arange(len(refs))), settings.batch_size, settings.seed
    )
    warmup_steps = settings.critic_warmup_epochs * len(loader) if V is not None else 0
    step = {"n": 0}

    def loss_fn(m, batch):
        (idx,) = batch
        f = {k: v.to(device) for k, v in feats.batch(idx).items()}
        pol = m.policy if V is not None else m
        tokens, logp, mask = sample(pol, f, generator=gen)
        rb = [refs[i] for i in idx.tolist()]
        r = _rewards(
            tokens,
            rb,
            vocab,
            embedding if V is not None else None,
            f["regions"],
            settings.embed_weight,
        )
        if V is None:
            pol.eval()
            with torch.no_grad():
                base = _rewards(greedy(pol, f), rb, vocab, None, None, 0.0)
            pol.train()
            adv = (r - base)[:, None].expand_as(logp)
            loss = -(adv * logp * mask).sum() / mask.sum()
            return loss, {"reward": float(r.mean())}
        prefix = torch.cat([torch.full_like(tokens[:, :1], 1), tokens[:, :-1]], 1)
        values = m.value(f["regions"], prefix)  # v(s_t), t = 0..T-1
        adv = (r[:, None] - values).detach()  # delta (Eq. 28)
        pol_loss = -(adv * logp * mask).sum() / mask.sum()
        val_loss = (((r[:, None] - values) ** 2) * mask).sum() / mask.sum()  # Eq. 29
        step["n"] += 1
        # critic warm-up: an untrained v(s_t) makes delta = r, pure noise
        if step["n"] <= warmup_steps:
            pol_loss = 0.0 * pol_loss
        return pol_loss + val_loss, {
            "reward": float(r.mean()),
            "value_loss": float(val_loss.detach()),
        }

    groups = [{"params": policy.parameters(), "lr": settings.lr}]
    if V is not None:
        groups.append({"params": V.parameters(), "lr": settings.value_lr})
    opt = torch.optim.Adam(groups)
    evaluate = (
        (
            lambda m: {
                "val_cider": val_cider(
                    m.policy if V is not None else m, val[0], val[1], val[2], device
                )
            }
        )
        if val
        else None
    )
    hist = fit(
        model,
        loss_fn,
        loader,
        opt,
        TrainConfig(settings.num_epochs, clip_grad_norm=settings.clip_grad_norm, desc=method),
        device,
        evaluate=evaluate,
    )
    policy.eval()
    return hist


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
    kinds: dict, cfg, feats, ids, settings: TrainSettings, word_vectors, val=None, device="cpu"
) -> tuple[dict, dict]:
    """Train one captioner per {name: kind} with cross-entropy from the same seed and word vectors;
    returns ({name: model}, {name: history}). Prints one line per model."""
    models, hists = {}, {}
    for name, kind in kinds.items():
        torch.manual_seed(settings.seed)
        m = build_captioner(kind, cfg).load_word_vectors(word_vectors)
        hists[name] = train_xe(m, feats, ids, settings, device, val)
        models[name] = m.eval()
        extra = f", held-out greedy CIDEr {hists[name]['val_cider'][-1]:.3f}" if val else ""
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
):
    """Beam-search captions of every model on ``feats`` and their scores: (DataFrame, {name:
    captions})."""
    import pandas as pd

    rows, caps = {}, {}
    for name, m in models.items():
        rows[name], caps[name] = evaluate_captions(
            m, feats, refs, vocab, beam, meteor, device, tokenize
        )
    return pd.DataFrame(rows).T, caps
