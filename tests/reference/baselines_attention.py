#!/usr/bin/env python3
"""Reference raw attention, attention rollout, Chefer 2021b and AttAttr scores for the C++
explainers' golden tests.

Plain PyTorch on the Hugging Face fixture models, float64, written from the papers
(shared/reference/baselines.md sections 2, 3 and 5), independent of the C++ code. The attention of
every layer is replaced by a written-out version (scores, causal mask, softmax in float64, values)
that passes its probabilities A_l (B, H, T, T) through STATE["hook"](layer, A_l); the hook may
record them, keep them for gradients, or replace them (AttAttr). Everything below uses full
(T, T) matrices and one forward per target (Chefer: one backward per target on one forward), with
no row propagation and no batching of the integration points:

  attention   a_t = mean_{l in S} mean_h A_l[h, p_t, :], S = {last layer} or all layers
  rollout     J = Ahat_L ... Ahat_s, Ahat_l = 0.5 mean_h A_l + 0.5 I;  row p_t of J
  chefer      f_t = target function of target t at p_t; G_l = df_t/dA_l;
              R = I; for l = s..L: R = R + mean_h(clamp(G_l * A_l, min 0)) @ R;  row p_t of R
              (diagonal "zero": R[p_t, p_t] := 0)
  attattr     for each layer l, target t: G = sum_{i=0}^{m-1} dF_t/dX at X = (i/m) A_l (layer l's
              probabilities replaced by X, the other layers as they are), Attr_l = A_l * G / m
              (H, T, T), for every layer or the listed ones; token score "row"
              sum_l sum_h Attr_l[h, p_t, :], "column_sum"
              sum_l sum_h sum_i Attr_l[h, i, :]; head importance max_{i,j} Attr_l[h, i, j] per target;
              label "predicted": F_t is of the model's own argmax at p_t (a clean pass), the
              paper's class, instead of target t

p_t = prompt_len - 1 + t. The target function is the logit, log-softmax or softmax of the target
id at p_t.

    /opt/fixenv/bin/python tests/reference/baselines_attention.py   # writes fixtures/baselines/attention*
"""
import json
import math
import os
import sys

import torch
from safetensors.torch import save_file
from reference_models import load_float64
from transformers.models.gpt2 import modeling_gpt2
from transformers.models.gpt_neox import modeling_gpt_neox
from transformers.models.gptj import modeling_gptj
from transformers.models.llama import modeling_llama
from transformers.models.qwen2 import modeling_qwen2

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "baselines")
FIXTURE_MODELS = ["gpt2", "llama_gqa", "qwen2", "gpt_neox", "gptj"]

CONFIGS = {
    "attention": {
        "last": {"layers": "last"},
        "mean": {"layers": "mean"},
    },
    "rollout": {
        "default": {"start_layer": 0},
        "start_layer_1": {"start_layer": 1},
    },
    "chefer": {
        "logit": {"target": "logit"},
        "prob": {"target": "prob"},
        "logprob_diagonal_zero": {"target": "logprob", "diagonal": "zero"},
        "start_layer_1": {"target": "logit", "start_layer": 1},
    },
    "attattr": {
        "paper": {"steps": 20, "target": "prob", "token_score": "row"},
        "logit_column_sum": {"steps": 5, "target": "logit", "token_score": "column_sum"},
        "logprob_layer_1": {"steps": 4, "target": "logprob", "token_score": "row", "layers": [1]},
        # The paper's class: the model's own argmax at p_t (xai's preset attattr), not the target.
        "predicted_label": {"steps": 6, "target": "prob", "token_score": "row",
                            "label": "predicted"},
    },
}

STATE = {"hook": None}


def probs_through_hook(scores, layer):
    """scores (B, H, T, T) already scaled -> causal softmax in float64 -> hook."""
    T = scores.shape[-1]
    allowed = torch.ones(T, T, dtype=torch.bool).tril()
    probs = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    if STATE["hook"] is not None:
        probs = STATE["hook"](layer, probs)
    return probs


def gpt2_attn(self, query, key, value, attention_mask=None, head_mask=None):
    scale = value.size(-1) ** 0.5 if self.scale_attn_weights else 1.0
    if self.scale_attn_by_inverse_layer_idx:
        scale *= float(self.layer_idx + 1)
    probs = probs_through_hook(torch.matmul(query, key.transpose(-1, -2)) / scale, self.layer_idx)
    return torch.matmul(probs, value), probs


def llama_attn_forward(self, hidden_states, attention_mask=None, position_ids=None,
                       past_key_value=None, output_attentions=False, use_cache=False,
                       cache_position=None, position_embeddings=None, **kwargs):
    bsz, q_len, _ = hidden_states.size()
    q = self.q_proj(hidden_states).view(bsz, q_len, -1, self.head_dim).transpose(1, 2)
    k = self.k_proj(hidden_states).view(bsz, q_len, -1, self.head_dim).transpose(1, 2)
    v = self.v_proj(hidden_states).view(bsz, q_len, -1, self.head_dim).transpose(1, 2)
    if position_embeddings is None:
        position_embeddings = self.rotary_emb(v, position_ids)
    cos, sin = position_embeddings
    q, k = modeling_llama.apply_rotary_pos_emb(q, k, cos, sin)
    k = modeling_llama.repeat_kv(k, self.num_key_value_groups)
    v = modeling_llama.repeat_kv(v, self.num_key_value_groups)
    scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
    probs = probs_through_hook(scores, self.layer_idx)
    out = torch.matmul(probs, v).transpose(1, 2).reshape(bsz, q_len, -1)
    return self.o_proj(out), None, past_key_value


def neox_attn(self, query, key, value, attention_mask=None, head_mask=None):
    scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(self.head_size)
    probs = probs_through_hook(scores, self.layer_idx)
    return torch.matmul(probs, value), probs


modeling_gpt2.GPT2Attention._attn = gpt2_attn
modeling_gpt_neox.GPTNeoXAttention._attn = neox_attn


def gptj_attn(self, query, key, value, attention_mask=None, head_mask=None):
    scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(self.head_dim)
    probs = probs_through_hook(scores, self.layer_idx)
    return torch.matmul(probs, value), probs


modeling_gptj.GPTJAttention._attn = gptj_attn
modeling_llama.LlamaAttention.forward = llama_attn_forward
modeling_qwen2.Qwen2Attention.forward = llama_attn_forward


def target_value(logits_row, target, how):
    """logits_row (V) -> scalar target function."""
    if how == "logit":
        return logits_row[target]
    if how == "logprob":
        return torch.log_softmax(logits_row, -1)[target]
    if how == "prob":
        return torch.softmax(logits_row, -1)[target]
    raise ValueError(how)


def clean_probs(model, ids):
    """A_l (H, T, T) of every layer from one forward without gradients."""
    kept = {}

    def keep(layer, probs):
        kept[layer] = probs[0].detach().clone()
        return probs

    STATE["hook"] = keep
    with torch.no_grad():
        model(input_ids=ids.unsqueeze(0), use_cache=False)
    STATE["hook"] = None
    return [kept[l] for l in range(len(kept))]


def raw_attention(model, ids, P, n, cfg):
    A = clean_probs(model, ids)
    layers = [len(A) - 1] if cfg["layers"] == "last" else list(range(len(A)))
    a = torch.stack([A[l].mean(0) for l in layers]).mean(0)  # (T, T)
    return torch.stack([a[P - 1 + t] for t in range(n)])


def rollout(model, ids, P, n, cfg):
    A = clean_probs(model, ids)
    T = ids.numel()
    eye = torch.eye(T, dtype=torch.float64)
    J = eye.clone()
    for l in range(cfg["start_layer"], len(A)):
        J = (0.5 * A[l].mean(0) + 0.5 * eye) @ J
    assert torch.allclose(J.sum(-1), torch.ones(T, dtype=torch.float64))
    return torch.stack([J[P - 1 + t] for t in range(n)])


def chefer(model, ids, P, n, targets, cfg):
    kept = {}

    def keep(layer, probs):
        probs.retain_grad()
        kept[layer] = probs
        return probs

    STATE["hook"] = keep
    emb = model.get_input_embeddings()(ids.unsqueeze(0)).detach().requires_grad_(True)
    logits = model(inputs_embeds=emb, use_cache=False).logits[0]  # (T, V)
    STATE["hook"] = None
    L, T = len(kept), ids.numel()
    rows = []
    for t in range(n):
        p = P - 1 + t
        for l in range(L):
            kept[l].grad = None
        target_value(logits[p], targets[t], cfg["target"]).backward(retain_graph=True)
        R = torch.eye(T, dtype=torch.float64)
        for l in range(cfg.get("start_layer", 0), L):
            A, G = kept[l][0].detach(), kept[l].grad[0]
            R = R + (G * A).clamp(min=0).mean(0) @ R
        row = R[p].clone()
        if cfg.get("diagonal") == "zero":
            row[p] = 0
        rows.append(row)
    return torch.stack(rows)


def attattr(model, ids, P, n, targets, cfg):
    m = cfg["steps"]
    A = clean_probs(model, ids)
    L, H, T = len(A), A[0].shape[0], ids.numel()
    scores = torch.zeros(n, T, dtype=torch.float64)
    importance = torch.zeros(n, L, H, dtype=torch.float64)
    labels = targets
    if cfg.get("label") == "predicted":
        with torch.no_grad():
            clean = model(input_ids=ids.unsqueeze(0), use_cache=False).logits[0]
        labels = torch.stack([clean[P - 1 + t].argmax() for t in range(n)])
    for l in cfg.get("layers", range(L)):
        for t in range(n):
            p = P - 1 + t
            G = torch.zeros(H, T, T, dtype=torch.float64)
            for i in range(m):
                X = ((i / m) * A[l]).unsqueeze(0).requires_grad_(True)
                STATE["hook"] = lambda layer, probs, X=X, l=l: X if layer == l else probs
                logits = model(input_ids=ids.unsqueeze(0), use_cache=False).logits[0]
                STATE["hook"] = None
                f = target_value(logits[p], labels[t], cfg["target"])
                G += torch.autograd.grad(f, X)[0][0]
            attr = A[l] * G / m  # (H, T, T)
            if cfg["token_score"] == "row":
                scores[t] += attr[:, p, :].sum(0)
            else:
                scores[t] += attr.sum((0, 1))
            importance[t, l] = attr.amax((1, 2))
    return scores, importance


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "attention_configs.json"), "w") as f:
        json.dump(CONFIGS, f, indent=2, sort_keys=True)
    for name in sys.argv[1:] or FIXTURE_MODELS:
        model = load_float64(name)
        V = model.config.vocab_size
        g = torch.Generator().manual_seed(11)
        tensors = {}
        for k, (P, n) in enumerate([(12, 3), (8, 2)]):
            base = torch.randint(3, V, (P + n,), generator=g)
            ids, targets = base[: P + n - 1].clone(), base[P:].clone()
            pre = f"p{k}."
            tensors[pre + "ids"] = ids
            tensors[pre + "prompt_len"] = torch.tensor([P])
            tensors[pre + "targets"] = targets
            for c, cfg in CONFIGS["attention"].items():
                tensors[pre + "attention." + c] = raw_attention(model, ids, P, n, cfg)
            for c, cfg in CONFIGS["rollout"].items():
                tensors[pre + "rollout." + c] = rollout(model, ids, P, n, cfg)
            for c, cfg in CONFIGS["chefer"].items():
                tensors[pre + "chefer." + c] = chefer(model, ids, P, n, targets, cfg)
            for c, cfg in CONFIGS["attattr"].items():
                s, imp = attattr(model, ids, P, n, targets, cfg)
                tensors[pre + "attattr." + c] = s
                tensors[pre + "attattr." + c + ".head_importance"] = imp
        save_file({k: v.contiguous() for k, v in tensors.items()},
                  os.path.join(OUT, f"attention_{name}.safetensors"))
        print("attention", name, "written")


if __name__ == "__main__":
    main()
