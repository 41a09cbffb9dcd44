#!/usr/bin/env python3
"""Golden greedy generations (framework/model/generate.h) from transformers: for each fixture
model, a prompt of random ids and the 12 tokens that greedy decoding appends, computed two ways
that must agree: a loop of full forwards (argmax of the last position's logits, no cache) and
transformers' own `generate(do_sample=False)` over its key/value cache (when the model's EOS does
not come up, since generate would stop there). Prompts whose top two logits come within 1e-3 at
some step are skipped (float32 rounding could then flip the argmax), and the smallest margin is
recorded.

    tests/fixtures/generation/greedy.json: {"cases": [{model, prompt, generated, min_margin}]}

    /usr/bin/python3 tests/reference/generation_fixtures.py    (needs torch, transformers)
"""
import json
import os

import torch
import transformers.generation.utils as generation_utils
from transformers import AutoModelForCausalLM

# Debian's torch 1.13 cannot import torch.distributed.fsdp under Python 3.11, which generate()
# asks about; no model here is FSDP-managed.
generation_utils.is_fsdp_managed_module = lambda module: False

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
OUT = os.path.join(ROOT, "tests", "fixtures", "generation", "greedy.json")
NEW = 12


def greedy(model, prompt):
    ids = list(prompt)
    margin = float("inf")
    with torch.no_grad():
        for _ in range(NEW):
            logits = model(torch.tensor([ids])).logits[0, -1].double()
            top = torch.topk(logits, 2).values
            margin = min(margin, float(top[0] - top[1]))
            ids.append(int(torch.argmax(logits)))
    return ids[len(prompt):], margin


def main():
    cases = []
    for name in ("gpt2", "llama_gqa", "llama3_rope", "qwen2", "mistral", "gpt_neox", "gptj"):
        model = AutoModelForCausalLM.from_pretrained(os.path.join(MODELS, name),
                                                     attn_implementation="eager").eval()
        vocab = model.config.vocab_size
        eos = model.config.eos_token_id
        g = torch.Generator().manual_seed(11)
        found = 0
        for attempt in range(50):
            prompt = torch.randint(3, vocab, (7,), generator=g).tolist()
            generated, margin = greedy(model, prompt)
            if margin < 1e-3:
                continue
            if eos is None or eos not in generated:
                with torch.no_grad():
                    out = model.generate(torch.tensor([prompt]), max_new_tokens=NEW,
                                         do_sample=False, pad_token_id=0)
                assert out[0, len(prompt):].tolist() == generated, (name, prompt)
            cases.append({"model": name, "prompt": prompt, "generated": generated,
                          "min_margin": margin})
            found += 1
            if found == 2:
                break
        assert found == 2, name
    with open(OUT, "w") as f:
        json.dump({"cases": cases}, f, indent=1)
    print(f"{OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
