import Foundation

/// The GGUF side of the field table: which `{arch}.*` keys each family
/// reads. Keys of the architecture's namespace that are not listed are
/// refused, like unknown config.json fields.
enum GGUFFields {
    /// llama.cpp's architecture names, by family. Mistral checkpoints are
    /// written as `llama` by llama.cpp's converter.
    static let architectures: [String: Family] = [
        "llama": .llama, "qwen2": .qwen2, "gptneox": .gptNeoX, "gemma": .gemma, "gemma2": .gemma2,
        "phi3": .phi3, "gpt2": .gpt2,
    ]

    static let common: Set<String> = [
        "block_count", "context_length", "embedding_length", "feed_forward_length", "attention.head_count",
        "attention.head_count_kv", "attention.key_length", "attention.value_length",
        "attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon", "vocab_size", "expert_count",
        "expert_used_count", "attention.causal",
    ]
    static let rotary: Set<String> = [
        "rope.freq_base", "rope.dimension_count", "rope.scaling.type", "rope.scaling.factor", "rope.scale_linear",
        "rope.scaling.attn_factor", "rope.scaling.original_context_length", "rope.scaling.finetuned",
    ]

    /// Keys (after `{arch}.`) each family reads.
    static let read: [Family: Set<String>] = [
        .llama: common.union(rotary).union(["attention.sliding_window"]),
        .mistral: common.union(rotary).union(["attention.sliding_window"]),
        // llama.cpp writes no window for qwen2 (whose windows cover only the upper blocks).
        .qwen2: common.union(rotary),
        .phi3: common.union(rotary).union(["attention.sliding_window"]),
        .gemma: common.union(rotary),
        .gemma2: common.union(rotary).union(["attention.sliding_window", "attn_logit_softcapping", "final_logit_softcapping"]),
        .gptNeoX: common.union(rotary).union(["use_parallel_residual"]),
        .gpt2: common,
    ]

    /// Keys that describe the file rather than the computation.
    static let inert: Set<String> = ["tensor_data_layout", "rope.scaling.finetuned"]
}

/// Reads `{arch}.*` metadata by type, tracking what was read.
final class GGUFKeys {
    let path: String
    let arch: String
    let family: Family
    private let md: [String: GGUFValue]
    private var consumed: Set<String> = []

    init(_ file: GGUFFile, arch: String, family: Family) {
        md = file.metadata
        path = file.path
        self.arch = arch
        self.family = family
    }

    private func value(_ key: String) throws -> GGUFValue? {
        guard GGUFFields.read[family]?.contains(key) == true else {
            throw ModelError.internalInconsistency("GGUF key '\(key)' is read for \(family.rawValue) but not in its table")
        }
        consumed.insert(key)
        return md["\(arch).\(key)"]
    }

    func int(_ key: String) throws -> Int? {
        guard let v = try value(key) else { return nil }
        guard let i = v.int else { throw ModelError.badField(path: path, field: "\(arch).\(key)", expected: "an integer", found: printable(v.summary, limit: 200)) }
        return i
    }

    func required(_ key: String) throws -> Int {
        guard let v = try int(key) else { throw ModelError.missingMetadata(path: path, key: "\(arch).\(key)") }
        return v
    }

    func double(_ key: String) throws -> Double? {
        guard let v = try value(key) else { return nil }
        guard let d = v.double, d.isFinite else { throw ModelError.badField(path: path, field: "\(arch).\(key)", expected: "a finite number", found: printable(v.summary, limit: 200)) }
        return d
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = try value(key) else { return nil }
        guard let b = v.bool else { throw ModelError.badField(path: path, field: "\(arch).\(key)", expected: "true or false", found: printable(v.summary, limit: 200)) }
        return b
    }

    func string(_ key: String) throws -> String? {
        guard let v = try value(key) else { return nil }
        guard let s = v.string else { throw ModelError.badField(path: path, field: "\(arch).\(key)", expected: "a string", found: printable(v.summary, limit: 200)) }
        return s
    }

    func unsupported(_ key: String, _ value: String, supported: String) -> ModelError {
        .unsupportedSetting(path: path, field: "\(arch).\(key)", value: "'" + printable(value, limit: 200) + "'", supported: supported)
    }

    /// Throws for the first `{arch}.*` key that was not read and is not inert.
    func finish() throws {
        let prefix = arch + "."
        for key in md.keys.sorted() where key.hasPrefix(prefix) {
            let short = String(key.dropFirst(prefix.count))
            if !consumed.contains(short), !GGUFFields.inert.contains(short) {
                throw ModelError.unknownField(path: path, field: printable(key, limit: 200), value: printable(md[key]!.summary, limit: 200), family: family.rawValue)
            }
        }
    }
}

extension ModelConfig {
    /// A configuration from GGUF metadata, following what llama.cpp writes
    /// and reads for each architecture; also whether q/k rows must be put
    /// back into Hugging Face order, and the offset stored norms need.
    static func fromGGUF(_ file: GGUFFile) throws -> (ModelConfig, unpermute: Bool, normOffset: Float) {
        let path = file.path
        guard let archValue = file.metadata["general.architecture"] else { throw ModelError.missingMetadata(path: path, key: "general.architecture") }
        guard let arch = archValue.string else {
            throw ModelError.badField(path: path, field: "general.architecture", expected: "a string", found: printable(archValue.summary, limit: 200))
        }
        guard let family = GGUFFields.architectures[arch] else {
            throw ModelError.unsupportedArchitecture(path: path, architecture: printable(arch, limit: 80))
        }
        let k = GGUFKeys(file, arch: arch, family: family)
        let d = try k.required("embedding_length"), heads = try k.required("attention.head_count")
        guard heads > 0 else { throw k.unsupported("attention.head_count", "0", supported: "at least 1") }
        let headDim = try k.int("attention.key_length") ?? d / heads
        if let v = try k.int("attention.value_length"), v != headDim {
            throw k.unsupported("attention.value_length", String(v), supported: "equal to the key length (\(headDim))")
        }
        let epsKey = family == .gpt2 || family == .gptNeoX ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon"
        guard let eps = try k.double(epsKey) else { throw ModelError.missingMetadata(path: path, key: "\(arch).\(epsKey)") }
        let embeddingShape = file.info("token_embd.weight")?.shape
        var c = ModelConfig(
            family: family, layers: try k.required("block_count"), dModel: d, heads: heads,
            kvHeads: try k.int("attention.head_count_kv") ?? heads, headDim: headDim,
            dMLP: try k.required("feed_forward_length"),
            vocabularySize: try k.int("vocab_size") ?? embeddingShape?.first ?? file.metadata["tokenizer.ggml.tokens"]?.array?.count ?? 0,
            contextLength: try k.required("context_length"), normEpsilon: Float(eps))
        try checkSizes(c, path: path)
        for key in ["expert_count", "expert_used_count"] {
            if let n = try k.int(key), n != 0 { throw k.unsupported(key, String(n), supported: "0 (mixtures of experts are not implemented)") }
        }
        if try k.bool("attention.causal") == false { throw k.unsupported("attention.causal", "false", supported: "true") }
        c.tiedEmbeddings = file.info("output.weight") == nil

        if family == .gpt2 {
            c.norm = .layer
            c.rotary = false
            c.gatedMLP = false
            c.activation = .geluTanh
            c.attentionBias = true
        } else {
            c.ropeTheta = Float(try k.double("rope.freq_base") ?? 10000)
            c.ropeDimensions = try k.int("rope.dimension_count") ?? headDim
            guard c.ropeDimensions >= 2, c.ropeDimensions <= headDim, c.ropeDimensions % 2 == 0 else {
                throw k.unsupported("rope.dimension_count", String(c.ropeDimensions), supported: "even, at most the head size \(headDim)")
            }
            if let a = try k.double("rope.scaling.attn_factor"), a != 1 { throw k.unsupported("rope.scaling.attn_factor", String(a), supported: "1") }
            _ = try k.int("rope.scaling.original_context_length") // read only by yarn, refused below
            let type = try k.string("rope.scaling.type") ?? "none"
            let factor = try k.double("rope.scaling.factor") ?? (try k.double("rope.scale_linear"))
            switch type {
            case "none":
                if let factor, factor != 1 { throw k.unsupported("rope.scaling.factor", String(factor), supported: "1 without a scaling type") }
            case "linear":
                // llama.cpp reads a missing or zero factor as no scaling.
                if let factor, factor != 0, factor != 1 {
                    guard factor > 0 else { throw k.unsupported("rope.scaling.factor", String(factor), supported: "a positive factor") }
                    c.ropeScaling = .linear(factor: factor)
                }
            default:
                throw k.unsupported("rope.scaling.type", type, supported: "none, linear")
            }
            if let info = file.info("rope_freqs.weight") {
                guard c.ropeScaling == nil else { throw k.unsupported("rope.scaling.type", type, supported: "none when rope_freqs.weight is present") }
                guard info.shape == [c.ropeDimensions / 2] else {
                    throw ModelError.badTensorShape(path: path, tensor: "rope_freqs.weight", expected: [c.ropeDimensions / 2], found: info.shape)
                }
                let factors = try file.tensor("rope_freqs.weight").data.map(Double.init)
                guard factors.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                    throw ModelError.corrupt(path: path, offset: 0, detail: "rope_freqs.weight holds a value that is not a positive number")
                }
                c.ropeScaling = .frequencyFactors(factors)
            }
        }
        switch family {
        case .llama, .mistral, .qwen2, .phi3:
            c.attentionBias = file.info("blk.0.attn_q.bias") != nil || file.info("blk.0.attn_qkv.bias") != nil
            if family != .qwen2, let window = try k.int("attention.sliding_window"), window > 0 {
                c.slidingWindows = Array(repeating: window, count: c.layers)
            }
        case .gemma, .gemma2:
            c.activation = .geluTanh
            c.embeddingScale = Float(Double(d).squareRoot())
            c.attentionBias = file.info("blk.0.attn_q.bias") != nil
            if family == .gemma2 {
                c.postNorms = true
                // GGUF does not store query_pre_attn_scalar; llama.cpp scales by
                // 1/√head size, except for Gemma 2 27B (46 blocks), 1/√(d / heads).
                c.attentionScale = Float(1 / Double(c.layers == 46 ? d / heads : headDim).squareRoot())
                guard let attnCap = try k.double("attn_logit_softcapping") else { throw ModelError.missingMetadata(path: path, key: "gemma2.attn_logit_softcapping") }
                guard let finalCap = try k.double("final_logit_softcapping") else { throw ModelError.missingMetadata(path: path, key: "gemma2.final_logit_softcapping") }
                c.attentionSoftcap = attnCap > 0 ? Float(attnCap) : nil
                c.finalSoftcap = finalCap > 0 ? Float(finalCap) : nil
                guard let window = try k.int("attention.sliding_window"), window > 0 else {
                    throw ModelError.missingMetadata(path: path, key: "gemma2.attention.sliding_window")
                }
                for l in 0 ..< c.layers where l % 2 == 0 { c.slidingWindows[l] = window }
            }
        case .gptNeoX:
            c.norm = .layer
            c.gatedMLP = false
            // GGUF does not say which GELU; Pythia was trained with the exact one.
            c.activation = .gelu
            c.attentionBias = true
            c.parallelResidual = try k.bool("use_parallel_residual") ?? true
        case .gpt2:
            break
        }
        try k.finish()
        let unpermute = family == .llama
        return (c, unpermute, 0)
    }
}
