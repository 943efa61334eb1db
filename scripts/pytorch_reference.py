#!/usr/bin/env python3
"""PyTorch eager timings of the work `loupe bench forward` and
`loupe bench view text-deep-dream` time, on the same model file, to run
beside them on the same machine:

  - a 64-token forward pass keeping every hidden state and attention
    pattern, and one keeping nothing;
  - one relaxed-input dream step: softmax over the vocabulary for 8
    positions after BOS, the mixed embeddings, blocks 0-15, the mean of MLP
    neuron 100 of block 15, and the backward pass to the logits (no weight
    gradients, as Loupe computes none).

Needs torch, transformers, gguf and accelerate (pip). Medians of 9, after
one warm-up, on two threads.

  python3 scripts/pytorch_reference.py [--model PATH]
"""
import argparse, os, statistics, time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
cache = os.environ.get("LOUPE_CACHE") or os.path.expanduser("~/.cache/loupe/models")
parser.add_argument("--model", default=os.path.join(cache, "SmolLM2-135M-Instruct.Q4_1.gguf"))
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()
torch.set_num_threads(args.threads)

folder, name = os.path.split(args.model)
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32,
                                             attn_implementation="eager").eval().requires_grad_(False)


def median_ms(step, runs=9):
    step()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


# The timing does not depend on the words, only on the count.
words = ("The lighthouse keeper climbed the spiral stairs every evening at dusk, "
         "counting the steps as his father had taught him. ") * 8
ids = tokenizer(words, return_tensors="pt").input_ids[:, :63]
ids = torch.cat([torch.tensor([[tokenizer.bos_token_id]]), ids], 1)
assert ids.shape[1] == 64
with torch.no_grad():
    full = median_ms(lambda: model(ids, output_hidden_states=True, output_attentions=True))
    bare = median_ms(lambda: model(ids))

embedding = model.model.embed_tokens.weight
layers = model.model.layers
block, neuron, positions = 15, 100, 8
logits = torch.randn(positions, embedding.shape[0], requires_grad=True)
seen = {}
hook = layers[block].mlp.down_proj.register_forward_hook(lambda module, inputs, output: seen.update(post=inputs[0]))
bos = embedding[tokenizer.bos_token_id][None]


def dream_step():
    x = torch.cat([bos, torch.softmax(logits, -1) @ embedding], 0)[None]
    t = x.shape[1]
    position_ids = torch.arange(t)[None]
    mask = torch.full((t, t), float("-inf")).triu(1)[None, None]
    rotary = model.model.rotary_emb(x, position_ids)
    for layer in layers[: block + 1]:
        x = layer(x, position_embeddings=rotary, attention_mask=mask, position_ids=position_ids)
        x = x[0] if isinstance(x, tuple) else x
    objective = seen["post"][0, 1:, neuron].mean()
    logits.grad = None
    (-objective).backward()


dream = median_ms(dream_step)
hook.remove()
print(f"pytorch {torch.__version__}, {args.threads} threads: 64-token forward with hidden states and attentions "
      f"{full:.1f} ms, with neither {bare:.1f} ms; dream step (8 positions, block {block}) {dream:.1f} ms")
