#!/usr/bin/env python3
"""Build the small GGUF fixtures used by LoupeModelTests.

Why this exists
---------------
Loupe has its own GGUF parser and its own dequantizers. To test them against
something other than themselves, the reference numbers here are produced by an
independent implementation: the `gguf` Python package from the llama.cpp
project (written against gguf 0.19.0 with numpy 2.4.6; the versions actually
used are printed when the script runs). Its `GGUFWriter` lays out the file and
its `gguf.quants.dequantize` computes the expected float values.

Outputs (written next to this script)
-------------------------------------
quants.gguf     GGUF version 3, architecture "test", default alignment 32
                (no `general.alignment` key is written).
quants_v2.gguf  Byte-for-byte the same file, except the header version field
                (bytes 4..8, little-endian uint32) is 2. For little-endian
                files, versions 2 and 3 use the same layout.

Tensors, in file order. Logical shape is 2 rows x 512 columns, i.e. the GGUF
dims are ne0 = 512, ne1 = 2, so every 256-element K-quant row holds 2 blocks:
    f32                      F32   (random normal values)
    f16,  f16.expected       F16   (random normal, rounded to half)
    bf16, bf16.expected      BF16  (random normal, f32 bits truncated to 16)
    q8_0, q8_0.expected      Q8_0
    q4_0, q4_0.expected      Q4_0
    q4_1, q4_1.expected      Q4_1
    q5_0, q5_0.expected      Q5_0
    q5_1, q5_1.expected      Q5_1
    q4_k, q4_k.expected      Q4_K
    q5_k, q5_k.expected      Q5_K
    q6_k, q6_k.expected      Q6_K
Each `<name>.expected` is an F32 [2, 512] tensor holding
gguf.quants.dequantize(<raw bytes of name>, <type>). No `f32.expected` is
written: it would be a copy of `f32` itself.

Quantized blocks are random bytes from a seeded generator, except that every
fp16 scale/min field is replaced by a finite, moderate half value, so the
dequantized data never contains NaN or Inf:
    d    (all types)            uniform in [-0.05, 0.05]
    m    (Q4_1, Q5_1 offsets)   uniform in [-0.05, 0.05]
    dmin (Q4_K, Q5_K)           uniform in [0, 0.05]
Field positions inside one block (bytes):
    Q8_0  34 B: d[0:2]  qs[2:34]
    Q4_0  18 B: d[0:2]  qs[2:18]
    Q4_1  20 B: d[0:2]  m[2:4]  qs[4:20]
    Q5_0  22 B: d[0:2]  qh[2:6]  qs[6:22]
    Q5_1  24 B: d[0:2]  m[2:4]  qh[4:8]  qs[8:24]
    Q4_K 144 B: d[0:2]  dmin[2:4]  scales[4:16]  qs[16:144]
    Q5_K 176 B: d[0:2]  dmin[2:4]  scales[4:16]  qh[16:48]  qs[48:176]
    Q6_K 210 B: ql[0:128]  qh[128:192]  scales[192:208] (int8)  d[208:210]

Metadata (key: GGUF value type = value), after `general.architecture`
(STRING = "test") which the writer always emits first:
    test.u8      UINT8   = 200
    test.i8      INT8    = -100
    test.u16     UINT16  = 60000
    test.i16     INT16   = -30000
    test.u32     UINT32  = 4000000000
    test.i32     INT32   = -2000000000
    test.u64     UINT64  = 18446744073709551000   (above Int64.max)
    test.i64     INT64   = -9000000000000000000
    test.f32     FLOAT32 = -1.25                  (exact in binary)
    test.f64     FLOAT64 = 3.141592653589793      (== Double.pi)
    test.bool    BOOL    = true
    test.str     STRING  = "héllo, Loupe ✓"       (UTF-8, 14 chars / 17 bytes)
    test.arr_i32 ARRAY of INT32  = [1, -2, 3, 2147483647, -2147483648]
    test.arr_str ARRAY of STRING = ["alpha", "", "βeta"]
    test.arr_arr ARRAY of ARRAY (each an ARRAY of INT32) = [[1, 2], [3], [4, 5, 6]]

Running the script twice produces identical bytes (fixed seed, no timestamps).
After writing, both files are read back with gguf.GGUFReader and every
tensor's dequantized data is compared with its `.expected` tensor.

Usage: python3 Tests/LoupeModelTests/Fixtures/make_gguf_fixtures.py
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import struct
import sys
from pathlib import Path

import numpy as np

import gguf
from gguf import GGMLQuantizationType as QT
from gguf import GGML_QUANT_SIZES, GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize

SEED = 1234
ROWS, COLS = 2, 512
OUT_DIR = Path(__file__).resolve().parent
V3_PATH = OUT_DIR / "quants.gguf"
V2_PATH = OUT_DIR / "quants_v2.gguf"

# Types in file order. The tensor name is the lowercased type name.
TYPES = [QT.F32, QT.F16, QT.BF16, QT.Q8_0, QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1,
         QT.Q4_K, QT.Q5_K, QT.Q6_K]

# Byte offsets of the fp16 fields inside one block, with the range each one
# is drawn from.
SIGNED = (-0.05, 0.05)
UNSIGNED = (0.0, 0.05)
HALF_FIELDS: dict[QT, list[tuple[int, tuple[float, float]]]] = {
    QT.Q8_0: [(0, SIGNED)],
    QT.Q4_0: [(0, SIGNED)],
    QT.Q5_0: [(0, SIGNED)],
    QT.Q4_1: [(0, SIGNED), (2, SIGNED)],
    QT.Q5_1: [(0, SIGNED), (2, SIGNED)],
    QT.Q4_K: [(0, SIGNED), (2, UNSIGNED)],
    QT.Q5_K: [(0, SIGNED), (2, UNSIGNED)],
    QT.Q6_K: [(208, SIGNED)],
}

# (key, GGUF value type, value). Arrays are written with add_array, which
# infers the element type from Python values (int -> INT32, str -> STRING,
# list -> ARRAY).
METADATA: list[tuple[str, GGUFValueType, object]] = [
    ("test.u8", GGUFValueType.UINT8, 200),
    ("test.i8", GGUFValueType.INT8, -100),
    ("test.u16", GGUFValueType.UINT16, 60000),
    ("test.i16", GGUFValueType.INT16, -30000),
    ("test.u32", GGUFValueType.UINT32, 4_000_000_000),
    ("test.i32", GGUFValueType.INT32, -2_000_000_000),
    ("test.u64", GGUFValueType.UINT64, 18_446_744_073_709_551_000),
    ("test.i64", GGUFValueType.INT64, -9_000_000_000_000_000_000),
    ("test.f32", GGUFValueType.FLOAT32, -1.25),
    ("test.f64", GGUFValueType.FLOAT64, 3.141592653589793),
    ("test.bool", GGUFValueType.BOOL, True),
    ("test.str", GGUFValueType.STRING, "h\u00e9llo, Loupe \u2713"),
    ("test.arr_i32", GGUFValueType.ARRAY, [1, -2, 3, 2147483647, -2147483648]),
    ("test.arr_str", GGUFValueType.ARRAY, ["alpha", "", "\u03b2eta"]),
    ("test.arr_arr", GGUFValueType.ARRAY, [[1, 2], [3], [4, 5, 6]]),
]


def tensor_name(qtype: QT) -> str:
    return qtype.name.lower()


def make_float_payload(rng: np.random.Generator, qtype: QT) -> np.ndarray:
    """Random normal data stored as F32, F16 or BF16 (BF16 as raw bytes)."""
    values = rng.standard_normal((ROWS, COLS)).astype(np.float32)
    if qtype == QT.F32:
        return values
    if qtype == QT.F16:
        return values.astype(np.float16)
    # BF16: keep the upper 16 bits of each float32 (plain truncation).
    bits = (values.view(np.uint32) >> 16).astype("<u2")
    return bits.view(np.uint8).reshape(ROWS, COLS * 2)


def make_quant_payload(rng: np.random.Generator, qtype: QT) -> np.ndarray:
    """Random block bytes, shape (ROWS, bytes per row), with sane fp16 fields."""
    block_elems, block_bytes = GGML_QUANT_SIZES[qtype]
    assert COLS % block_elems == 0
    n_blocks = ROWS * COLS // block_elems
    blocks = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for offset, (lo, hi) in HALF_FIELDS[qtype]:
        halves = rng.uniform(lo, hi, size=n_blocks).astype("<f2")
        assert np.all(np.isfinite(halves))
        blocks[:, offset:offset + 2] = halves.view(np.uint8).reshape(n_blocks, 2)
    return blocks.reshape(ROWS, -1)


def build_payloads() -> dict[QT, np.ndarray]:
    rng = np.random.default_rng(SEED)
    payloads: dict[QT, np.ndarray] = {}
    for qtype in TYPES:
        if qtype in (QT.F32, QT.F16, QT.BF16):
            payloads[qtype] = make_float_payload(rng, qtype)
        else:
            payloads[qtype] = make_quant_payload(rng, qtype)
    return payloads


def reference_values(payload: np.ndarray, qtype: QT) -> np.ndarray:
    out = np.asarray(dequantize(payload, qtype), dtype=np.float32)
    assert out.shape == (ROWS, COLS), (qtype.name, out.shape)
    assert np.all(np.isfinite(out)), qtype.name
    return out


def write_v3(path: Path, payloads: dict[QT, np.ndarray]) -> None:
    writer = GGUFWriter(path, arch="test")

    for key, vtype, value in METADATA:
        if vtype == GGUFValueType.ARRAY:
            writer.add_array(key, value)
        else:
            writer.add_key_value(key, value, vtype)

    for qtype in TYPES:
        name = tensor_name(qtype)
        data = payloads[qtype]
        if data.dtype == np.uint8:
            # Pre-quantized bytes: for a uint8 array the writer reads raw_shape
            # as the *byte* shape and converts it to the element shape using
            # GGML_QUANT_SIZES, so pass the byte shape here.
            writer.add_tensor(name, data, raw_shape=data.shape, raw_dtype=qtype)
        else:
            # float32 / float16 arrays map to F32 / F16 on their own.
            writer.add_tensor(name, data)
        if qtype != QT.F32:
            writer.add_tensor(f"{name}.expected", reference_values(data, qtype))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_v2_copy(src: Path, dst: Path) -> None:
    blob = bytearray(src.read_bytes())
    assert blob[:4] == b"GGUF"
    assert struct.unpack_from("<I", blob, 4)[0] == 3
    struct.pack_into("<I", blob, 4, 2)
    dst.write_bytes(bytes(blob))


def field_value(reader: GGUFReader, key: str) -> object:
    field = reader.get_field(key)
    assert field is not None, key
    return field.contents()


def verify(path: Path, expected_version: int, payloads: dict[QT, np.ndarray]) -> GGUFReader:
    reader = GGUFReader(path)
    assert field_value(reader, "GGUF.version") == expected_version
    assert field_value(reader, "general.architecture") == "test"

    # Scalars compare directly. GGUFReader flattens nested arrays, so the
    # array-of-arrays value is compared flattened, plus its type chain.
    for key, vtype, value in METADATA:
        got = field_value(reader, key)
        field = reader.get_field(key)
        assert field.types[0] == vtype, (key, field.types)
        if key == "test.arr_arr":
            assert field.types == [GGUFValueType.ARRAY, GGUFValueType.ARRAY,
                                   GGUFValueType.INT32], field.types
            flat = [x for inner in value for x in inner]
            assert got == flat, (key, got)
        elif vtype == GGUFValueType.FLOAT32:
            assert got == np.float32(value), (key, got)
        else:
            assert got == value, (key, got, value)

    tensors = {t.name: t for t in reader.tensors}
    expected_names = []
    for qtype in TYPES:
        expected_names.append(tensor_name(qtype))
        if qtype != QT.F32:
            expected_names.append(tensor_name(qtype) + ".expected")
    assert [t.name for t in reader.tensors] == expected_names

    for qtype in TYPES:
        t = tensors[tensor_name(qtype)]
        assert t.tensor_type == qtype
        assert list(t.shape) == [COLS, ROWS]  # GGUF stores ne0 first
        assert t.data_offset % 32 == 0
        # Stored bytes must be exactly what was generated.
        assert t.data.tobytes() == payloads[qtype].tobytes(), qtype.name
        got = np.asarray(dequantize(t.data, qtype), dtype=np.float32).reshape(ROWS, COLS)
        if qtype == QT.F32:
            ref = payloads[qtype]
        else:
            e = tensors[tensor_name(qtype) + ".expected"]
            assert e.tensor_type == QT.F32 and list(e.shape) == [COLS, ROWS]
            ref = np.asarray(e.data, dtype=np.float32).reshape(ROWS, COLS)
        assert np.all(np.isfinite(got)), qtype.name
        assert got.tobytes() == ref.tobytes(), f"{qtype.name}: dequantized data differs"
    return reader


def main() -> int:
    gguf_version = importlib.metadata.version("gguf")
    print(f"gguf {gguf_version} (module {getattr(gguf, '__version__', 'n/a')}), "
          f"numpy {np.__version__}, python {sys.version.split()[0]}")
    if gguf_version != "0.19.0":
        print("note: fixtures were originally generated with gguf 0.19.0")

    payloads = build_payloads()
    write_v3(V3_PATH, payloads)
    write_v2_copy(V3_PATH, V2_PATH)

    reader = verify(V3_PATH, 3, payloads)
    verify(V2_PATH, 2, payloads)

    print(f"\nalignment {reader.alignment}, tensor data starts at byte {reader.data_offset}")
    print("\nmetadata:")
    for key, vtype, value in METADATA:
        label = vtype.name
        if vtype == GGUFValueType.ARRAY:
            label += " of " + reader.get_field(key).types[1].name
        print(f"  {key:13s} {label:16s} {value!r}")

    print("\ntensors (name, type, GGUF dims ne0 x ne1, bytes, offset in data section):")
    for t in reader.tensors:
        print(f"  {t.name:14s} {t.tensor_type.name:5s} {t.shape[0]} x {t.shape[1]}"
              f"  {t.n_bytes:5d} B  @ {t.data_offset - reader.data_offset}")

    print("\nfiles:")
    for p in (V3_PATH, V2_PATH):
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        print(f"  {p.name:15s} {p.stat().st_size:6d} B  sha256 {digest}")
    print("\nread-back check passed for both files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
