#!/usr/bin/env python3
"""Reference saliency, input x gradient and integrated gradients for the C++ explainers' golden tests.

captum (Saliency with abs=False, InputXGradient, IntegratedGradients with the given quadrature,
steps and convergence delta) on an inputs_embeds forward of the Hugging Face fixture models (eager
attention, float64), written from shared/reference/baselines.md section 6, independent of the C++
code. Multi-token targets the way captum's LLM attribution does them: for target token t the input
is prompt + targets[:t] (teacher forcing) and f_t is the target function of the last position's
logits; the attribution (length P + t) is padded with zeros to T = P + n - 1.

    f_t = logit | log_softmax | softmax of logits[P - 1 + t] at target id y_t
    saliency:               df_t/dE                        -> reduced over d
    input_x_gradient:       E * df_t/dE                    -> reduced over d
    integrated_gradients:   (E - E0) * sum_k w_k df_t/dE(E0 + a_k (E - E0)), captum's
                            approximation_methods (a_k, w_k);  E0 = 0 ("zero") or the embedding of
                            baseline_token_id at every position ("token", "unk"), a leading BOS
                            (prompts flagged "bos") keeping its own id when baseline_keep_bos;
                            delta_t = sum(attribution) - (f_t(E) - f_t(E0)), captum's
                            (and f_t(E) - f_t(E0) as "fdiff")
    reduction over d: sum | l2 | abs_sum; then xai's finish_scores: 0 after the predicting position
    (and at it with exclude_predicting, at position 0 of "bos" prompts with exclude_bos), then l1 /
    max_abs normalisation over the row.

    /opt/fixenv/bin/python tests/reference/baselines_gradient.py  # tests/fixtures/baselines/gradient*

captum 0.7.0 supports torch 1.13. Install it without letting pip upgrade numpy to 2.x, which breaks
torch 1.13 (captum imports matplotlib, whose newest releases want numpy >= 1.25):
    /opt/fixenv/bin/pip install --no-deps captum==0.7.0 matplotlib==3.8.4 contourpy==1.2.1 \
        cycler kiwisolver fonttools tqdm
"""
import json
import os
import sys

import torch
from captum.attr import InputXGradient, IntegratedGradients, Saliency
from safetensors.torch import save_file
from reference_models import load_float64

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "baselines")

# name -> the explainer's YAML parameters plus "method"; what the reference does follows from them.
CONFIGS = {
    "saliency_default": {"method": "saliency"},
    "saliency_sum_logprob": {"method": "saliency", "target": "logprob",
                             "embedding_aggregation": "sum"},
    "saliency_abs_sum_prob_max_abs": {"method": "saliency", "target": "prob",
                                      "embedding_aggregation": "abs_sum",
                                      "normalize": "max_abs"},
    "ixg_default": {"method": "input_x_gradient"},
    "ixg_atman_paper": {"method": "input_x_gradient", "preset": "atman_paper"},
    "ixg_inseq": {"method": "input_x_gradient", "preset": "inseq"},
    "ixg_logprob_exclusions": {"method": "input_x_gradient", "target": "logprob",
                               "exclude_bos": True, "exclude_predicting": True},
    "ig_default": {"method": "integrated_gradients", "steps": 12},
    "ig_atman_paper": {"method": "integrated_gradients", "preset": "atman_paper"},
    "ig_captum_llm": {"method": "integrated_gradients", "preset": "captum_llm"},
    "ig_inseq": {"method": "integrated_gradients", "preset": "inseq", "baseline_token_id": 5},
    "ig_riemann_left": {"method": "integrated_gradients", "steps": 16, "quadrature": "riemann_left"},
    "ig_riemann_right": {"method": "integrated_gradients", "steps": 16,
                         "quadrature": "riemann_right", "target": "logprob"},
    "ig_riemann_middle": {"method": "integrated_gradients", "steps": 16,
                          "quadrature": "riemann_middle", "embedding_aggregation": "l2"},
    "ig_riemann_trapezoid": {"method": "integrated_gradients", "steps": 16,
                             "quadrature": "riemann_trapezoid", "baseline": "token",
                             "baseline_token_id": 7},
    "ig_token_no_keep_bos": {"method": "integrated_gradients", "steps": 10, "baseline": "token",
                             "baseline_token_id": 2, "baseline_keep_bos": False,
                             "target": "prob", "normalize": "max_abs"},
}

PRESETS = {  # the shared reference's section 12, as the C++ methods apply them
    "atman_paper": {"target": "logit", "steps": 10, "baseline": "zero",
                    "quadrature": "gausslegendre"},
    "captum_llm": {"target": "logprob", "embedding_aggregation": "sum", "baseline": "token",
                   "baseline_token_id": 0, "steps": 50, "quadrature": "gausslegendre"},
    "inseq": {"target": "prob", "embedding_aggregation": "l2", "normalize": "l1", "steps": 50,
              "quadrature": "gausslegendre", "baseline": "unk"},
}
DEFAULTS = {
    "saliency": {"embedding_aggregation": "l2"},
    "input_x_gradient": {"embedding_aggregation": "sum"},
    "integrated_gradients": {"embedding_aggregation": "sum"},
}


def resolve(cfg):
    """Method defaults, then the preset, then the explicit keys (as the C++ reads them)."""
    method = cfg["method"]
    out = {"target": "logit", "embedding_aggregation": "sum", "normalize": "none",
           "exclude_bos": False, "exclude_predicting": False, "steps": 50,
           "quadrature": "gausslegendre", "baseline": "zero", "baseline_token_id": 0,
           "baseline_keep_bos": True}
    out.update(DEFAULTS[method])
    preset = cfg.get("preset")
    if preset:
        out.update(PRESETS[preset])
        if preset == "atman_paper" and method == "input_x_gradient":
            out["embedding_aggregation"] = "abs_sum"
    out.update({k: v for k, v in cfg.items() if k not in ("method", "preset")})
    return method, out


def target_fn(logits, y, how):
    """(B, V) logits -> (B) values of the target function at id y."""
    if how == "logit":
        return logits[:, y]
    if how == "logprob":
        return torch.log_softmax(logits, -1)[:, y]
    return torch.softmax(logits, -1)[:, y]


def reduce_d(a, how):
    if how == "sum":
        return a.sum(-1)
    if how == "l2":
        return a.norm(dim=-1)
    return a.abs().sum(-1)


def attribute(model, ids, P, targets, bos, cfg):
    """-> per_target (n, T) after finish_scores, and delta (n) for integrated gradients."""
    method, c = resolve(cfg)
    emb = model.get_input_embeddings()
    n, T = targets.numel(), ids.numel()
    out = torch.zeros(n, T, dtype=torch.float64)
    deltas = torch.zeros(n, dtype=torch.float64)
    fdiff = torch.zeros(n, dtype=torch.float64)  # f_t(E) - f_t(E0)
    for t in range(n):
        L = P + t
        seq = ids[:L]
        y = int(targets[t])
        E = emb(seq.unsqueeze(0)).detach()  # (1, L, D)

        def forward(x):
            logits = model(inputs_embeds=x, use_cache=False).logits[:, -1, :]
            return target_fn(logits, y, c["target"])

        if method == "saliency":
            a = Saliency(forward).attribute(E, abs=False)
        elif method == "input_x_gradient":
            a = InputXGradient(forward).attribute(E)
        else:
            if c["baseline"] == "zero":
                E0 = torch.zeros_like(E)
            else:
                base_ids = torch.full_like(seq, c["baseline_token_id"])
                if bos and c["baseline_keep_bos"]:
                    base_ids[0] = seq[0]
                E0 = emb(base_ids.unsqueeze(0)).detach()
            a, delta = IntegratedGradients(forward).attribute(
                E, baselines=E0, n_steps=c["steps"], method=c["quadrature"],
                return_convergence_delta=True)
            deltas[t] = delta.item()
            with torch.no_grad():
                fdiff[t] = (forward(E) - forward(E0)).item()
        out[t, :L] = reduce_d(a[0], c["embedding_aggregation"])
    # finish_scores
    for t in range(n):
        p = P - 1 + t
        out[t, p + 1:] = 0
        if c["exclude_predicting"]:
            out[t, p] = 0
        if c["exclude_bos"] and bos:
            out[t, 0] = 0
        if c["normalize"] == "l1":
            out[t] /= out[t].abs().sum().clamp(min=1e-30)
        elif c["normalize"] == "max_abs":
            out[t] /= out[t].abs().max().clamp(min=1e-30)
    if method != "integrated_gradients":
        return out, None, None
    return out, deltas, fdiff


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "gradient_configs.json"), "w") as f:
        json.dump(CONFIGS, f, indent=2, sort_keys=True)
    for name in sys.argv[1:] or ["gpt2", "llama_gqa", "qwen2", "gpt_neox", "gptj"]:
        model = load_float64(name)
        V = model.config.vocab_size
        bos_id = model.config.bos_token_id if model.config.model_type != "gpt2" else None
        if bos_id is not None and bos_id >= V:  # GPT-J's config keeps GPT-2's 50256
            bos_id = None
        g = torch.Generator().manual_seed(23)
        tensors = {}
        for i, (P, n) in enumerate([(9, 3), (6, 2)]):
            base = torch.randint(3, V, (P + n,), generator=g)
            bos = i == 0 and bos_id is not None
            if bos:
                base[0] = bos_id
            ids, targets = base[: P + n - 1].clone(), base[P:].clone()
            tensors[f"p{i}.ids"] = ids
            tensors[f"p{i}.prompt_len"] = torch.tensor([P])
            tensors[f"p{i}.targets"] = targets
            tensors[f"p{i}.bos"] = torch.tensor([int(bos)])
            for cname, cfg in CONFIGS.items():
                per_target, delta, fdiff = attribute(model, ids, P, targets, bos, cfg)
                tensors[f"p{i}.{cname}.per_target"] = per_target
                if delta is not None:
                    tensors[f"p{i}.{cname}.delta"] = delta
                    tensors[f"p{i}.{cname}.fdiff"] = fdiff
        save_file(tensors, os.path.join(OUT, f"gradient_{name}.safetensors"))
        print(name, "written")


if __name__ == "__main__":
    main()
