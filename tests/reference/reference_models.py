"""The fixture models as the reference scripts load them: float64, eager attention, eval mode,
parameters frozen, and every attention module given its layer index (layer_idx) where
transformers leaves it out (GPT-NeoX, GPT-J), for the scripts' patched attentions."""
import os

from transformers import AutoModelForCausalLM

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")


def load_float64(name):
    model = AutoModelForCausalLM.from_pretrained(os.path.join(MODELS, name),
                                                 attn_implementation="eager")
    model = model.double().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if model.config.model_type == "gpt_neox":
        for i, layer in enumerate(model.gpt_neox.layers):
            layer.attention.layer_idx = i
    elif model.config.model_type == "gptj":
        for i, layer in enumerate(model.transformer.h):
            layer.attn.layer_idx = i
    return model
