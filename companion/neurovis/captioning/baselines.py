"""Baselines on the same frozen encoder: NIC (Vinyals et al. 2015, image fed once at t = -1) and
soft attention (Show, Attend and Tell, Xu et al. 2015: attention driven by h_{t-1}, Eq. 15-17)."""

from __future__ import annotations

import torch
from torch import nn

from .models import Captioner, CaptionerConfig


class NIC(Captioner):
    """CNN + LSTM: the mean-pooled image feature, projected to the word space, is the LSTM's input
    before the first word and never again."""

    def __init__(self, cfg: CaptionerConfig):
        super().__init__(cfg)
        self.img = nn.Linear(cfg.channels, cfg.embed)
        self.lstm = nn.LSTMCell(cfg.embed, cfg.hidden)
        self.out = nn.Linear(cfg.hidden, cfg.vocab_size)

    def init_state(self, feats):
        x = self.img(feats["regions"].mean(1))
        h, c = self.lstm(x)
        return {"h": h, "c": c}

    def step(self, tokens, state):
        h, c = self.lstm(self.embed(tokens), (state["h"], state["c"]))
        return self.out(h), {"h": h, "c": c}, None


class SoftAttention(Captioner):
    """Show, Attend and Tell (deterministic soft attention): context v^_t = sum_i a_it v_i with
    a_t = softmax(f_att(v_i, h_{t-1})) (Eq. 15-17) joins the word embedding as the LSTM input."""

    def __init__(self, cfg: CaptionerConfig):
        super().__init__(cfg)
        self.V = nn.Linear(cfg.channels, cfg.hidden)
        self.att_v = nn.Linear(cfg.hidden, cfg.att, bias=False)
        self.att_h = nn.Linear(cfg.hidden, cfg.att)
        self.att_a = nn.Linear(cfg.att, 1, bias=False)
        self.init_h = nn.Linear(cfg.hidden, 2 * cfg.hidden)
        self.lstm = nn.LSTMCell(cfg.embed + cfg.hidden, cfg.hidden)
        self.out = nn.Linear(cfg.hidden, cfg.vocab_size)

    def init_state(self, feats):
        V = self.V(feats["regions"])
        h, c = torch.tanh(self.init_h(V.mean(1))).chunk(2, dim=1)
        return {"V": V, "Vp": self.att_v(V), "h": h, "c": c}

    def step(self, tokens, state):
        # Eq. 15
        e = self.att_a(torch.tanh(state["Vp"] + self.att_h(state["h"]).unsqueeze(1))).squeeze(-1)
        # Eq. 16
        a = torch.softmax(e, dim=1)
        # Eq. 17
        ctx = (a.unsqueeze(-1) * state["V"]).sum(1)
        h, c = self.lstm(torch.cat([self.embed(tokens), ctx], 1), (state["h"], state["c"]))
        return self.out(h), {**state, "h": h, "c": c}, a
