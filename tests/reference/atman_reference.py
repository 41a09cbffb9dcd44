#!/usr/bin/env python3
"""Reference AtMan per-target scores for the C++ explainer's golden test.

Implements the AtMan reference-code semantics (shared/reference/atman.md sections 1-3, 7) in
plain PyTorch on the Hugging Face fixture models, with their attention replaced by a written-out
version that applies the suppression:

    shifted scores:  A = QK^T;  A -= rowmin over ALL keys (or valid keys);  A *= F[key];
                     A[masked] = -1e4;  A /= sqrt(d);  A[masked] = -1e9;  A = max(A, -1e4);  softmax
    log-additive:    A = QK^T / sqrt(d) + log F[key]  (F = 0 -> -1e4);  masked -> -inf;  softmax

One forward per perturbation (no caching, batch 1, full LM head), float64 throughout, the clean
pass through the same code with F = 1, exactly as the reference code runs it. For perturbation i
and target t: per_target[t, i] = CE_t(i suppressed) - CE_t(clean) (xai's sign: positive = i
matters). Positions: every prompt token and every target token but the last.

    python3 tests/reference/atman_reference.py             # writes tests/fixtures/atman/
    python3 tests/reference/atman_reference.py gpt_neox    # only that model's file
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
OUT = os.path.join(ROOT, "tests", "fixtures", "atman")

CONFIGS = {
    "single": {"factor": 0.1, "kappa": None},
    "correlated": {"factor": 0.1, "kappa": 0.15},
    "log_additive": {"factor": 0.1, "kappa": None, "mode": "log_additive"},
    "valid_keys": {"factor": 0.1, "kappa": None, "minimum_over": "valid_keys"},
    "flat_top1": {"factor": 0.3, "kappa": 0.15, "neighbour_factor": "flat", "top_k": 1},
    "layer1_only": {"factor": 0.1, "kappa": None, "layers": [1]},
}

STATE = {"F": None, "mode": "shifted_scores", "minimum_over": "all_keys", "layers": None}


def manipulated_probs(raw, layer, scale):
    """raw (B, H, T, S) = QK^T -> attention probabilities with the current suppression."""
    T, S = raw.shape[-2], raw.shape[-1]
    allowed = torch.ones(T, S, dtype=torch.bool).tril(S - T)
    F = STATE["F"]
    if F is None or (STATE["layers"] is not None and layer not in STATE["layers"]):
        F = torch.ones(S, dtype=raw.dtype)
    if STATE["mode"] == "shifted_scores":
        if STATE["minimum_over"] == "all_keys":
            m = raw.amin(-1, keepdim=True)
        else:
            m = raw.masked_fill(~allowed, float("inf")).amin(-1, keepdim=True)
        a = (raw - m) * F
        a = a.masked_fill(~allowed, -10000.0)
        a = a / scale
        a = torch.where(allowed, a, torch.full_like(a, -1e9))
        a = a.clamp(min=-10000.0)
    else:
        M = torch.where(F == 0, torch.full_like(F, -10000.0), torch.log(F))
        a = raw / scale + M
        a = a.masked_fill(~allowed, float("-inf"))
    return torch.softmax(a, dim=-1)


def gpt2_attn(self, query, key, value, attention_mask=None, head_mask=None):
    raw = torch.matmul(query, key.transpose(-1, -2))
    scale = value.size(-1) ** 0.5 if self.scale_attn_weights else 1.0
    if self.scale_attn_by_inverse_layer_idx:
        scale *= float(self.layer_idx + 1)
    probs = manipulated_probs(raw, self.layer_idx, scale)
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
    raw = torch.matmul(q, k.transpose(2, 3))
    probs = manipulated_probs(raw, self.layer_idx, math.sqrt(self.head_dim))
    out = torch.matmul(probs, v).transpose(1, 2).reshape(bsz, q_len, -1)
    return self.o_proj(out), None, past_key_value


def neox_attn(self, query, key, value, attention_mask=None, head_mask=None):
    raw = torch.matmul(query, key.transpose(-1, -2))
    probs = manipulated_probs(raw, self.layer_idx, math.sqrt(self.head_size))
    return torch.matmul(probs, value), probs


modeling_gpt2.GPT2Attention._attn = gpt2_attn
modeling_gpt_neox.GPTNeoXAttention._attn = neox_attn


def gptj_attn(self, query, key, value, attention_mask=None, head_mask=None):
    raw = torch.matmul(query, key.transpose(-1, -2))
    probs = manipulated_probs(raw, self.layer_idx, math.sqrt(self.head_dim))
    return torch.matmul(probs, value), probs


modeling_gptj.GPTJAttention._attn = gptj_attn
modeling_llama.LlamaAttention.forward = llama_attn_forward
modeling_qwen2.Qwen2Attention.forward = llama_attn_forward


def suppressions(emb, positions, cfg):
    """Per explained position: (keys, factors) as the reference builds them."""
    s = cfg["factor"]
    e = emb.float()
    n = e / e.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    cos = (n @ n.T).clamp(-1, 1)
    out = []
    for i in positions:
        keys, factors = [i], [s]
        if cfg.get("kappa") is not None:
            nb = [j for j in range(emb.shape[0]) if j != i and cos[i, j] >= cfg["kappa"]]
            if cfg.get("top_k"):
                nb = sorted(sorted(nb, key=lambda j: -cos[i, j].item())[: cfg["top_k"]])
            for j in nb:
                c = cos[i, j].item()
                if cfg.get("neighbour_factor", "cos_scaled") == "cos_scaled":
                    m = 1.0 if (c < 0 or c > 1) else (1 - s) * (1 - c) + s
                else:
                    m = s
                keys.append(j)
                factors.append(m)
        out.append((keys, factors))
    return out


def target_ce(model, ids, prompt_len, targets, F):
    STATE["F"] = F
    with torch.no_grad():
        logits = model(input_ids=ids.unsqueeze(0), use_cache=False).logits[0]  # (T, V)
    n = targets.numel()
    lp = torch.log_softmax(logits[prompt_len - 1: prompt_len - 1 + n].double(), -1)
    return -lp.gather(1, targets.view(-1, 1)).view(-1)


def per_target(model, ids, prompt_len, targets, cfg):
    T = ids.numel()
    STATE["mode"] = cfg.get("mode", "shifted_scores")
    STATE["minimum_over"] = cfg.get("minimum_over", "all_keys")
    STATE["layers"] = cfg.get("layers")
    clean = target_ce(model, ids, prompt_len, targets, torch.ones(T, dtype=torch.float64))
    emb = model.get_input_embeddings()(ids).detach()
    out = torch.zeros(targets.numel(), T, dtype=torch.float64)
    for i, (keys, factors) in enumerate(suppressions(emb, range(T), cfg)):
        F = torch.ones(T, dtype=torch.float64)
        for k, f in zip(keys, factors):
            F[k] = f
        out[:, i] = target_ce(model, ids, prompt_len, targets, F) - clean
    STATE["F"] = None
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "configs.json"), "w") as f:
        json.dump(CONFIGS, f, indent=2, sort_keys=True)
    names = sys.argv[1:] or ["gpt2", "llama_gqa", "qwen2", "gpt_neox", "gptj"]
    for name in names:
        model = load_float64(name)
        V = model.config.vocab_size
        g = torch.Generator().manual_seed(7)
        tensors = {}
        # Prompts with repeated tokens, so correlated suppression finds neighbours.
        for p, (P, n) in enumerate([(10, 3), (7, 2)]):
            base = torch.randint(3, V, (P + n,), generator=g)
            base[P // 2] = base[1]
            base[P - 1] = base[2]
            ids, targets = base[: P + n - 1].clone(), base[P:].clone()
            tensors[f"p{p}.ids"] = ids
            tensors[f"p{p}.prompt_len"] = torch.tensor([P])
            tensors[f"p{p}.targets"] = targets
            for cname, cfg in CONFIGS.items():
                tensors[f"p{p}.per_target.{cname}"] = per_target(model, ids, P, targets, cfg)
        save_file(tensors, os.path.join(OUT, f"{name}.safetensors"))
        print(name, "written")


if __name__ == "__main__":
    main()
