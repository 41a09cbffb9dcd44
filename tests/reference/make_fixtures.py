#!/usr/bin/env python3
"""Builds the golden fixtures under tests/fixtures/ with the Hugging Face reference implementation.

Run once by a developer from the repository root (CI never runs Python):

    python3 tests/reference/make_fixtures.py
    python3 tests/reference/make_fixtures.py --models-only --only gpt_neox,gpt_neox_seq

Needs torch, transformers (4.46 still supports Debian's torch 1.13), tokenizers and safetensors.
It first (re)builds the tokenizer fixtures (tokenizer_fixtures.py), then, for each model family,
a tiny randomly initialised model saved with save_pretrained (safetensors; qwen2 sharded), and a
reference.safetensors beside it holding inputs and the reference outputs:

    input_ids (1, T) int64      logits (1, T, V) float32     attn.<l> (1, H, T, T) float32
    batch_ids (3, Tb) int64     batch_mask (3, Tb) int64     batch_logits (3, Tb, V) float32
    inv_freq (Dh/2) float32     (rotary families)

The padded batch has one full row, one right-padded and one left-padded row; positions are
counted over real tokens (position_ids = cumsum(mask) - 1), which is xai's convention.
"""
import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file
from transformers import (AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification,
                          BertConfig, GPT2Config, GPTJConfig, GPTNeoXConfig, LlamaConfig,
                          MistralConfig, Qwen2Config, RobertaConfig, ViTConfig,
                          ViTForImageClassification, ViTModel)

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
MODELS = os.path.join(FIXTURES, "models")
TOKENIZERS = os.path.join(FIXTURES, "tokenizers")


def tokenizer_vocab(name):
    """Size of a fixture tokenizer's vocabulary, added tokens included (max id + 1)."""
    with open(os.path.join(TOKENIZERS, name, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    ids = list(tok["model"]["vocab"].values()) + [t["id"] for t in tok.get("added_tokens", [])]
    return max(ids) + 1


def randomise(model, seed):
    """HF initialises norms to 1 and biases to 0; perturb every parameter so each one matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "norm" in name.lower() or ".ln_" in name or name.endswith("ln_f.weight"):
                p.copy_(1.0 + 0.1 * noise if name.endswith("weight") else 0.1 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.2 * noise)


ONLY = None  # --only a,b: build just these models


def start(name, config, seed):
    """(the config, a fresh output folder) for a fixture that --only selects, else None. The config
    is built only when wanted (older transformers reject some); attention written out (eager), so
    probabilities come back."""
    if ONLY is not None and name not in ONLY:
        return None
    config = config()
    out = os.path.join(MODELS, name)
    shutil.rmtree(out, ignore_errors=True)
    torch.manual_seed(seed)
    config._attn_implementation = "eager"
    return config, out


def save_reference(name, out, model, ref):
    """reference.safetensors beside the checkpoint, and a line with the fixture's size."""
    save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(out, "reference.safetensors"))
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, {size / 1024:.0f} KiB")


def build(name, config, seed, tokenizer=None, shard=None):
    """config: a function returning the model config."""
    started = start(name, config, seed)
    if started is None:
        return
    config, out = started
    model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32)
    randomise(model, seed)
    model.eval()
    kwargs = {"safe_serialization": True}
    if shard:
        kwargs["max_shard_size"] = shard
    model.save_pretrained(out, **kwargs)
    if tokenizer:
        shutil.copy(os.path.join(TOKENIZERS, tokenizer, "tokenizer.json"), out)

    V = config.vocab_size
    g = torch.Generator().manual_seed(seed + 1)
    T = 20
    ids = torch.randint(0, V, (1, T), generator=g)
    ref = {"input_ids": ids}
    with torch.no_grad():
        o = model(input_ids=ids, output_attentions=True, use_cache=False)
    ref["logits"] = o.logits.float().contiguous()
    for l, a in enumerate(o.attentions):
        ref[f"attn.{l}"] = a.float().contiguous()

    # Padded batch: full, right-padded (13 real), left-padded (7 real).
    Tb = 16
    rows = torch.randint(0, V, (3, Tb), generator=g)
    mask = torch.ones(3, Tb, dtype=torch.long)
    mask[1, 13:] = 0
    mask[2, : Tb - 7] = 0
    pad = 0
    rows = torch.where(mask.bool(), rows, torch.full_like(rows, pad))
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        ob = model(input_ids=rows, attention_mask=mask, position_ids=pos, use_cache=False)
    ref["batch_ids"] = rows
    ref["batch_mask"] = mask
    ref["batch_logits"] = ob.logits.float().contiguous()

    rotary = next((m for n, m in model.named_modules() if n.endswith("rotary_emb")), None)
    if rotary is not None:
        ref["inv_freq"] = rotary.inv_freq.float().contiguous()
    save_reference(name, out, model, ref)


def build_encoder(name, config, seed, tokenizer, cls_id, sep_id, pad_id, bare=False):
    """A tiny sequence classifier (or, with bare, the bare encoder) and its reference outputs:

    input_ids, token_type_ids (1, T) int64     logits (1, C) float32 (bare: hidden (1, T, D))
    attn.<l> (1, H, T, T) float32
    batch_ids, batch_mask, batch_types (3, Tb) int64      batch_logits (3, C) float32

    The batch has one full row and two right-padded ones (BERT pads on the right: its pooler
    reads position 0). Positions are counted over real tokens, as xai counts them.
    """
    started = start(name, config, seed)
    if started is None:
        return
    config, out = started
    auto = AutoModel if bare else AutoModelForSequenceClassification
    model = auto.from_config(config, torch_dtype=torch.float32)
    randomise(model, seed)
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    shutil.copy(os.path.join(TOKENIZERS, tokenizer, "tokenizer.json"), out)

    V = config.vocab_size
    types = config.type_vocab_size
    g = torch.Generator().manual_seed(seed + 1)

    def row(T):  # [CLS] random tokens [SEP], no special ids inside
        r = torch.randint(5, V, (T,), generator=g)
        r[0], r[-1] = cls_id, sep_id
        return r

    def forward(ids, mask, tt):
        kw = {"input_ids": ids, "attention_mask": mask, "output_attentions": True}
        if types > 1:
            kw["token_type_ids"] = tt
        if config.model_type == "bert":  # RoBERTa counts positions over real tokens itself
            kw["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            return model(**kw)

    T = 18
    ids = row(T).unsqueeze(0)
    tt = torch.zeros(1, T, dtype=torch.long)
    if types > 1:
        tt[0, 11:] = 1  # a second segment
    o = forward(ids, torch.ones_like(ids), tt)
    ref = {"input_ids": ids, "token_type_ids": tt}
    if bare:
        ref["hidden"] = o.last_hidden_state.float().contiguous()
    else:
        ref["logits"] = o.logits.float().contiguous()
    for l, a in enumerate(o.attentions):
        ref[f"attn.{l}"] = a.float().contiguous()

    if not bare:
        Tb = 16
        rows = torch.stack([row(Tb), row(Tb), row(Tb)])
        mask = torch.ones(3, Tb, dtype=torch.long)
        for b, n in ((1, 11), (2, 6)):
            rows[b, n - 1] = sep_id
            mask[b, n:] = 0
        rows = torch.where(mask.bool(), rows, torch.full_like(rows, pad_id))
        bt = torch.zeros(3, Tb, dtype=torch.long)
        if types > 1:
            bt[0, 9:] = 1
            bt[1, 5:11] = 1
        ob = forward(rows, mask, bt)
        ref["batch_ids"] = rows
        ref["batch_mask"] = mask
        ref["batch_types"] = bt
        ref["batch_logits"] = ob.logits.float().contiguous()
    save_reference(name, out, model, ref)


def build_vit(name, config, seed, bare=False):
    """A tiny ViT image classifier (or, with bare, ViTModel) and its reference outputs:

    pixel_values (2, C, S, S) float32    logits (2, classes) float32 (bare: hidden (2, 1 + N, D))
    attn.<l> (2, H, 1 + N, 1 + N) float32
    """
    started = start(name, config, seed)
    if started is None:
        return
    config, out = started
    model = (ViTModel(config, add_pooling_layer=True) if bare
             else ViTForImageClassification(config)).float()
    randomise(model, seed)
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    g = torch.Generator().manual_seed(seed + 1)
    S, C = config.image_size, config.num_channels
    pixels = torch.randn(2, C, S, S, generator=g)
    with torch.no_grad():
        o = model(pixel_values=pixels, output_attentions=True)
    ref = {"pixel_values": pixels}
    if bare:
        ref["hidden"] = o.last_hidden_state.float().contiguous()
    else:
        ref["logits"] = o.logits.float().contiguous()
    for l, a in enumerate(o.attentions):
        ref[f"attn.{l}"] = a.float().contiguous()
    save_reference(name, out, model, ref)


def main():
    global ONLY
    if "--only" in sys.argv:
        ONLY = set(sys.argv[sys.argv.index("--only") + 1].split(","))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import tokenizer_fixtures  # noqa: E402

    if "--models-only" not in sys.argv:
        tokenizer_fixtures.main()
    os.makedirs(MODELS, exist_ok=True)

    build("gpt2", lambda: GPT2Config(vocab_size=tokenizer_vocab("byte_level_bpe"), n_positions=128,
                             n_embd=64, n_layer=2, n_head=4, activation_function="gelu_new",
                             resid_pdrop=0, embd_pdrop=0, attn_pdrop=0,
                             bos_token_id=0, eos_token_id=0),
          seed=11, tokenizer="byte_level_bpe")
    build("llama_gqa", lambda: LlamaConfig(vocab_size=tokenizer_vocab("llama2_metaspace"), hidden_size=64,
                                   intermediate_size=96, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2,
                                   max_position_embeddings=128, rms_norm_eps=1e-5,
                                   tie_word_embeddings=False, bos_token_id=1, eos_token_id=2),
          seed=12, tokenizer="llama2_metaspace")
    build("llama3_rope", lambda: LlamaConfig(vocab_size=tokenizer_vocab("llama3_style"), hidden_size=64,
                                     intermediate_size=96, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=1, head_dim=32,
                                     max_position_embeddings=512, rope_theta=500.0,
                                     rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                                   "low_freq_factor": 1.0,
                                                   "high_freq_factor": 4.0,
                                                   "original_max_position_embeddings": 64},
                                     attention_bias=True, mlp_bias=True,
                                     tie_word_embeddings=True),
          seed=13, tokenizer="llama3_style")
    build("qwen2", lambda: Qwen2Config(vocab_size=300, hidden_size=64, intermediate_size=96,
                               num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                               max_position_embeddings=128, rope_theta=1000.0,
                               rope_scaling={"type": "linear", "factor": 2.0},
                               tie_word_embeddings=False, use_sliding_window=False),
          seed=14, shard="60KB")
    build("mistral", lambda: MistralConfig(vocab_size=300, hidden_size=64, intermediate_size=96,
                                   num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, max_position_embeddings=128,
                                   sliding_window=6, tie_word_embeddings=False),
          seed=15)
    # GPT-NeoX: partial rotary (a quarter / half of each head), parallel and sequential residual,
    # an untied embed_out, exact GELU, and embedding rows past the tokenizer's vocabulary (real
    # checkpoints pad the vocabulary to a multiple of 128).
    build("gpt_neox", lambda: GPTNeoXConfig(vocab_size=tokenizer_vocab("byte_level_bpe") + 41,
                                    hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                                    num_attention_heads=4, rotary_pct=0.25, rotary_emb_base=10000,
                                    max_position_embeddings=128, layer_norm_eps=1e-5,
                                    use_parallel_residual=True, hidden_act="gelu",
                                    tie_word_embeddings=False, hidden_dropout=0,
                                    attention_dropout=0, bos_token_id=0, eos_token_id=0),
          seed=16, tokenizer="byte_level_bpe")
    build("gpt_neox_seq", lambda: GPTNeoXConfig(vocab_size=300, hidden_size=64, intermediate_size=96,
                                        num_hidden_layers=2, num_attention_heads=2,
                                        rotary_pct=0.5, rotary_emb_base=500,
                                        max_position_embeddings=128, layer_norm_eps=1e-5,
                                        use_parallel_residual=False, hidden_act="gelu",
                                        tie_word_embeddings=False, hidden_dropout=0,
                                        attention_dropout=0),
          seed=17)
    # GPT-J: rotary on 8 of each head's 16 dimensions, interleaved; parallel attention and MLP
    # from one LayerNorm; an LM head with a bias.
    build("gptj", lambda: GPTJConfig(vocab_size=tokenizer_vocab("byte_level_bpe"), n_positions=128,
                                     n_embd=64, n_layer=2, n_head=4, rotary_dim=8, n_inner=160,
                                     activation_function="gelu_new", resid_pdrop=0, embd_pdrop=0,
                                     attn_pdrop=0, tie_word_embeddings=False),
          seed=18, tokenizer="byte_level_bpe")

    # Encoders. BERT: post-norm blocks, token types, a pooler + classifier head with named labels.
    # RoBERTa: positions offset by pad_token_id + 1, one token type, a two-layer classifier head.
    bert = lambda: BertConfig(vocab_size=tokenizer_vocab("wordpiece_bert"), hidden_size=64,
                              num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
                              max_position_embeddings=64, type_vocab_size=2, hidden_act="gelu",
                              hidden_dropout_prob=0, attention_probs_dropout_prob=0,
                              pad_token_id=0, num_labels=3,
                              id2label={0: "contradiction", 1: "entailment", 2: "neutral"},
                              label2id={"contradiction": 0, "entailment": 1, "neutral": 2})
    build_encoder("bert", bert, seed=21, tokenizer="wordpiece_bert", cls_id=2, sep_id=3, pad_id=0)
    build_encoder("bert_bare", bert, seed=22, tokenizer="wordpiece_bert", cls_id=2, sep_id=3,
                  pad_id=0, bare=True)
    build_encoder("roberta", lambda: RobertaConfig(
                      vocab_size=tokenizer_vocab("roberta_style"), hidden_size=64,
                      num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                      max_position_embeddings=66, type_vocab_size=1, hidden_act="gelu",
                      hidden_dropout_prob=0, attention_probs_dropout_prob=0, pad_token_id=1,
                      bos_token_id=0, eos_token_id=2, num_labels=2,
                      id2label={0: "negative", 1: "positive"},
                      label2id={"negative": 0, "positive": 1}),
                  seed=23, tokenizer="roberta_style", cls_id=0, sep_id=2, pad_id=1)
    # ViT: 32 x 32 images in 8 x 8 patches (16 tokens after [CLS]), pre-norm blocks, a classifier
    # at [CLS] with named classes.
    vit = lambda: ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=64,
                            num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
                            hidden_act="gelu", hidden_dropout_prob=0,
                            attention_probs_dropout_prob=0, qkv_bias=True, num_labels=3,
                            id2label={0: "circle", 1: "square", 2: "triangle"},
                            label2id={"circle": 0, "square": 1, "triangle": 2})
    build_vit("vit", vit, seed=24)
    build_vit("vit_bare", vit, seed=25, bare=True)


if __name__ == "__main__":
    main()
