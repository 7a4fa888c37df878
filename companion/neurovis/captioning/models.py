"""The paper's captioners: the nested LSTM (Eq. 4-11), the guided decoding network CNN-g (Eq.
12-13), the basic model (Section 2) and the double-layer decoder with attention (Eq. 19-26).

Every captioner has the same interface so that training, sampling and beam search are shared:
``init_state(feats) -> state`` and ``step(tokens, state) -> (logits, state, attention or None)``,
where ``feats`` is ``{"regions": (B, R, C), "mil": (B, |D|, h, w)}`` and every state entry has the
batch as its first dimension.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn


@dataclass(frozen=True)
class CaptionerConfig:
    """Sizes of a captioner. ``channels``/``num_words``/``grid``: the encoder's output (C, |D|, (h,
    w))."""

    vocab_size: int
    channels: int
    num_words: int
    grid: tuple
    embed: int = 64
    hidden: int = 128
    att: int = 64
    guide_channels: int = 32
    dropout: float = 0.5
    # the NLSTM's inner memory; "add" makes it an ordinary LSTM (ablation)
    inner: str = "lstm"

    @classmethod
    def small(cls, vocab_size, channels, num_words, grid, **kw):
        return cls(vocab_size, channels, num_words, tuple(grid), **kw)

    @classmethod
    def paper(cls, vocab_size, channels, num_words, grid, **kw):
        """512-d embeddings and states (the usual NIC sizes; the paper does not state its own)."""
        return cls(
            vocab_size,
            channels,
            num_words,
            tuple(grid),
            embed=512,
            hidden=512,
            att=512,
            guide_channels=256,
            **kw,
        )

    def ablated(self, **changes) -> "CaptionerConfig":
        """A copy with some fields changed, e.g. ``cfg.ablated(inner="add")``."""
        return replace(self, **changes)

    def with_dropout(self, p: float) -> "CaptionerConfig":
        if not 0 <= p < 1:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        return replace(self, dropout=p)


class NestedLSTMCell(nn.Module):
    """Nested LSTM cell (Eq. 4-11). The outer gates i, f, o and candidate g come from (x_t,
    h_{t-1}); instead of c_t = f*c_{t-1} + i*tanh(g), the memory is an inner LSTM (Eq. 5-9) fed with
    x~_t = i*tanh(g) and h~_{t-1} = f*c_{t-1} (Eq. 4); c_t = h~_t (Eq. 10), h_t = o*tanh(c_t) (Eq.
    11).

    ``inner="add"`` replaces the inner LSTM by the sum x~_t + h~_{t-1}: the cell is then exactly an
    LSTM (the reduction used to test it). State: (h, c, c~), each (B, hidden)."""

    def __init__(self, input_size: int, hidden_size: int, inner: str = "lstm"):
        super().__init__()
        if inner not in ("lstm", "add"):
            raise ValueError(f"inner must be 'lstm' or 'add', got {inner!r}")
        self.hidden_size, self.inner = hidden_size, inner
        # w_i, w_f, w_c, w_o (gate order of nn.LSTMCell)
        self.x2h = nn.Linear(input_size, 4 * hidden_size)
        self.h2h = nn.Linear(hidden_size, 4 * hidden_size)  # u_i, u_f, u_c, u_o
        if inner == "lstm":
            self.inner_cell = nn.LSTMCell(hidden_size, hidden_size)  # Eq. 5-9 (w~, u~, b~)

    def init_state(self, batch: int, device=None, h=None, c=None):
        z = torch.zeros(batch, self.hidden_size, device=device)
        return (z if h is None else h, z if c is None else c, z.clone())

    def forward(self, x: torch.Tensor, state):
        h, c, c_in = state
        i, f, g, o = (self.x2h(x) + self.h2h(h)).chunk(4, dim=1)
        i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
        x_in = i * torch.tanh(g)  # x~_t  (Eq. 4, second argument of m_t)
        h_in = f * c  # h~_{t-1} (Eq. 4, first argument of m_t)
        if self.inner == "add":
            c_new, c_in_new = x_in + h_in, c_in
        else:
            c_new, c_in_new = self.inner_cell(x_in, (h_in, c_in))  # Eq. 5-9; c_t = h~_t (Eq. 10)
        h_new = o * torch.tanh(c_new)  # Eq. 11
        return h_new, c_new, c_in_new


class GuideNet(nn.Module):
    """CNN-g (Figure 2, Eq. 12): v = f_g(A + M) with A the encoder's feature map and M the MIL
    region word probabilities of the image's top-10 words mapped to the same channels (1x1 conv);
    two conv layers and a fully connected layer."""

    def __init__(self, cfg: CaptionerConfig):
        super().__init__()
        self.grid = cfg.grid
        self.words = nn.Conv2d(cfg.num_words, cfg.channels, 1, bias=False)
        self.conv = nn.Sequential(
            nn.Conv2d(cfg.channels, cfg.guide_channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(cfg.guide_channels, cfg.guide_channels, 3, padding=1),
            nn.ReLU(),
        )
        self.fc = nn.Linear(cfg.guide_channels * cfg.grid[0] * cfg.grid[1], cfg.hidden)
        self.norm = nn.LayerNorm(cfg.hidden)  # keeps v on the scale of the word input of Eq. 13

    def forward(self, regions: torch.Tensor, mil: torch.Tensor) -> torch.Tensor:
        B, R, C = regions.shape
        A = regions.transpose(1, 2).reshape(B, C, *self.grid)
        return self.norm(self.fc(self.conv(A + self.words(mil)).flatten(1)))


class Captioner(nn.Module):
    """Shared parts: word embedding (initialised from skip-gram vectors), teacher-forced forward.
    ``drop`` is used only between the two decoder layers of the double-layer model (Figure 6)."""

    def __init__(self, cfg: CaptionerConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed, padding_idx=0)
        self.drop = nn.Dropout(cfg.dropout)

    def load_word_vectors(self, vectors: torch.Tensor):
        if vectors.shape != self.embed.weight.shape:
            raise ValueError(
                f"word vectors {tuple(vectors.shape)} do not match the embedding "
                f"{tuple(self.embed.weight.shape)}"
            )
        with torch.no_grad():
            self.embed.weight.copy_(vectors)
        return self

    def init_state(self, feats: dict) -> dict:
        raise NotImplementedError

    def step(self, tokens, state):
        raise NotImplementedError

    def forward(self, feats: dict, captions: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits (B, L-1, V) of captions[:, 1:] given captions[:, :-1]."""
        state = self.init_state(feats)
        out = []
        for t in range(captions.shape[1] - 1):
            logits, state, _ = self.step(captions[:, t], state)
            out.append(logits)
        return torch.stack(out, 1)


class GuidedNLSTMCaptioner(Captioner):
    """The basic model (Figure 4): DenseNet + MIL encoder, CNN-g guide v fed at every step through
    y_t = w_v v + w_e x_t (Eq. 13), an NLSTM decoder and a softmax over the vocabulary."""

    def __init__(self, cfg: CaptionerConfig):
        super().__init__(cfg)
        self.guide = GuideNet(cfg)
        self.w_v = nn.Linear(cfg.hidden, cfg.hidden, bias=False)
        self.w_e = nn.Linear(cfg.embed, cfg.hidden)
        self.init_h = nn.Linear(cfg.hidden, 2 * cfg.hidden)
        self.nlstm = NestedLSTMCell(cfg.hidden, cfg.hidden, cfg.inner)
        self.out = nn.Linear(cfg.hidden, cfg.vocab_size)

    def _layer1_init(self, feats):
        v = self.guide(feats["regions"], feats["mil"])
        h, c = torch.tanh(self.init_h(v)).chunk(2, dim=1)
        return {"v": self.w_v(v), "h1": h, "c1": c, "ci1": torch.zeros_like(h)}

    def _layer1(self, tokens, state):
        y = state["v"] + self.w_e(self.embed(tokens))  # Eq. 13
        return self.nlstm(y, (state["h1"], state["c1"], state["ci1"]))

    def init_state(self, feats):
        return self._layer1_init(feats)

    def step(self, tokens, state):
        h, c, ci = self._layer1(tokens, state)
        return self.out(h), {**state, "h1": h, "c1": c, "ci1": ci}, None


class DoubleAttentionCaptioner(GuidedNLSTMCaptioner):
    """The final model (Figure 5): the basic model's NLSTM as layer 1, attention over the DenseNet
    regions driven by h^1_t (Eq. 21-23), residual fusion x^2_t = v^_t + h^1_t (Eq. 24), dropout
    between the layers (Figure 6), an LSTM as layer 2 (Eq. 25) and linear -> FC -> softmax output
    (Eq. 26)."""

    def __init__(self, cfg: CaptionerConfig):
        super().__init__(cfg)
        del self.out
        self.w_vi = nn.Linear(cfg.channels, cfg.hidden)  # Eq. 19: v = w_vi f_cnn(I)
        self.att_v = nn.Linear(cfg.hidden, cfg.att, bias=False)  # w_v  (Eq. 21)
        self.att_h = nn.Linear(cfg.hidden, cfg.att)  # w_h  (Eq. 21)
        self.att_a = nn.Linear(cfg.att, 1, bias=False)  # w_a  (Eq. 22)
        self.lstm2 = nn.LSTMCell(cfg.hidden, cfg.hidden)  # Eq. 25
        self.reduce = nn.Linear(cfg.hidden, cfg.hidden // 2)  # Eq. 26: linear (reduction) ...
        self.out = nn.Linear(cfg.hidden // 2, cfg.vocab_size)  # ... then FC to the vocabulary

    def init_state(self, feats):
        state = self._layer1_init(feats)
        V = self.w_vi(feats["regions"])
        return {
            **state,
            "V": V,
            "Vp": self.att_v(V),
            "h2": torch.zeros_like(state["h1"]),
            "c2": torch.zeros_like(state["h1"]),
        }

    def attend(self, Vp, V, h1):
        """Eq. 21-23: a_t = softmax(w_a tanh(w_v v + w_h h^1_t)), v^_t = sum_i a_it v_i."""
        a = torch.softmax(
            self.att_a(torch.tanh(Vp + self.att_h(h1).unsqueeze(1))).squeeze(-1), dim=1
        )
        return (a.unsqueeze(-1) * V).sum(1), a

    def step(self, tokens, state):
        h1, c1, ci1 = self._layer1(tokens, state)  # Eq. 20
        ctx, a = self.attend(state["Vp"], state["V"], h1)
        # Eq. 24, dropout between the layers
        x2 = self.drop(ctx + h1)
        h2, c2 = self.lstm2(x2, (state["h2"], state["c2"]))  # Eq. 25
        logits = self.out(self.reduce(h2))  # Eq. 26 (softmax in the loss)
        return logits, {**state, "h1": h1, "c1": c1, "ci1": ci1, "h2": h2, "c2": c2}, a
