"""GGUF copies of the family fixtures, in llama.cpp's naming (imported by
make_family_fixtures.py; written with the `gguf` package's GGUFWriter).

What llama.cpp's converter does, and so what this writes, per family:
- llama (llama3-rope, llama-linear-rope, mistral): architecture "llama";
  attn_q / attn_k rows permuted per head to the adjacent-pair rotary layout;
  linear scaling as rope.scaling.type/factor; Llama 3 scaling as a
  `rope_freqs.weight` tensor of per-pair divisors (1 for short wavelengths,
  the factor for long ones, 1/((1-s)/factor + s) between). The converter
  writes no sliding window for Mistral; this copy carries
  `llama.attention.sliding_window` so that it computes what the checkpoint does.
- qwen2: biases, no permutation. The converter writes no sliding window, so
  the copy comes with reference-gguf.json from transformers without one.
- gptneox: fused attn_qkv reordered from the per-head [H, 3, hd] interleave
  to contiguous q | k | v; rope.dimension_count = rotated dims;
  use_parallel_residual.
- gemma, gemma2: every norm weight stored as 1 + w; gemma2's post norms as
  post_attention_norm / post_ffw_norm, its pre-MLP norm as ffn_norm;
  soft caps and the sliding window as keys. GGUF has no
  query_pre_attn_scalar (llama.cpp scales by 1/sqrt(head size)), so the
  gemma2 copy comes with reference-gguf.json, from transformers with
  query_pre_attn_scalar = head size.
- phi3: fused attn_qkv and ffn_up (gate rows, then up rows), sliding window.
Also `refusals/`: GGUF files with metadata only, each with one key Loupe
must refuse.
"""

import json
import math
import os

import numpy as np
import torch
import gguf

ARCH = {"llama3-rope": "llama", "llama-linear-rope": "llama", "mistral": "llama", "qwen2": "qwen2",
        "pythia": "gptneox", "gpt-neox-sequential": "gptneox", "gemma": "gemma", "gemma2": "gemma2", "phi3": "phi3"}


def permute(w, n_head):
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_divisors(p, dim, base):
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    factor, low, high, L = p["factor"], p["low_freq_factor"], p["high_freq_factor"], p["original_max_position_embeddings"]
    low_wl, high_wl = L / low, L / high
    out = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < high_wl:
            out.append(1.0)
        elif wl > low_wl:
            out.append(factor)
        else:
            s = (L / wl - low) / (high - low)
            out.append(1 / ((1 - s) / factor + s))
    return np.array(out, dtype=np.float32)


def tokenizer_keys(w, folder):
    tok = json.load(open(os.path.join(folder, "tokenizer.json")))
    vocab = tok["model"]["vocab"]
    pieces = [None] * len(vocab)
    for p, i in vocab.items():
        pieces[i] = p
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(pieces)
    w.add_token_merges(merges)
    w.add_token_types([3 if i == 0 else 1 for i in range(len(pieces))])
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)


def write_gguf(name, folder, model):
    arch = ARCH[name]
    cfg = json.load(open(os.path.join(folder, "config.json")))
    # The checkpoint's own tensors, as a converter reads them.
    from safetensors import safe_open
    with safe_open(os.path.join(folder, "model.safetensors"), "np") as f:
        sd = {k: f.get_tensor(k).astype(np.float64) for k in f.keys()}
    w = gguf.GGUFWriter(os.path.join(folder, "model-f32.gguf"), arch)
    w.add_name(name)
    d, L, H = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", H) if arch != "gptneox" else H
    hd = cfg.get("head_dim") or d // H
    w.add_block_count(L)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(d)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(H)
    if arch != "gptneox":
        w.add_head_count_kv(kv)
    if "head_dim" in cfg and arch != "gptneox":
        w.add_key_length(hd)
        w.add_value_length(hd)
    if arch == "gptneox":
        w.add_layer_norm_eps(cfg["layer_norm_eps"])
        w.add_rope_dimension_count(int(cfg["rotary_pct"] * hd) if "rotary_pct" in cfg
                                   else int(cfg["rope_parameters"]["partial_rotary_factor"] * hd))
        w.add_parallel_residual(cfg["use_parallel_residual"])
    else:
        w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    rope = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    base = cfg.get("rope_theta", rope.get("rope_theta", 10000.0))
    if arch != "gptneox":
        w.add_rope_freq_base(base)
    if arch == "llama":
        w.add_rope_dimension_count(hd)
    if arch == "phi3":
        w.add_rope_dimension_count(int(rope.get("partial_rotary_factor", 1.0) * hd))
    if rope.get("rope_type") == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(rope["factor"])
    if cfg.get("sliding_window") and arch in ("llama", "phi3", "gemma2"):
        w.add_sliding_window(cfg["sliding_window"])
    if arch == "gemma2":
        w.add_float32("gemma2.attn_logit_softcapping", cfg["attn_logit_softcapping"])
        w.add_float32("gemma2.final_logit_softcapping", cfg["final_logit_softcapping"])
    tokenizer_keys(w, folder)

    def t(gname, array):
        w.add_tensor(gname, np.ascontiguousarray(array, dtype=np.float32))

    gemma = arch in ("gemma", "gemma2")
    norm = (lambda a: a + 1.0) if gemma else (lambda a: a)
    if arch == "gptneox":
        t("token_embd.weight", sd["gpt_neox.embed_in.weight"])
        for l in range(L):
            p = f"gpt_neox.layers.{l}."
            b = f"blk.{l}."
            for hf, gg in [("input_layernorm", "attn_norm"), ("post_attention_layernorm", "ffn_norm"),
                           ("attention.dense", "attn_output"), ("mlp.dense_h_to_4h", "ffn_up"),
                           ("mlp.dense_4h_to_h", "ffn_down")]:
                t(b + gg + ".weight", sd[p + hf + ".weight"])
                t(b + gg + ".bias", sd[p + hf + ".bias"])
            qkv = sd[p + "attention.query_key_value.weight"].reshape(H, 3, hd, d)
            t(b + "attn_qkv.weight", np.concatenate([qkv[:, i].reshape(-1, d) for i in range(3)]))
            qb = sd[p + "attention.query_key_value.bias"].reshape(H, 3, hd)
            t(b + "attn_qkv.bias", np.concatenate([qb[:, i].reshape(-1) for i in range(3)]))
        t("output_norm.weight", sd["gpt_neox.final_layer_norm.weight"])
        t("output_norm.bias", sd["gpt_neox.final_layer_norm.bias"])
        t("output.weight", sd["embed_out.weight"])
    else:
        t("token_embd.weight", sd["model.embed_tokens.weight"])
        for l in range(L):
            p = f"model.layers.{l}."
            b = f"blk.{l}."
            t(b + "attn_norm.weight", norm(sd[p + "input_layernorm.weight"]))
            if arch == "gemma2":
                t(b + "post_attention_norm.weight", norm(sd[p + "post_attention_layernorm.weight"]))
                t(b + "ffn_norm.weight", norm(sd[p + "pre_feedforward_layernorm.weight"]))
                t(b + "post_ffw_norm.weight", norm(sd[p + "post_feedforward_layernorm.weight"]))
            else:
                t(b + "ffn_norm.weight", norm(sd[p + "post_attention_layernorm.weight"]))
            if arch == "phi3":
                t(b + "attn_qkv.weight", sd[p + "self_attn.qkv_proj.weight"])
                t(b + "ffn_up.weight", sd[p + "mlp.gate_up_proj.weight"])
            else:
                q, k = sd[p + "self_attn.q_proj.weight"], sd[p + "self_attn.k_proj.weight"]
                if arch == "llama":
                    q, k = permute(q, H), permute(k, kv)
                t(b + "attn_q.weight", q)
                t(b + "attn_k.weight", k)
                t(b + "attn_v.weight", sd[p + "self_attn.v_proj.weight"])
                for x in "qkv":
                    if p + f"self_attn.{x}_proj.bias" in sd:
                        t(b + f"attn_{x}.bias", sd[p + f"self_attn.{x}_proj.bias"])
                t(b + "ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
                t(b + "ffn_up.weight", sd[p + "mlp.up_proj.weight"])
            t(b + "attn_output.weight", sd[p + "self_attn.o_proj.weight"])
            t(b + "ffn_down.weight", sd[p + "mlp.down_proj.weight"])
        t("output_norm.weight", norm(sd["model.norm.weight"]))
        if not cfg.get("tie_word_embeddings", gemma):
            t("output.weight", sd["lm_head.weight"])
        if rope.get("rope_type") == "llama3":
            t("rope_freqs.weight", llama3_divisors(rope, hd, base))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    if arch in ("gemma2", "qwen2"):
        # GGUF keeps no query_pre_attn_scalar (llama.cpp scales by 1/sqrt(head size)) and
        # no qwen2 window: the copy's reference is transformers with those settings.
        from make_family_fixtures import reference_cases
        from transformers import AutoConfig, AutoModelForCausalLM
        c = AutoConfig.from_pretrained(folder)
        if arch == "gemma2":
            c.query_pre_attn_scalar = hd
        else:
            c.use_sliding_window = False
            c.layer_types = ["full_attention"] * L
        m = AutoModelForCausalLM.from_pretrained(folder, config=c, attn_implementation="eager",
                                                 dtype=torch.float32).double().eval()
        ref = json.load(open(os.path.join(folder, "reference.json")))
        cases = reference_cases(m, [dict(name=p["name"], ids=p["ids"]) for p in ref["prompts"]])
        note = (f"query_pre_attn_scalar = head_dim ({hd})" if arch == "gemma2" else "no sliding window")
        out = dict(meta=dict(note=f"transformers float64 with {note}, which is what the GGUF copy computes"),
                   prompts=cases)
        with open(os.path.join(folder, "reference-gguf.json"), "w") as f:
            json.dump(out, f, separators=(",", ":"))
    print(f"{name}: wrote model-f32.gguf ({arch})")


def write_refusals(out):
    """Metadata-only GGUF files, each with one setting Loupe must refuse."""
    os.makedirs(out, exist_ok=True)
    base = dict(block_count=2, context_length=64, embedding_length=64, feed_forward_length=128,
                head_count=4, head_count_kv=2, layer_norm_rms_eps=1e-5, rope_freq_base=10000.0)
    cases = {
        "unknown-key": ("llama", lambda w: w.add_uint32("llama.attention.temperature_tuning", 1)),
        "yarn": ("llama", lambda w: (w.add_rope_scaling_type(gguf.RopeScalingType.YARN), w.add_rope_scaling_factor(4.0))),
        "experts": ("llama", lambda w: w.add_expert_count(8)),
        "eps-string": ("llama", None),
        "attn-factor": ("llama", lambda w: w.add_float32("llama.rope.scaling.attn_factor", 0.5)),
        "unknown-arch": ("mamba", None),
    }
    for name, (arch, extra) in cases.items():
        w = gguf.GGUFWriter(os.path.join(out, name + ".gguf"), arch)
        w.add_block_count(base["block_count"])
        w.add_context_length(base["context_length"])
        w.add_embedding_length(base["embedding_length"])
        w.add_feed_forward_length(base["feed_forward_length"])
        w.add_head_count(base["head_count"])
        w.add_head_count_kv(base["head_count_kv"])
        w.add_vocab_size(512)
        if name == "eps-string":
            w.add_string("llama.attention.layer_norm_rms_epsilon", "tiny")
        else:
            w.add_layer_norm_rms_eps(base["layer_norm_rms_eps"])
        w.add_rope_freq_base(base["rope_freq_base"])
        if extra:
            extra(w)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    print("refusals:", ", ".join(cases))
