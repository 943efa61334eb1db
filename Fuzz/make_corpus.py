"""Seed inputs for Loupe's fuzz targets (see README.md), small on purpose:
a fuzzer mutates short inputs faster and reaches more of the reader.

    python3 Fuzz/make_corpus.py

Writes Fuzz/corpus/<target>/seed-*. Needs numpy, the `gguf` package and a
built `loupe` (the record seeds are rendered with it).
The models are random and tiny (one block, d_model 8, a 103-token
byte-level vocabulary); they load, and that is all they are for.
"""

import json
import os
import struct

import numpy as np
import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
REPO = os.path.dirname(HERE)

rng = np.random.default_rng(0)


def byte_vocab():
    """GPT-2's byte-to-unicode symbols of the printable ASCII bytes and the
    space (Ġ), a few merges, and <|endoftext|> as id 0: 103 tokens."""
    pieces = ["<|endoftext|>"] + [chr(c) for c in range(0x21, 0x7F)]
    pieces += ["\u0120", "\u0120t", "he", "\u0120the", "in", "er", "an", "on"]
    merges = ["\u0120 t", "h e", "\u0120t he", "i n", "e r", "a n", "o n"]
    return pieces, merges


VOCAB = 103


def write(target, name, data):
    folder = os.path.join(OUT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


def gguf_bytes(arch, extra=None, tensors=True, dtype=np.float32):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, ".tmp.gguf")
    w = gguf.GGUFWriter(path, arch)
    d, ff, H, kv = 8, 16, 2, 1
    vocab = len(byte_vocab()[0])
    w.add_name("seed")
    w.add_block_count(1)
    w.add_context_length(32)
    w.add_embedding_length(d)
    w.add_feed_forward_length(ff)
    w.add_head_count(H)
    w.add_head_count_kv(kv if arch == "llama" else H)
    if arch == "gpt2":
        w.add_layer_norm_eps(1e-5)
    else:
        w.add_layer_norm_rms_eps(1e-5)
        w.add_rope_freq_base(10000.0)
        w.add_rope_dimension_count(d // H)
    pieces, merges = byte_vocab()
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm" if arch == "llama" else "gpt-2")
    w.add_token_list(pieces)
    w.add_token_merges(merges)
    w.add_token_types([3 if i == 0 else 1 for i in range(len(pieces))])
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)
    if extra:
        extra(w)
    hd = d // H

    def t(name, *shape):
        w.add_tensor(name, (rng.standard_normal(shape) * 0.1).astype(dtype))

    if tensors:
        t("token_embd.weight", vocab, d)
        t("output_norm.weight", d)
        if arch == "gpt2":
            t("position_embd.weight", 32, d)
            t("output_norm.bias", d)
            t("blk.0.attn_norm.weight", d); t("blk.0.attn_norm.bias", d)
            t("blk.0.attn_qkv.weight", 3 * d, d); t("blk.0.attn_qkv.bias", 3 * d)
            t("blk.0.attn_output.weight", d, d); t("blk.0.attn_output.bias", d)
            t("blk.0.ffn_norm.weight", d); t("blk.0.ffn_norm.bias", d)
            t("blk.0.ffn_up.weight", ff, d); t("blk.0.ffn_up.bias", ff)
            t("blk.0.ffn_down.weight", d, ff); t("blk.0.ffn_down.bias", d)
        else:
            t("blk.0.attn_norm.weight", d)
            t("blk.0.attn_q.weight", H * hd, d)
            t("blk.0.attn_k.weight", kv * hd, d)
            t("blk.0.attn_v.weight", kv * hd, d)
            t("blk.0.attn_output.weight", d, H * hd)
            t("blk.0.ffn_norm.weight", d)
            t("blk.0.ffn_gate.weight", ff, d)
            t("blk.0.ffn_up.weight", ff, d)
            t("blk.0.ffn_down.weight", d, ff)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(path, "rb") as f:
        data = f.read()
    os.remove(path)
    return data


def safetensors_bytes(tensors, metadata=None):
    header = {}
    body = b""
    for name, array in tensors.items():
        raw = array.tobytes()
        dtype = {np.float32: "F32", np.float16: "F16", np.int32: "I32"}[array.dtype.type]
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [len(body), len(body) + len(raw)]}
        body += raw
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def bf16(array):
    bits = np.asarray(array, dtype=np.float32).view(np.uint32) >> 16
    return bits.astype(np.uint16)


def tokenizer_json():
    pieces, merges = byte_vocab()
    return {
        "version": "1.0",
        "added_tokens": [{"id": 0, "content": "<|endoftext|>", "special": True, "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": False}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": {p: i for i, p in enumerate(pieces)}, "merges": merges},
    }


def main():
    # GGUF: a llama and a gpt2 model, an f16 one, and the refusal files.
    write("gguf", "llama", gguf_bytes("llama"))
    write("gguf", "gpt2", gguf_bytes("gpt2"))
    write("gguf", "llama-f16", gguf_bytes("llama", dtype=np.float16))
    write("gguf", "refusal-no-tensors", gguf_bytes("llama", tensors=False))
    refusals = os.path.join(REPO, "Tests/LoupeModelTests/Fixtures/reference/families/refusals")
    for name in sorted(os.listdir(refusals)):
        with open(os.path.join(refusals, name), "rb") as f:
            write("gguf", "refusal-" + name, f.read())

    # safetensors: each dtype Loupe reads, and metadata.
    a = rng.standard_normal((3, 4)).astype(np.float32)
    write("safetensors", "f32", safetensors_bytes({"a": a, "b": a[0]}, {"format": "pt"}))
    write("safetensors", "f16", safetensors_bytes({"h": a.astype(np.float16)}))
    write("safetensors", "i32", safetensors_bytes({"ids": np.arange(6, dtype=np.int32).reshape(2, 3)}))
    raw = safetensors_bytes({"x": a})
    header_len = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + header_len])
    header["x"]["dtype"] = "BF16"
    header["x"]["data_offsets"] = [0, a.size * 2]
    text = json.dumps(header, separators=(",", ":")).encode()
    write("safetensors", "bf16", struct.pack("<Q", len(text)) + text + bf16(a).tobytes())

    # config.json NUL tokenizer.json: llama and gpt2 configs.
    tok = json.dumps(tokenizer_json(), ensure_ascii=False).encode()
    llama = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 8, "intermediate_size": 16,
             "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": VOCAB,
             "max_position_embeddings": 32, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
             "tie_word_embeddings": True, "bos_token_id": 0, "eos_token_id": 0}
    gpt2 = {"model_type": "gpt2", "n_embd": 8, "n_layer": 1, "n_head": 2, "n_positions": 32, "vocab_size": VOCAB,
            "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new", "bos_token_id": 0, "eos_token_id": 0}
    write("config-tokenizer", "llama", json.dumps(llama).encode() + b"\0" + tok)
    write("config-tokenizer", "gpt2", json.dumps(gpt2).encode() + b"\0" + tok)
    rope = dict(llama, rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                     "high_freq_factor": 4.0, "original_max_position_embeddings": 16})
    write("config-tokenizer", "llama3-rope", json.dumps(rope).encode() + b"\0" + tok)

    # Specs: the default gallery and one of its dashboards.
    for name, path in [("gallery", "Gallery/smollm2.yml"), ("dashboard", "Gallery/dashboards/eiffel.yml")]:
        full = os.path.join(REPO, path)
        if os.path.exists(full):
            with open(full, "rb") as f:
                write("spec", name, f.read())

    # Records: small ones of every view and mode, rendered by a built `loupe`
    # on the tiny llama fixture (the example records are too big to mutate fast).
    write_records()


def write_records():
    import subprocess
    import tempfile
    loupe = os.path.join(REPO, ".build/release/loupe")
    model = os.path.join(REPO, "Tests/LoupeModelTests/Fixtures/reference/tiny/tiny-llama/tiny-llama-f32.gguf")
    if not os.path.exists(loupe):
        raise SystemExit("build loupe first (make build): the record seeds are rendered with it")
    with tempfile.TemporaryDirectory() as tmp:
        prompts = os.path.join(tmp, "set.jsonl")
        with open(prompts, "w") as f:
            # Four prompts a topic: each half of the tags' split needs two.
            for topic, text in [("sea", "the ship sails on"), ("sea", "a wave hits the shore"),
                                ("sea", "the tide comes in fast"), ("sea", "gulls over the harbour"),
                                ("food", "bread and jam for tea"), ("food", "a bowl of hot soup"),
                                ("food", "rice with beans and salt"), ("food", "an apple pie cooling")]:
                f.write(json.dumps({"topic": topic, "text": text}) + "\n")
        cases = {
            "logit-lens": ["logit-lens", "--prompt", "a b c a"],
            "logit-lens-entropy": ["logit-lens", "--prompt", "a b", "--set", "metric=entropy"],
            "attention-head": ["attention", "--prompt", "a b c a b", "--set", "layer=1"],
            "attention-grid": ["attention", "--prompt", "a b c", "--set", "mode=grid"],
            "attention-scores": ["attention", "--prompt", "a b a b", "--set", "mode=scores"],
            "neuron-clusters": ["neuron-clusters", "--set", "prompts=" + prompts, "--set", "layer=0",
                                "--set", "neurons=6", "--set", "clusters=2"],
            "neuron-clusters-kmeans": ["neuron-clusters", "--set", "prompts=" + prompts, "--set", "layer=1",
                                       "--set", "neurons=5", "--set", "clusters=2", "--set", "method=kmeans"],
            "text-deep-dream": ["text-deep-dream", "--prompt", "a b", "--set", "layer=0", "--set", "neuron=3",
                                "--set", "steps=4", "--set", "positions=3", "--set", "show=2", "--set", "candidates=8",
                                "--set", "prompts=" + prompts],
            "logit-attribution": ["logit-attribution", "--prompt", "a b c a"],
            "logit-attribution-difference": ["logit-attribution", "--prompt", "a b c a", "--set", "counterfactual=id:5"],
            "value-vectors": ["value-vectors", "--prompt", "a b c a", "--set", "tokens=3"],
            "value-vectors-neurons": ["value-vectors", "--prompt", "a b c a", "--set", "layer=0", "--set", "neurons=1,7"],
            "top-activations": ["top-activations", "--set", "prompts=" + prompts, "--set", "layer=1", "--set", "neuron=3",
                                "--set", "k=3"],
            "activation-patching": ["activation-patching", "--prompt", "a b c a", "--set", "corrupted=a b d a"],
            "activation-patching-z": ["activation-patching", "--prompt", "a b c a", "--set", "corrupted=a b d a",
                                      "--set", "site=z"],
        }
        for name, args in cases.items():
            out = os.path.join(tmp, name + ".png")
            subprocess.run([loupe, "render", args[0], "--model", model] + args[1:] + ["-o", out],
                           check=True, capture_output=True)
            with open(os.path.join(tmp, name + ".json"), "rb") as f:
                # The prompt set's temporary path says nothing: keep its name only.
                write("record", name, f.read().replace(prompts.encode(), b"set.jsonl"))


if __name__ == "__main__":
    main()
