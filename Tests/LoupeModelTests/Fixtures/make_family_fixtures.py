#!/usr/bin/env python3
"""Build the per-family fixtures used by LoupeModelTests/FamilyTests.

Why this exists
---------------
Loupe's runtime implements several transformer families by hand. To check it
against something other than itself, every family gets a small random-weight
checkpoint made here with Hugging Face `transformers`, and reference numbers
from a float64 run of that library's own modeling code (eager attention).

For each family (folder `reference/families/<name>/`):
    config.json, model.safetensors   the checkpoint (float32 weights), as
                                     save_pretrained writes it, except where a
                                     family's config is rewritten into the
                                     older form found on the Hub (see LEGACY)
    tokenizer.json, tokenizer_config.json
                                     the tiny byte-level tokenizer of
                                     reference/tiny/tokenizer (512 ids)
    reference.json                   prompts, and per prompt: logits [T][V],
                                     resid [L+1][T][d] (input of every block,
                                     then the last block's output before the
                                     final norm), final_norm [T][d], attn
                                     [L][H][T][T], mlp_act [L][T][m] (the input
                                     of the MLP's down projection); grads for
                                     two objectives on the last prompt
    model-f32.gguf                   the same weights in llama.cpp's naming,
                                     where llama.cpp has the family (see
                                     write_gguf)

Float64: the model is converted with .double(), and the float32 "islands" of
the modeling code (RMSNorm's x.float(), rotary angles, softmax's
dtype=float32) are kept in float64 by patching the conversions for the run.
Numbers are rounded to 5 significant digits.

Run from the repository root: python3 Tests/LoupeModelTests/Fixtures/make_family_fixtures.py
Needs torch, transformers, safetensors, tokenizers, gguf (versions printed).
"""

import copy
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "reference")
TOKENIZER = os.path.join(REF, "tiny", "tokenizer")
OUT = os.path.join(REF, "families")

VOCAB = 512
BASE = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, bos_token_id=0, eos_token_id=0, pad_token_id=None)

# Each family: the transformers config class name, its arguments, and notes.
FAMILIES = {
    # Llama 3.1-style rotary scaling: with theta 10000 over 16 dims and an
    # original context of 32, pair 0 (wavelength 6.3) is high-frequency and
    # kept, pair 1 (19.9) is smoothed, pairs 2-7 are divided by the factor.
    "llama3-rope": ("LlamaConfig", dict(intermediate_size=176, max_position_embeddings=128, rms_norm_eps=1e-5,
                                        rope_parameters=dict(rope_type="llama3", rope_theta=10000.0, factor=4.0,
                                                             low_freq_factor=1.0, high_freq_factor=4.0,
                                                             original_max_position_embeddings=32),
                                        tie_word_embeddings=False)),
    "llama-linear-rope": ("LlamaConfig", dict(intermediate_size=176, max_position_embeddings=128, rms_norm_eps=1e-5,
                                              rope_parameters=dict(rope_type="linear", rope_theta=10000.0, factor=2.5),
                                              tie_word_embeddings=True)),
    "mistral": ("MistralConfig", dict(intermediate_size=160, max_position_embeddings=128, rms_norm_eps=1e-5,
                                      sliding_window=5, tie_word_embeddings=False,
                                      rope_parameters=dict(rope_type="default", rope_theta=1000.0))),
    # Layer 0 full, layer 1 sliding (use_sliding_window with max_window_layers 1).
    "qwen2": ("Qwen2Config", dict(intermediate_size=144, max_position_embeddings=128, rms_norm_eps=1e-6,
                                  use_sliding_window=True, sliding_window=6, max_window_layers=1,
                                  tie_word_embeddings=False,
                                  rope_parameters=dict(rope_type="default", rope_theta=10000.0))),
    "pythia": ("GPTNeoXConfig", dict(intermediate_size=256, max_position_embeddings=128, layer_norm_eps=1e-5,
                                     hidden_act="gelu", use_parallel_residual=True, attention_bias=True,
                                     rope_parameters=dict(rope_type="default", rope_theta=10000.0,
                                                          partial_rotary_factor=0.25),
                                     tie_word_embeddings=False)),
    "gpt-neox-sequential": ("GPTNeoXConfig", dict(intermediate_size=192, max_position_embeddings=128,
                                                  layer_norm_eps=1e-5, hidden_act="gelu",
                                                  use_parallel_residual=False, attention_bias=True,
                                                  rope_parameters=dict(rope_type="default", rope_theta=10000.0,
                                                                       partial_rotary_factor=0.5),
                                                  tie_word_embeddings=False)),
    "gemma2": ("Gemma2Config", dict(num_hidden_layers=3, intermediate_size=128, max_position_embeddings=128,
                                    rms_norm_eps=1e-6, hidden_activation="gelu_pytorch_tanh",
                                    query_pre_attn_scalar=24, sliding_window=6,
                                    attn_logit_softcapping=4.0, final_logit_softcapping=5.0,
                                    layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                                    tie_word_embeddings=True,
                                    rope_parameters=dict(rope_type="default", rope_theta=10000.0))),
    "gemma": ("GemmaConfig", dict(intermediate_size=128, max_position_embeddings=128, rms_norm_eps=1e-6,
                                  hidden_act="gelu_pytorch_tanh", tie_word_embeddings=True,
                                  rope_parameters=dict(rope_type="default", rope_theta=10000.0))),
    "phi3": ("Phi3Config", dict(intermediate_size=160, max_position_embeddings=128,
                                original_max_position_embeddings=128, rms_norm_eps=1e-5, sliding_window=7,
                                tie_word_embeddings=False,
                                rope_parameters=dict(rope_type="default", rope_theta=10000.0,
                                                     partial_rotary_factor=0.5))),
}

# Configs rewritten into the older form that checkpoints on the Hub carry
# (transformers reads both): Llama 3.x's rope_scaling + rope_theta, Pythia's
# rotary_pct + rotary_emb_base.
def legacy(name, cfg):
    if name == "llama3-rope":
        p = cfg.pop("rope_parameters")
        cfg["rope_theta"] = p.pop("rope_theta")
        cfg["rope_scaling"] = p
    elif name == "pythia":
        p = cfg.pop("rope_parameters")
        cfg["rotary_emb_base"] = p["rope_theta"]
        cfg["rotary_pct"] = p["partial_rotary_factor"]
    return cfg

SEED = 20261201


def init_weights(model, name):
    g = torch.Generator().manual_seed(SEED + sum(map(ord, name)))
    gemma = name.startswith("gemma")
    with torch.no_grad():
        for pname, p in model.named_parameters():
            shape = p.shape
            if pname.endswith("norm.weight") or "layernorm.weight" in pname or "layer_norm.weight" in pname:
                base = 0.0 if gemma else 1.0   # Gemma's RMSNorm multiplies by (1 + weight)
                p.copy_(base + 0.15 * torch.randn(shape, generator=g, dtype=torch.float64).float())
            elif pname.endswith(".bias"):
                p.copy_(0.1 * torch.randn(shape, generator=g, dtype=torch.float64).float())
            elif "embed" in pname and len(shape) == 2 and shape[0] == VOCAB:
                p.copy_(0.5 * torch.randn(shape, generator=g, dtype=torch.float64).float())
            else:
                std = 1.6 / math.sqrt(shape[-1])
                p.copy_(std * torch.randn(shape, generator=g, dtype=torch.float64).float())


class Float64Islands:
    """Keeps float64 tensors float64 where the modeling code casts to float32."""

    def __enter__(self):
        self.to, self.float_, self.softmax = torch.Tensor.to, torch.Tensor.float, torch.nn.functional.softmax
        to, softmax = self.to, self.softmax

        def patched_to(t, *a, **k):
            target = k.get("dtype", a[0] if a and isinstance(a[0], torch.dtype) else None)
            if t.dtype == torch.float64 and target == torch.float32:
                return t
            return to(t, *a, **k)

        def patched_float(t, *a, **k):
            return t if t.dtype == torch.float64 else self.float_(t, *a, **k)

        def patched_softmax(x, *a, dtype=None, **k):
            if x.dtype == torch.float64 and dtype == torch.float32:
                dtype = None
            return softmax(x, *a, dtype=dtype, **k)

        torch.Tensor.to, torch.Tensor.float, torch.nn.functional.softmax = patched_to, patched_float, patched_softmax
        return self

    def __exit__(self, *exc):
        torch.Tensor.to, torch.Tensor.float, torch.nn.functional.softmax = self.to, self.float_, self.softmax


def round5(x):
    a = np.asarray(x, dtype=np.float64)
    return [float(f"{v:.5g}") for v in a.ravel()] if a.ndim == 0 else json.loads(
        json.dumps(np.vectorize(lambda v: float(f"{v:.5g}"))(a).tolist()))


def layers_of(model):
    inner = getattr(model, "model", None) or getattr(model, "gpt_neox")
    return inner, inner.layers


def down_proj(layer):
    mlp = layer.mlp
    return getattr(mlp, "down_proj", None) or getattr(mlp, "dense_4h_to_h")


def final_norm(inner):
    return getattr(inner, "norm", None) or getattr(inner, "final_layer_norm")


def run(model, ids=None, embeds=None):
    """One forward pass with every internal the tests compare."""
    inner, layers = layers_of(model)
    got = {"resid": [], "mlp": [], "final": None}
    hooks = []
    for i, layer in enumerate(layers):
        hooks.append(layer.register_forward_pre_hook(
            lambda m, args, kwargs, i=i: got["resid"].append(kwargs.get("hidden_states", args[0] if args else None)),
            with_kwargs=True))
        hooks.append(down_proj(layer).register_forward_pre_hook(lambda m, args: got["mlp"].append(args[0])))
    last_out = {}
    hooks.append(layers[-1].register_forward_hook(
        lambda m, a, out: last_out.__setitem__("x", out[0] if isinstance(out, tuple) else out)))
    hooks.append(final_norm(inner).register_forward_hook(lambda m, a, out: got.__setitem__("final", out)))
    # Inputs of the attention output projection (hook_z) and the MLP's
    # pre-activation (hook_pre: gate, or the up projection without a gate).
    got["z"], got["pre"], got["qkv"] = [], [], []
    for layer in layers:
        attn = getattr(layer, "self_attn", None) or getattr(layer, "attention")
        # hook_q/k/v: the projections' outputs (fused ones are split after the pass).
        projections = [getattr(attn, n) for n in ("q_proj", "k_proj", "v_proj") if hasattr(attn, n)] or \
            [getattr(attn, "qkv_proj", None) or getattr(attn, "query_key_value")]
        entry = []
        got["qkv"].append(entry)
        for proj in projections:
            hooks.append(proj.register_forward_hook(lambda m, a, out, entry=entry: entry.append(out)))
        o = getattr(attn, "o_proj", None) or getattr(attn, "dense")
        hooks.append(o.register_forward_pre_hook(lambda m, args: got["z"].append(args[0])))
        mlp = layer.mlp
        pre = getattr(mlp, "gate_proj", None) or getattr(mlp, "gate_up_proj", None) or getattr(mlp, "dense_h_to_4h")
        hooks.append(pre.register_forward_hook(lambda m, a, out: got["pre"].append(out)))
    try:
        kw = dict(output_attentions=True, use_cache=False)
        out = model(input_ids=ids, **kw) if embeds is None else model(inputs_embeds=embeds, **kw)
    finally:
        for h in hooks:
            h.remove()
    got["resid"].append(last_out["x"])
    return out, got


def objective(model, embeds, kind):
    out, got = run(model, embeds=embeds)
    if kind == "mlp":
        return got["mlp"][-1][0, -1, 7]
    return out.logits[0, -1, 42]


def reference_cases(f64, prompts):
    """Per prompt, the float64 internals the tests compare."""
    cases = []
    for p in prompts:
        ids = torch.tensor([p["ids"]])
        with torch.no_grad(), Float64Islands():
            out, got = run(f64, ids=ids)
        entry = dict(p)
        entry["logits"] = round5(out.logits[0].numpy())
        entry["resid"] = round5(torch.stack([r[0] for r in got["resid"]]).numpy())
        entry["final_norm"] = round5(got["final"][0].numpy())
        entry["attn"] = round5(torch.stack([a[0] for a in out.attentions]).numpy())
        entry["mlp_act"] = round5(torch.stack([m[0] for m in got["mlp"]]).numpy())
        cases.append(entry)
    return cases


def make_family(name, cls_name, args, tokenizer_dir, versions):
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    base = dict(BASE)
    if cls_name == "GPTNeoXConfig":
        # GPT-NeoX has neither grouped key-value heads nor a separate head size.
        base.pop("num_key_value_heads")
        base.pop("head_dim")
    cfg = getattr(transformers, cls_name)(**{**base, **args})
    cfg.architectures = [cls_name.replace("Config", "ForCausalLM")]
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    init_weights(model, name)
    model.save_pretrained(folder, safe_serialization=True)
    cfg_path = os.path.join(folder, "config.json")
    written = json.load(open(cfg_path))
    with open(cfg_path, "w") as f:
        json.dump(legacy(name, written), f, indent=2, sort_keys=True)
    for f in ["tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(os.path.join(tokenizer_dir, f), os.path.join(folder, f))
    for extra in os.listdir(folder):
        if extra.startswith("generation_config"):
            os.remove(os.path.join(folder, extra))

    # Reload from the folder as a user's checkpoint would be read.
    f64 = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32).double().eval()
    f32 = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32).eval()

    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    rng = np.random.default_rng(SEED + len(name))
    prompts = []
    text = "The cat sat on the mat, and then it sat on the hat."
    prompts.append(dict(name="text", text=text, ids=[0] + tok.encode(text).ids))
    # Longer than every sliding window and than the scaled rotary's original context.
    prompts.append(dict(name="random_48", ids=[0] + rng.integers(1, VOCAB, 47).tolist()))

    cases = reference_cases(f64, prompts)
    worst = {}
    for p in prompts:
        ids = torch.tensor([p["ids"]])
        with torch.no_grad(), Float64Islands():
            out, got = run(f64, ids=ids)
        with torch.no_grad():
            out32, got32 = run(f32, ids=ids)
        for key, a, b in [("logits", out.logits, out32.logits),
                          ("final_norm", got["final"], got32["final"])]:
            worst[key] = max(worst.get(key, 0), float((a - b.double()).abs().max()))

    # Input gradients on the last prompt, with respect to the embedding rows fed in.
    ids = torch.tensor([prompts[-1]["ids"]])
    grads = {}
    emb_layer = f64.get_input_embeddings()
    for kind in ["mlp", "logit"]:
        with Float64Islands():
            e = emb_layer(ids).detach().clone().requires_grad_(True)
            val = objective(f64, e, kind)
            val.backward()
            g = e.grad[0].detach()
            # Central difference along a random unit direction, as a check of autograd here.
            u = torch.randn_like(e, dtype=torch.float64)
            u /= u.norm()
            with torch.no_grad():
                h = 1e-5
                fd = (objective(f64, e + h * u, kind) - objective(f64, e - h * u, kind)) / (2 * h)
            ad = float((e.grad * u).sum())
        grads[kind] = dict(value=float(f"{float(val):.8g}"), grad_input_embeds=round5(g.numpy()),
                           fd_rel_err=abs(float(fd) - ad) / max(abs(ad), 1e-12))

    # Hook gradients of the logit objective on the first (short) prompt, by
    # retaining the gradients of the intermediate tensors autograd used.
    with Float64Islands():
        ids0 = torch.tensor([prompts[0]["ids"]])
        e = emb_layer(ids0).detach().clone().requires_grad_(True)
        out, got = run(f64, embeds=e)
        tensors = dict(resid_pre=got["resid"][:-1], pattern=list(out.attentions), z=got["z"], mlp_pre=got["pre"],
                       mlp_post=got["mlp"])
        for group in list(tensors.values()) + got["qkv"]:
            for t in group:
                t.retain_grad()
        out.logits[0, -1, 42].backward()
        m = f64.config.intermediate_size
        hook_grads = {}
        for key, group in tensors.items():
            gs = [t.grad[0] for t in group]
            if key == "mlp_pre":
                gs = [g[..., :m] for g in gs]  # phi3's fused gate_up: the gate half
            hook_grads[key] = round5(torch.stack(gs).numpy())
        # q, k, v per block, [T, heads · head size] each, as Loupe's hook_q/k/v flatten.
        cfg = f64.config
        H = cfg.num_attention_heads
        hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // H
        kv = getattr(cfg, "num_key_value_heads", None) or H
        qs, ks, vs = [], [], []
        for entry in got["qkv"]:
            if len(entry) == 3:
                q, k, v = (t.grad[0] for t in entry)
            elif name.startswith("gpt-neox") or name == "pythia":
                g = entry[0].grad[0].reshape(-1, H, 3, hd)          # per head: q, k, v
                q, k, v = (g[:, :, i].reshape(g.shape[0], -1) for i in range(3))
            else:
                g = entry[0].grad[0]                                 # [q | k | v]
                q, k, v = g[:, :H * hd], g[:, H * hd:(H + kv) * hd], g[:, (H + kv) * hd:]
            qs.append(q); ks.append(k); vs.append(v)
        for key, group in [("q", qs), ("k", ks), ("v", vs)]:
            hook_grads[key] = round5(torch.stack(group).numpy())
    grads["hooks"] = dict(prompt=prompts[0]["name"], objective="logit", **hook_grads)

    ref = dict(
        meta=dict(family=name, config_class=cls_name, versions=versions, seed=SEED,
                  note="float64 run of transformers' eager modeling code on the fp32 weights, "
                       "float32 islands kept in float64; numbers rounded to 5 significant digits",
                  f32_vs_f64_max_abs=worst,
                  tolerance="|a - ref| <= 1e-4 + 1e-4 |ref|; gradients within 1e-4 relative L2"),
        config=json.load(open(cfg_path)),
        prompts=cases,
        grads=dict(prompt=prompts[-1]["name"], objectives=dict(
            mlp="mlp_act[last layer][last position][neuron 7]",
            logit="logits[last position][token 42]"), **grads))
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    print(f"{name}: f32 vs f64 {worst}; fd checks", {k: v["fd_rel_err"] for k, v in grads.items() if k != "hooks"})
    return folder, f64


def main():
    import gguf, safetensors, tokenizers
    sys.path.insert(0, HERE)
    from make_family_gguf import write_gguf, write_refusals
    versions = dict(torch=torch.__version__, transformers=transformers.__version__, tokenizers=tokenizers.__version__,
                    safetensors=safetensors.__version__, numpy=np.__version__,
                    gguf=getattr(gguf, "__version__", "unknown"))
    print(versions)
    os.makedirs(OUT, exist_ok=True)
    only = set(sys.argv[1:])
    for name, (cls_name, args) in FAMILIES.items():
        if only and name not in only:
            continue
        folder, model = make_family(name, cls_name, copy.deepcopy(args), TOKENIZER, versions)
        write_gguf(name, folder, model)
    write_refusals(os.path.join(OUT, "refusals"))


if __name__ == "__main__":
    main()
