#!/usr/bin/env python3
"""Tokenizer references for each pre-tokenizer, from Hugging Face `tokenizers`.

For each pre-tokenizer configuration a family ships in its tokenizer.json
(Llama 3's "llama-bpe", Qwen2's, GPT-NeoX's byte-level), a small byte-level
BPE is trained here with that exact pre-tokenizer (and normalizer) on a
fixed text, and the `tokenizers` library encodes the 184 strings of
reference/smollm2/tokenizer.json plus extra cases (digits, contractions, CJK,
emoji, mixed scripts, whitespace runs). The splitting is what is checked:
with a vocabulary this small, a wrong split gives different ids.

Writes reference/pretokenizers/<name>/{tokenizer.json, reference.json}.
Run from anywhere: python3 make_pretokenizer_fixtures.py (tokenizers version printed).
"""

import json
import os

import tokenizers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "reference")
OUT = os.path.join(REF, "pretokenizers")

LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

CONFIGS = {
    # Llama 3.x tokenizer.json: Split(regex, Isolated) then ByteLevel without its own regex.
    "llama-bpe": (None, pre_tokenizers.Sequence([
        pre_tokenizers.Split(tokenizers.Regex(LLAMA3), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False, trim_offsets=False)])),
    # Qwen2: NFC normalisation, single digits.
    "qwen2": (normalizers.NFC(), pre_tokenizers.Sequence([
        pre_tokenizers.Split(tokenizers.Regex(QWEN2), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False, trim_offsets=False)])),
    # Pythia (GPT-NeoX-20B tokenizer): byte-level with GPT-2's regex, no prefix space.
    "gpt-neox": (None, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True, trim_offsets=True)),
}

EXTRA = [
    "1234567", "12 345 6789", "3.14159", "٣٤٥ and ๑๒๓", "x=1000000;y=22", "I'M", "you'RE", "they'LL",
    "don't", "It's", "we'Ve", "中文分词测试", "日本語のテキスト", "한국어 문장입니다", "emoji 😀👍🏽 mix",
    "👨‍👩‍👧‍👦 family", "Привет, мир!", "مرحبا بالعالم", "नमस्ते दुनिया", "mixed Latin中文и кириллица",
    "tabs\tand\nnewlines\r\n\r\nend", "   leading", "trailing   ", "a  \n  b", "e\u0301 cafe\u0301",
    "Ａｂｃ full width", "...!!!???", "foo_bar-baz/qux", "\u00a0nbsp\u2003em", "$100.00 & 50%",
    "def f():\n    return  1        # eight", "a   b     c",
]


def training_text():
    base = open(os.path.join(REF, "tiny", "tokenizer", "training_text.txt"), encoding="utf-8").read()
    return [base, " ".join(EXTRA), "The year 2024 had 366 days; 1,000,000 people."]


def main():
    print("tokenizers", tokenizers.__version__)
    cases = [c["text"] for c in json.load(open(os.path.join(REF, "smollm2", "tokenizer.json")))["cases"]] + EXTRA
    for name, (normalizer, pre) in CONFIGS.items():
        tok = Tokenizer(models.BPE(ignore_merges=(name == "llama-bpe")))
        if normalizer:
            tok.normalizer = normalizer
        tok.pre_tokenizer = pre
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tok.train_from_iterator(training_text(), trainer)
        if name == "gpt-neox":
            # Like GPT-NeoX-20B's tokenizer: runs of spaces as added tokens that
            # are not special, which tokenizers matches in the text before splitting.
            tok.add_tokens([tokenizers.AddedToken(" " * n, normalized=True) for n in (2, 4, 8)])
        folder = os.path.join(OUT, name)
        os.makedirs(folder, exist_ok=True)
        tok.save(os.path.join(folder, "tokenizer.json"))
        out = []
        for text in cases:
            enc = tok.encode(text, add_special_tokens=False)
            out.append(dict(text=text, ids=enc.ids, pieces=enc.tokens))
        ref = dict(meta=dict(pre_tokenizer=name, tokenizers=tokenizers.__version__, vocab=tok.get_vocab_size(),
                             note="ids from tokenizers' encode(add_special_tokens=False); texts: the 184 "
                                  "SmolLM2 reference strings, then extra cases"),
                   cases=out)
        with open(os.path.join(folder, "reference.json"), "w", encoding="utf-8") as f:
            json.dump(ref, f, ensure_ascii=False, separators=(",", ":"))
        print(name, len(out), "cases, vocab", tok.get_vocab_size())


if __name__ == "__main__":
    main()
