#!/usr/bin/env python3
"""Reference projections of FFN value vectors onto the vocabulary.

Geva et al. (2022) read an MLP neuron i of block l through its value vector
v_i, the i-th column of the block's down projection (what the neuron adds to
the residual stream per unit of activation), projected onto the vocabulary.
Loupe projects it as the model would read it at the end: through the final
norm's weight g (and, for a LayerNorm, its centring) and the unembedding:

    RMSNorm:    W_U (g * v_i)
    LayerNorm:  W_U (g * (v_i - mean(v_i)))

(the norm's scale, 1/rms of the whole residual, is one positive number per
position and leaves every ranking as it is).

This script computes the same from each checkpoint's own weights with numpy
in float64, independently of Loupe's loaders, and writes
`reference/value-vectors.json`: per checkpoint, for block `layer` and a few
neurons, ||v_i||, and the eight most promoted and most suppressed tokens
with their projections.

    python3 Tests/LoupeModelTests/Fixtures/make_value_vector_fixtures.py [SMOLLM2.gguf]

The tiny checkpoints are float32 safetensors in Hugging Face layout. With
the path of the default model (SmolLM2-135M-Instruct.Q4_1.gguf), its block
15 is added too: the `gguf` package dequantizes the Q4_1 down projection and
the Q8_0 embedding (tied as the unembedding).
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "reference", "tiny")
NEURONS = [0, 5, 17, 42, 100]
K = 8


def project(v, g, unembedding, layernorm):
    v = v.astype(np.float64)
    if layernorm:
        v = v - v.mean()
    return unembedding.astype(np.float64) @ (g.astype(np.float64) * v)


def entry(name, layer, columns, g, unembedding, layernorm, neurons):
    out = {"checkpoint": name, "layer": layer, "neurons": []}
    for i in neurons:
        v = columns(i)
        p = project(v, g, unembedding, layernorm)
        order = np.argsort(-p, kind="stable")
        top, bottom = order[:K], order[::-1][:K]
        out["neurons"].append({
            "neuron": i,
            "norm": float(np.linalg.norm(v.astype(np.float64))),
            "top_ids": [int(t) for t in top], "top": [float(p[t]) for t in top],
            "bottom_ids": [int(t) for t in bottom], "bottom": [float(p[t]) for t in bottom],
            "max_abs": float(np.abs(p).max()),
        })
    return out


def tiny():
    from safetensors.numpy import load_file
    llama = load_file(os.path.join(TINY, "tiny-llama", "model.safetensors"))
    down = llama["model.layers.1.mlp.down_proj.weight"]          # [d, m]
    yield entry("tiny/tiny-llama", 1, lambda i: down[:, i], llama["model.norm.weight"], llama["lm_head.weight"], False,
                [n for n in NEURONS if n < down.shape[1]])
    gpt2 = load_file(os.path.join(TINY, "tiny-gpt2", "model.safetensors"))
    proj = gpt2["transformer.h.1.mlp.c_proj.weight"]              # Conv1D: [m, d]
    yield entry("tiny/tiny-gpt2", 1, lambda i: proj[i, :], gpt2["transformer.ln_f.weight"], gpt2["transformer.wte.weight"], True,
                [n for n in NEURONS if n < proj.shape[0]])


def smollm2(path):
    import gguf
    from gguf.quants import dequantize
    reader = gguf.GGUFReader(path)
    tensors = {t.name: t for t in reader.tensors}

    def matrix(name):
        t = tensors[name]
        # GGUF lists dimensions fastest first; numpy wants them slowest first.
        return dequantize(t.data, t.tensor_type).reshape([int(n) for n in reversed(t.shape)])
    down = matrix("blk.15.ffn_down.weight")                          # [d, m]
    unembedding = matrix("output.weight") if "output.weight" in tensors else matrix("token_embd.weight")
    g = matrix("output_norm.weight")
    return entry("smollm2", 15, lambda i: down[:, i], g, unembedding, False, NEURONS)


def main():
    entries = list(tiny())
    if len(sys.argv) > 1:
        entries.append(smollm2(sys.argv[1]))
    with open(os.path.join(HERE, "reference", "value-vectors.json"), "w") as f:
        json.dump({"k": K, "entries": entries}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
