#!/usr/bin/env python3
"""Reference explanations of the encoder fixtures (bert, roberta, vit), for the C++ explainers'
golden test on classifiers (tests/unit/test_encoder_methods.cpp).

Written from shared/reference/atman.md and baselines.md in plain PyTorch on the Hugging Face
*ForSequenceClassification fixture models (float64, eager attention), independent of the C++ code.
A classification sample is [CLS] tokens [SEP] with one target, the class c, read from the logits
at [CLS] (HF's pooler input); every position is explained. An image sample (vit) is [CLS] and the
16 patches of a 32 x 32 image, its embeddings E the [CLS] embedding and the patch projections
before the positions (what xai's embed_pixels gives), the forward from E written out here since
transformers' ViT takes pixels only. The self-attention is replaced by a written-out one that
applies AtMan's suppression and keeps the probabilities:

    atman:          per_target[i] = CE_c(i suppressed) - CE_c(clean), CE_c = -log_softmax(logits)[c];
                    shifted scores (A = QK^T; A -= rowmin; A *= F[key]; A /= sqrt(d); softmax) in
                    every layer; bidirectional, so no key is masked. Correlated suppression as
                    atman_reference.py (cos >= kappa on word embeddings, cos-scaled factors).
    saliency:       |d logit_c / dE|, L2 over d                 (E: word embeddings)
    ixg:            E * d logprob_c / dE, summed over d
    ig:             (E - 0) * mean_k d prob_c / dE(a_k E), a_k = k / m (riemann_right), summed;
                    on an image the path runs through the pixels x from the zero image:
                    x * mean_k d prob_c / dx(a_k x) summed over channels, a patch's score the
                    sum of its pixels', [CLS] 0 (computed from pixels through transformers' own
                    ViT forward, not through E)
    pixel maps:     on an image the gradient methods' pixel maps, summed over channels:
                    saliency |d f / dx|, ixg x * d f / dx, ig as above
    attention:      row 0 of the last layer's head-mean probabilities (layers: last), or of every
                    layer's, averaged (layers: mean)
    rollout:        row 0 of prod_l (0.5 Abar_l + 0.5 I), top layer first
    chefer:         row 0 of prod_l (I + mean_h clamp(dA_l * A_l, 0)), dA = d logit_c / dA
    attattr:        sum over layers l and heads of row 0 of A_l * (1/m) sum_k dF/dX at X = (k/m) A_l
                    (layer l's probabilities replaced by X, the others clean; F = prob_c)
    attnlrp:        sum_d (E * d f / dE) under AttnLRP's (or CP-LRP's) rules, f the class logit (or
                    log-probability) at [CLS]
    chefer_lrp:     row 0 of prod_l (I + mean_h clamp(dA_l * R(A_l), 0)), R(A_l) = A_l * the
                    gradient under Chefer's LRP rules started at relevance 1 (1 / logit_c)

The LRP rules are baselines_lrp.py's (the decoders' reference: its autograd functions and its
Linear / LayerNorm patches), applied here to the encoder modules as Chefer's BERT.py and
ViT_LRP.py place them: post-norm BERT adds each branch to its input through the rule's residual
(renormalised per branch under Chefer's rules) before the LayerNorm, ViT adds both branches
pre-norm, the activations (the MLP's GELU, the pooler's tanh) pass relevance by the identity
rule, the softmax by the identity rule (Chefer) or the gradient (AttnLRP), Q, K and V get 1/2,
1/2, 1/2 of the relevance (Chefer; the attention matmul's second half to the probabilities),
1/4, 1/4, 1/2 (AttnLRP) or none through Q and K (CP-LRP).

    /usr/bin/python3 tests/reference/encoder_reference.py   # writes tests/fixtures/encoders/
"""
import json
import math
import os

import torch
import baselines_lrp as lrp
from safetensors.torch import save_file
from transformers import AutoModelForSequenceClassification, ViTForImageClassification
from transformers.models.bert import modeling_bert
from transformers.models.roberta import modeling_roberta
from transformers.models.vit import modeling_vit

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
OUT = os.path.join(ROOT, "tests", "fixtures", "encoders")

# name -> the explainer's YAML parameters plus "method".
CONFIGS = {
    "atman_single": {"method": "atman", "factor": 0.1, "kappa": None},
    "atman_correlated": {"method": "atman", "factor": 0.1, "kappa": 0.15},
    # A signed sum over d of a gradient vanishes here: the embeddings enter a LayerNorm, blind to
    # adding c * 1. The gradient's norm does not.
    "saliency_logit_l2": {"method": "saliency", "target": "logit", "embedding_aggregation": "l2"},
    "ixg_logprob_sum": {"method": "input_x_gradient", "target": "logprob",
                        "embedding_aggregation": "sum"},
    "ig_prob_right": {"method": "integrated_gradients", "target": "prob", "steps": 8,
                      "quadrature": "riemann_right", "baseline": "zero",
                      "embedding_aggregation": "sum"},
    "attention_last": {"method": "attention", "layers": "last"},
    "attention_mean": {"method": "attention", "layers": "mean"},
    "rollout": {"method": "rollout"},
    "chefer": {"method": "chefer"},
    "attattr_prob": {"method": "attattr", "steps": 4, "target": "prob"},
    "attnlrp_attn_lrp": {"method": "attnlrp", "variant": "attn_lrp"},
    "attnlrp_cp_lrp": {"method": "attnlrp", "variant": "cp_lrp"},
    "attnlrp_logprob": {"method": "attnlrp", "variant": "attn_lrp", "target": "logprob"},
    "chefer_lrp": {"method": "chefer_lrp"},
    "chefer_lrp_row_normalize_last": {"method": "chefer_lrp", "row_normalize": True,
                                      "start_layer": -1},
}

STATE = {"F": None, "probs": None, "types": None, "replace": None}


def self_attention(self, hidden_states, attention_mask=None, head_mask=None,
                   encoder_hidden_states=None, encoder_attention_mask=None,
                   past_key_value=None, output_attentions=False):
    q = self.transpose_for_scores(self.query(hidden_states))
    k = self.transpose_for_scores(self.key(hidden_states))
    v = self.transpose_for_scores(self.value(hidden_states))
    rules = lrp.STATE["rules"]
    if rules == "attn_lrp":
        q, k, v = (lrp.ScaleGrad.apply(q, 0.25), lrp.ScaleGrad.apply(k, 0.25),
                   lrp.ScaleGrad.apply(v, 0.5))
    elif rules == "cp_lrp":
        q, k = q.detach(), k.detach()
    elif rules == "lrp_ab":
        q, k, v = (lrp.ScaleGrad.apply(q, 0.5), lrp.ScaleGrad.apply(k, 0.5),
                   lrp.ScaleGrad.apply(v, 0.5))
    raw = q @ k.transpose(-1, -2)
    scale = math.sqrt(self.attention_head_size)
    F = STATE["F"]
    if F is None and rules == "lrp_ab":
        s = raw / scale
        probs = lrp.IdentitySoftmax.apply(s, torch.ones_like(s, dtype=torch.bool))
    elif F is None:
        probs = torch.softmax(raw / scale, -1)
    else:
        probs = torch.softmax((raw - raw.amin(-1, keepdim=True)) * F / scale, -1)
    if STATE["replace"] is not None and STATE["replace"][0] == self.layer_idx:
        STATE["replace"][2].append(probs.detach())  # the clean A_l
        probs = STATE["replace"][1](probs.detach())
    if STATE["probs"] is not None:
        probs.retain_grad()
        STATE["probs"].append(probs)
    used = lrp.ScaleGrad.apply(probs, 0.5) if rules == "lrp_ab" else probs
    ctx = (used @ v).permute(0, 2, 1, 3).reshape(hidden_states.shape)
    return (ctx, probs) if output_attentions else (ctx,)


def vit_self_attention(self, hidden_states, head_mask=None, output_attentions=False):
    return self_attention(self, hidden_states, output_attentions=output_attentions)


modeling_bert.BertSelfAttention.forward = self_attention
modeling_roberta.RobertaSelfAttention.forward = self_attention
modeling_vit.ViTSelfAttention.forward = vit_self_attention


# ---- the LRP rules on the encoder modules (baselines_lrp.STATE["rules"]; "standard": plain) -------

def act(u, fn):
    return fn(u) if lrp.STATE["rules"] == "standard" else lrp.IdentityAct.apply(u, fn)


def post_norm_output(self, hidden_states, input_tensor):  # BertSelfOutput, BertOutput
    return self.LayerNorm(lrp.residual_add(input_tensor, self.dense(hidden_states)))


def intermediate(self, hidden_states):  # BertIntermediate, ViTIntermediate
    return act(self.dense(hidden_states), self.intermediate_act_fn)


def bert_pooler(self, hidden_states):
    return act(self.dense(hidden_states[:, 0]), self.activation)


def roberta_head(self, features, **kwargs):
    return self.out_proj(act(self.dense(features[:, 0, :]), torch.tanh))


def vit_layer(self, hidden_states, head_mask=None, output_attentions=False):
    a = self.attention(self.layernorm_before(hidden_states), head_mask,
                       output_attentions=output_attentions)
    h = lrp.residual_add(hidden_states, a[0])
    return (self.output(self.intermediate(self.layernorm_after(h)), h),) + a[1:]


def vit_output(self, hidden_states, input_tensor):
    return lrp.residual_add(input_tensor, self.dense(hidden_states))


ENCODER_PATCHES = [
    (modeling_bert.BertSelfOutput, "forward", post_norm_output),
    (modeling_bert.BertOutput, "forward", post_norm_output),
    (modeling_bert.BertIntermediate, "forward", intermediate),
    (modeling_bert.BertPooler, "forward", bert_pooler),
    (modeling_roberta.RobertaSelfOutput, "forward", post_norm_output),
    (modeling_roberta.RobertaOutput, "forward", post_norm_output),
    (modeling_roberta.RobertaIntermediate, "forward", intermediate),
    (modeling_roberta.RobertaClassificationHead, "forward", roberta_head),
    (modeling_vit.ViTLayer, "forward", vit_layer),
    (modeling_vit.ViTIntermediate, "forward", intermediate),
    (modeling_vit.ViTOutput, "forward", vit_output),
]


def with_rules(rules, fn):
    """fn() with the LRP rules `rules` in every patched module, the modules restored after."""
    saved = lrp.install_patches()
    saved += [(cls, name, getattr(cls, name)) for cls, name, _ in ENCODER_PATCHES]
    for cls, name, f in ENCODER_PATCHES:
        setattr(cls, name, f)
    lrp.STATE["rules"] = rules
    try:
        return fn()
    finally:
        lrp.STATE["rules"] = "standard"
        lrp.restore_patches(saved)


def load(name):
    auto = ViTForImageClassification if name == "vit" else AutoModelForSequenceClassification
    model = auto.from_pretrained(os.path.join(MODELS, name), attn_implementation="eager")
    model = model.double().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    base = getattr(model, model.base_model_prefix)
    for i, layer in enumerate(base.encoder.layer):  # the patched attention's layer index
        (layer.attention.attention if is_vit(model) else layer.attention.self).layer_idx = i
    return model


def is_vit(model):
    return model.config.model_type == "vit"


def embeddings_of(model, x):
    """(T, D) layer-0 inputs without positions: word embeddings of ids, or [CLS] and patches."""
    if not is_vit(model):
        return model.get_input_embeddings()(x)
    e = model.vit.embeddings
    patches = e.patch_embeddings(x.unsqueeze(0))[0]  # (N, D)
    return torch.cat([e.cls_token[0], patches], 0)


def tokens_of(model, x):
    return embeddings_of(model, x).shape[0]


def logits_of(model, ids, embeds=None):
    if is_vit(model):
        if embeds is None:
            return model(pixel_values=ids.unsqueeze(0)).logits[0]
        h = model.vit.encoder(embeds.unsqueeze(0) + model.vit.embeddings.position_embeddings)
        h = model.vit.layernorm(h.last_hidden_state)
        return model.classifier(h[:, 0, :])[0]
    kw = {}
    if STATE["types"] is not None:  # a text pair's segments
        kw["token_type_ids"] = STATE["types"].unsqueeze(0)
    if embeds is None:
        return model(input_ids=ids.unsqueeze(0), **kw).logits[0]
    return model(inputs_embeds=embeds.unsqueeze(0), **kw).logits[0]


def target(logits, c, how):
    if how == "logit":
        return logits[c]
    if how == "logprob":
        return torch.log_softmax(logits, -1)[c]
    return torch.softmax(logits, -1)[c]


def atman(model, ids, c, cfg):
    T = tokens_of(model, ids)

    def ce(F):
        STATE["F"] = F
        with torch.no_grad():
            out = -torch.log_softmax(logits_of(model, ids), -1)[c]
        STATE["F"] = None
        return out

    clean = ce(torch.ones(T, dtype=torch.float64))
    e = embeddings_of(model, ids).float()
    n = e / e.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    cos = (n @ n.T).clamp(-1, 1)
    s = cfg["factor"]
    row = torch.zeros(T, dtype=torch.float64)
    for i in range(T):
        F = torch.ones(T, dtype=torch.float64)
        F[i] = s
        if cfg["kappa"] is not None:
            for j in range(T):
                cj = cos[i, j].item()
                if j != i and cj >= cfg["kappa"]:
                    F[j] = 1.0 if (cj < 0 or cj > 1) else (1 - s) * (1 - cj) + s
        row[i] = ce(F) - clean
    return row


def gradient(model, ids, c, cfg):
    E = embeddings_of(model, ids).detach()
    how = cfg["target"]

    def grad_at(x):
        x = x.clone().requires_grad_(True)
        f = target(logits_of(model, ids, x), c, how)
        (g,) = torch.autograd.grad(f, x)
        return g

    if is_vit(model) and cfg["method"] == "integrated_gradients":
        pm = pixel_map(model, ids, c, cfg)
        P = model.config.patch_size
        G = pm.shape[0] // P
        patches = pm.view(G, P, G, P).sum((1, 3)).flatten()
        return torch.cat([torch.zeros(1, dtype=pm.dtype), patches])
    if cfg["method"] == "saliency":
        return grad_at(E).norm(dim=-1)
    if cfg["method"] == "input_x_gradient":
        return (E * grad_at(E)).sum(-1)
    m = cfg["steps"]
    total = sum(grad_at(E * (k / m)) for k in range(1, m + 1)) / m
    return (E * total).sum(-1)


def pixel_map(model, x, c, cfg):
    """(H, W): a gradient method's pixel attributions on image x (C, H, W), summed over channels."""
    how = cfg["target"]

    def grad_at(px):
        px = px.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(target(logits_of(model, px), c, how), px)
        return g

    if cfg["method"] == "saliency":
        return grad_at(x).abs().sum(0)
    if cfg["method"] == "input_x_gradient":
        return (x * grad_at(x)).sum(0)
    m = cfg["steps"]
    total = sum(grad_at(x * (k / m)) for k in range(1, m + 1)) / m
    return (x * total).sum(0)


def attention_rows(model, ids, c, cfg):
    STATE["probs"] = []
    with torch.enable_grad():
        for p in model.parameters():
            p.requires_grad_(False)
        E = embeddings_of(model, ids).detach().requires_grad_(True)
        f = logits_of(model, ids, E)[c]
        probs = STATE["probs"]
        if cfg["method"] == "chefer":
            f.backward()
    STATE["probs"] = None
    T = tokens_of(model, ids)
    means = [a[0].detach().mean(0) for a in probs]  # (T, T) per layer
    eye = torch.eye(T, dtype=torch.float64)
    method = cfg["method"]
    if method == "attention":
        if cfg["layers"] == "last":
            return means[-1][0]
        return torch.stack(means).mean(0)[0]
    v = eye[0].clone()
    for l in reversed(range(len(probs))):
        if method == "rollout":
            v = 0.5 * (v @ means[l]) + 0.5 * v
        else:  # chefer
            a = (probs[l].grad[0] * probs[l][0].detach()).clamp(min=0).mean(0)
            v = v + v @ a
    return v


def attattr(model, ids, c, cfg):
    m, T = cfg["steps"], tokens_of(model, ids)
    row = torch.zeros(T, dtype=torch.float64)
    for l in range(model.config.num_hidden_layers):
        clean = []
        grad_sum = None
        for k in range(m):
            X = []

            def scaled(A, alpha=k / m):
                X.append((alpha * A).requires_grad_(True))
                return X[0]

            STATE["replace"] = (l, scaled, clean)
            with torch.enable_grad():
                f = target(logits_of(model, ids), c, cfg["target"])
                (g,) = torch.autograd.grad(f, X[0])
            STATE["replace"] = None
            grad_sum = g if grad_sum is None else grad_sum + g
        attr = clean[0][0] * grad_sum[0] / m  # (H, T, T)
        row += attr[:, 0, :].sum(0)
    return row


def attnlrp(model, ids, c, cfg):
    def run():
        E = embeddings_of(model, ids).detach().requires_grad_(True)
        f = target(logits_of(model, ids, E), c, cfg.get("target", "logit"))
        (g,) = torch.autograd.grad(f, E)
        return (E * g).sum(-1)

    return with_rules(cfg["variant"], run)


def chefer_lrp(model, ids, c, cfg):
    def probs_under(rules):
        STATE["probs"] = []
        E = embeddings_of(model, ids).detach().requires_grad_(True)  # puts the maps in a graph
        logits = with_rules(rules, lambda: logits_of(model, ids, E))
        probs, STATE["probs"] = STATE["probs"], None
        return logits, probs

    logits_ab, probs_ab = probs_under("lrp_ab")
    logits, probs = probs_under("standard")
    L, T = len(probs), tokens_of(model, ids)
    start = cfg.get("start_layer", 0)
    start = start + L if start < 0 else start
    y = logits_ab[c]
    rel = torch.autograd.grad(y, probs_ab, grad_outputs=1.0 / y.detach())
    grads = torch.autograd.grad(target(logits, c, cfg.get("target", "logit")), probs)
    v = torch.eye(T, dtype=torch.float64)[0]
    for l in reversed(range(start, L)):
        R_A = probs_ab[l][0].detach() * rel[l][0]  # (H, T, T)
        M = (grads[l][0] * R_A).clamp(min=0).mean(0) + torch.eye(T, dtype=torch.float64)
        if cfg.get("row_normalize", False):
            M = M / M.sum(-1, keepdim=True)
        v = v @ M
    return v


def explain(model, ids, c, cfg):
    if cfg["method"] == "attnlrp":
        return attnlrp(model, ids, c, cfg)
    if cfg["method"] == "chefer_lrp":
        return chefer_lrp(model, ids, c, cfg)
    if cfg["method"] == "attattr":
        return attattr(model, ids, c, cfg)
    if cfg["method"] == "atman":
        return atman(model, ids, c, cfg)
    if cfg["method"] in ("saliency", "input_x_gradient", "integrated_gradients"):
        return gradient(model, ids, c, cfg)
    return attention_rows(model, ids, c, cfg)


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "configs.json"), "w") as f:
        json.dump(CONFIGS, f, indent=2, sort_keys=True)
    specials = {"bert": (2, 3), "roberta": (0, 2)}
    for name, (cls_id, sep_id) in specials.items():
        model = load(name)
        V, C = model.config.vocab_size, model.config.num_labels
        g = torch.Generator().manual_seed(5)
        tensors = {}
        # Repeated tokens, so correlated suppression finds neighbours. BERT's third sample is a
        # text pair: [CLS] a [SEP] b [SEP] with token types 0 then 1.
        lengths = [12, 9, 11] if model.config.type_vocab_size > 1 else [12, 9]
        for p, T in enumerate(lengths):
            ids = torch.randint(5, V - 1, (T,), generator=g)
            ids[0], ids[-1] = cls_id, sep_id
            ids[T // 2] = ids[2]
            STATE["types"] = None
            if p == 2:
                ids[5] = sep_id
                STATE["types"] = torch.cat([torch.zeros(6, dtype=torch.long),
                                            torch.ones(T - 6, dtype=torch.long)])
                tensors[f"p{p}.types"] = STATE["types"]
            c = (p + 1) % C
            tensors[f"p{p}.ids"] = ids
            tensors[f"p{p}.label"] = torch.tensor([c])
            for cname, cfg in CONFIGS.items():
                tensors[f"p{p}.{cname}.per_target"] = explain(model, ids, c, cfg).detach().view(1, T)
            STATE["types"] = None
        save_file({k: v.contiguous() for k, v in tensors.items()},
                  os.path.join(OUT, f"{name}.safetensors"))
        print(name, "written")

    # ViT: two 32 x 32 images (17 tokens), each with one 8 x 8 patch copied to another place, so
    # correlated suppression finds a neighbour.
    model = load("vit")
    g = torch.Generator().manual_seed(6)
    tensors = {}
    for p in range(2):
        pixels = torch.randn(3, 32, 32, generator=g)
        pixels[:, 16:24, 8:16] = pixels[:, 0:8, 0:8]
        c = (p + 1) % model.config.num_labels
        x = pixels.double()
        tensors[f"p{p}.pixels"] = pixels
        tensors[f"p{p}.label"] = torch.tensor([c])
        for cname, cfg in CONFIGS.items():
            tensors[f"p{p}.{cname}.per_target"] = explain(model, x, c, cfg).detach().view(1, -1)
            if cfg["method"] in ("saliency", "input_x_gradient", "integrated_gradients"):
                tensors[f"p{p}.{cname}.pixel_relevance"] = \
                    pixel_map(model, x, c, cfg).detach().unsqueeze(0)
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, "vit.safetensors"))
    print("vit written")


if __name__ == "__main__":
    main()
