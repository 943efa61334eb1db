import Foundation

// Every configuration field a model file carries is either read here (and
// its value implemented or refused) or listed as not changing the forward
// pass. Anything else is an error naming it: a field Loupe has never heard
// of may change the computation, and a figure drawn from a model computed
// without it would look right and be wrong.

/// The one table of what each family reads from config.json.
enum ConfigFields {
    /// Fields that exist in many Hugging Face configs and do not change the
    /// forward pass of a causal language model at inference (dropout,
    /// generation defaults, bookkeeping, task heads Loupe does not use).
    static let inert: Set<String> = [
        "architectures", "transformers_version", "_name_or_path", "torch_dtype", "dtype", "use_cache",
        "initializer_range", "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id",
        "decoder_start_token_id", "return_dict", "output_hidden_states", "output_attentions", "torchscript",
        "chunk_size_feed_forward", "is_encoder_decoder", "is_decoder", "id2label", "label2id", "problem_type",
        "task_specific_params", "tokenizer_class", "prefix", "finetuning_task", "attention_dropout",
        "hidden_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop", "classifier_dropout", "summary_type",
        "summary_use_proj", "summary_activation", "summary_proj_to_labels", "summary_first_dropout",
        "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups",
        "temperature", "top_k", "top_p", "typical_p", "repetition_penalty", "length_penalty",
        "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "num_return_sequences", "bad_words_ids",
        "diversity_penalty", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
        "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "output_scores",
        "return_dict_in_generate", "tf_legacy_loss", "use_bfloat16", "tie_encoder_decoder",
        "cross_attention_hidden_size", "cache_implementation", "auto_map", "use_return_dict",
        "_attn_implementation", "_attn_implementation_autoset", "model_type",
    ]

    /// Per family, the fields the loader reads. `JSONFields` refuses to read
    /// a field that is not listed for the family, so this table cannot drift
    /// from the code.
    static let read: [Family: Set<String>] = {
        let decoder: Set<String> = [
            "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
            "intermediate_size", "vocab_size", "max_position_embeddings", "tie_word_embeddings",
            "rope_theta", "rope_scaling", "rope_parameters", "partial_rotary_factor", "quantization_config",
            "pruned_heads", "add_cross_attention",
        ]
        return [
            .llama: decoder.union(["rms_norm_eps", "hidden_act", "attention_bias", "mlp_bias", "pretraining_tp"]),
            .mistral: decoder.union(["rms_norm_eps", "hidden_act", "sliding_window", "layer_types"]),
            .qwen2: decoder.union(["rms_norm_eps", "hidden_act", "sliding_window", "use_sliding_window",
                                   "max_window_layers", "layer_types", "attention_bias"]),
            .phi3: decoder.union(["rms_norm_eps", "hidden_act", "sliding_window", "layer_types",
                                  "original_max_position_embeddings"]),
            .gemma: decoder.union(["rms_norm_eps", "hidden_act", "hidden_activation", "attention_bias",
                                   "use_bidirectional_attention"]),
            .gemma2: decoder.union(["rms_norm_eps", "hidden_act", "hidden_activation", "attention_bias",
                                    "query_pre_attn_scalar", "sliding_window", "layer_types",
                                    "attn_logit_softcapping", "final_logit_softcapping",
                                    "use_bidirectional_attention"]),
            .gptNeoX: decoder.subtracting(["num_key_value_heads", "head_dim"]).union(["layer_norm_eps", "hidden_act", "use_parallel_residual", "attention_bias",
                                     "rotary_pct", "rotary_emb_base"]),
            .gpt2: ["n_embd", "n_layer", "n_head", "n_inner", "n_positions", "n_ctx", "vocab_size",
                    "layer_norm_epsilon", "activation_function", "tie_word_embeddings", "scale_attn_weights",
                    "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "quantization_config",
                    "pruned_heads", "add_cross_attention"],
        ]
    }()

    /// The keys inside a rotary parameters object (`rope_scaling` or `rope_parameters`).
    static let rotaryKeys: Set<String> = [
        "rope_type", "type", "rope_theta", "factor", "low_freq_factor", "high_freq_factor",
        "original_max_position_embeddings", "partial_rotary_factor",
    ]
}

/// A value from a file, shown in a message: escaped, on one line, and cut.
func quoted(_ value: Any) -> String {
    let raw: String
    switch value {
    case let s as String: raw = "'" + s + "'"
    case is NSNull: raw = "null"
    case let n as NSNumber: raw = String(cString: n.objCType) == "c" ? (n.boolValue ? "true" : "false") : "\(n)"
    default:
        if let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) {
            raw = String(decoding: data, as: UTF8.self)
        } else {
            raw = "\(value)"
        }
    }
    return printable(raw, limit: 200)
}

/// Reads config.json fields by type, tracking which were read, so that the
/// rest can be checked against the table.
final class JSONFields {
    let path: String
    let family: Family
    private let json: [String: Any]
    private(set) var consumed: Set<String> = []

    init(_ json: [String: Any], family: Family, path: String) {
        self.json = json
        self.family = family
        self.path = path
    }

    /// The raw value, nil when absent or null.
    func value(_ key: String) throws -> Any? {
        guard ConfigFields.read[family]?.contains(key) == true else {
            throw ModelError.internalInconsistency("config field '\(key)' is read for \(family.rawValue) but not in its table")
        }
        consumed.insert(key)
        guard let v = json[key], !(v is NSNull) else { return nil }
        return v
    }

    func present(_ key: String) -> Bool { json[key].map { !($0 is NSNull) } ?? false }

    private func typed<T>(_ key: String, _ expected: String, _ convert: (Any) -> T?) throws -> T? {
        guard let v = try value(key) else { return nil }
        guard let t = convert(v) else { throw ModelError.badField(path: path, field: key, expected: expected, found: quoted(v)) }
        return t
    }

    func int(_ key: String) throws -> Int? { try typed(key, "an integer", JSONFields.asInt) }
    func double(_ key: String) throws -> Double? { try typed(key, "a number", JSONFields.asDouble) }
    func bool(_ key: String) throws -> Bool? { try typed(key, "true or false", JSONFields.asBool) }
    func string(_ key: String) throws -> String? { try typed(key, "a string", { $0 as? String }) }
    func object(_ key: String) throws -> [String: Any]? { try typed(key, "an object", { $0 as? [String: Any] }) }
    func strings(_ key: String) throws -> [String]? {
        try typed(key, "a list of strings", { ($0 as? [Any])?.allSatisfy { $0 is String } == true ? $0 as? [String] : nil })
    }

    /// The first of `keys` present, which must be an integer.
    func need(_ keys: String...) throws -> Int {
        for k in keys { if let v = try int(k) { return v } }
        throw ModelError.missingMetadata(path: path, key: keys[0])
    }

    static func asInt(_ v: Any) -> Int? {
        guard let n = v as? NSNumber else { return nil }
        let kind = String(cString: n.objCType)
        guard ["i", "q", "l", "s"].contains(kind) else { return nil }
        return n.intValue
    }

    static func asDouble(_ v: Any) -> Double? {
        guard let n = v as? NSNumber, String(cString: n.objCType) != "c" else { return nil }
        return n.doubleValue
    }

    static func asBool(_ v: Any) -> Bool? {
        guard let n = v as? NSNumber, String(cString: n.objCType) == "c" else { return nil }
        return n.boolValue
    }

    /// Throws for the first field that is neither read nor inert.
    func finish() throws {
        for key in json.keys.sorted() where !consumed.contains(key) && !ConfigFields.inert.contains(key) {
            throw ModelError.unknownField(path: path, field: key, value: quoted(json[key] ?? NSNull()), family: family.rawValue)
        }
    }

    /// A setting whose value Loupe does not implement.
    func unsupported(_ field: String, _ value: Any, supported: String) -> ModelError {
        .unsupportedSetting(path: path, field: field, value: quoted(value), supported: supported)
    }
}

extension ModelConfig {
    /// A configuration from a Hugging Face config.json, each field checked.
    static func fromHuggingFace(_ json: [String: Any], path: String) throws -> ModelConfig {
        guard let typeValue = json["model_type"] else { throw ModelError.missingMetadata(path: path, key: "model_type") }
        guard let modelType = typeValue as? String else {
            throw ModelError.badField(path: path, field: "model_type", expected: "a string", found: quoted(typeValue))
        }
        guard let family = Family(rawValue: modelType) else {
            throw ModelError.unsupportedArchitecture(path: path, architecture: printable(modelType, limit: 80))
        }
        let f = JSONFields(json, family: family, path: path)
        if let q = try f.value("quantization_config") {
            throw f.unsupported("quantization_config", q, supported: "unquantized float weights, or a GGUF file")
        }
        if let pruned = try f.value("pruned_heads"), !((pruned as? [String: Any])?.isEmpty ?? false) {
            throw f.unsupported("pruned_heads", pruned, supported: "none")
        }
        if try f.bool("add_cross_attention") == true { throw f.unsupported("add_cross_attention", true, supported: "false") }

        var c: ModelConfig
        if family == .gpt2 {
            c = try gpt2(f)
        } else {
            let d = try f.need("hidden_size"), heads = try f.need("num_attention_heads")
            guard heads > 0 else { throw f.unsupported("num_attention_heads", heads, supported: "at least 1") }
            let layers = try f.need("num_hidden_layers")
            let eps = try f.double(family == .gptNeoX ? "layer_norm_eps" : "rms_norm_eps") ?? (family == .gptNeoX ? 1e-5 : 1e-6)
            c = ModelConfig(
                family: family, layers: layers, dModel: d, heads: heads,
                kvHeads: family == .gptNeoX ? heads : try f.int("num_key_value_heads") ?? heads,
                headDim: family == .gptNeoX ? d / heads : try f.int("head_dim") ?? d / heads,
                dMLP: try f.need("intermediate_size"),
                vocabularySize: try f.need("vocab_size"),
                contextLength: try f.need("max_position_embeddings"),
                normEpsilon: Float(eps))
            try checkSizes(c, path: path)
            c.tiedEmbeddings = try f.bool("tie_word_embeddings") ?? (family == .gemma || family == .gemma2)
            try readRotary(f, into: &c)
            try readFamily(f, into: &c)
        }
        try f.finish()
        return c
    }

    private static func gpt2(_ f: JSONFields) throws -> ModelConfig {
        let d = try f.need("n_embd"), heads = try f.need("n_head")
        guard heads > 0 else { throw f.unsupported("n_head", heads, supported: "at least 1") }
        let positions = try f.need("n_positions", "n_ctx")
        if let ctx = try f.int("n_ctx"), ctx != positions { throw f.unsupported("n_ctx", ctx, supported: "equal to n_positions (\(positions))") }
        var c = ModelConfig(family: .gpt2, layers: try f.need("n_layer"), dModel: d, heads: heads, kvHeads: heads,
                            headDim: d / heads, dMLP: try f.int("n_inner") ?? 4 * min(d, 1 << 40), // checkSizes refuses a d that large
                            vocabularySize: try f.need("vocab_size"), contextLength: positions,
                            normEpsilon: Float(try f.double("layer_norm_epsilon") ?? 1e-5))
        try checkSizes(c, path: f.path)
        c.norm = .layer
        c.rotary = false
        c.gatedMLP = false
        c.activation = .geluTanh
        c.attentionBias = true
        c.tiedEmbeddings = try f.bool("tie_word_embeddings") ?? true
        if let act = try f.string("activation_function"), act != "gelu_new", act != "gelu_pytorch_tanh" {
            throw f.unsupported("activation_function", act, supported: "gelu_new, gelu_pytorch_tanh")
        }
        if try f.bool("scale_attn_weights") == false { throw f.unsupported("scale_attn_weights", false, supported: "true") }
        if try f.bool("scale_attn_by_inverse_layer_idx") == true {
            throw f.unsupported("scale_attn_by_inverse_layer_idx", true, supported: "false")
        }
        _ = try f.bool("reorder_and_upcast_attn") // a float32 upcast only: Loupe computes in float32 throughout
        return c
    }

    /// Rotary base, rotated fraction and scaling, from the current form
    /// (`rope_parameters`) or the older one (`rope_theta`, `rope_scaling`,
    /// GPT-NeoX's `rotary_emb_base` and `rotary_pct`). Values given twice must agree.
    private static func readRotary(_ f: JSONFields, into c: inout ModelConfig) throws {
        var theta: [(String, Double)] = [], fraction: [(String, Double)] = []
        if let t = try f.double("rope_theta") { theta.append(("rope_theta", t)) }
        if let p = try f.double("partial_rotary_factor") { fraction.append(("partial_rotary_factor", p)) }
        if c.family == .gptNeoX {
            if let t = try f.double("rotary_emb_base") { theta.append(("rotary_emb_base", t)) }
            if let p = try f.double("rotary_pct") { fraction.append(("rotary_pct", p)) }
        }
        var scaling: [(String, [String: Any])] = []
        for key in ["rope_parameters", "rope_scaling"] {
            guard let p = try f.object(key) else { continue }
            for k in p.keys.sorted() where !ConfigFields.rotaryKeys.contains(k) {
                throw f.unsupported("\(key).\(k)", p[k] ?? NSNull(), supported: "no such field (known: \(ConfigFields.rotaryKeys.sorted().joined(separator: ", ")))")
            }
            if let t = p["rope_theta"] {
                guard let v = JSONFields.asDouble(t) else { throw ModelError.badField(path: f.path, field: "\(key).rope_theta", expected: "a number", found: quoted(t)) }
                theta.append(("\(key).rope_theta", v))
            }
            if let t = p["partial_rotary_factor"] {
                guard let v = JSONFields.asDouble(t) else { throw ModelError.badField(path: f.path, field: "\(key).partial_rotary_factor", expected: "a number", found: quoted(t)) }
                fraction.append(("\(key).partial_rotary_factor", v))
            }
            scaling.append((key, p))
        }
        func agreed(_ values: [(String, Double)], _ name: String) throws -> Double? {
            guard let first = values.first else { return nil }
            if let other = values.first(where: { abs($0.1 - first.1) > 1e-9 * abs(first.1) }) {
                throw f.unsupported(other.0, other.1, supported: "the same \(name) as \(first.0) (\(first.1))")
            }
            return first.1
        }
        let base = try agreed(theta, "rotary base") ?? 10000
        guard base > 1, base.isFinite else { throw f.unsupported(theta.first?.0 ?? "rope_theta", base, supported: "a finite base above 1") }
        c.ropeTheta = Float(base)
        let frac = try agreed(fraction, "rotated fraction") ?? (c.family == .gptNeoX ? 0.25 : 1)
        guard frac > 0, frac <= 1 else { throw f.unsupported(fraction.first?.0 ?? "partial_rotary_factor", frac, supported: "a fraction in (0, 1]") }
        // As transformers computes it: int(head_dim × fraction).
        c.ropeDimensions = Int(Double(c.headDim) * frac)

        var kinds: [(String, RotaryScaling?)] = []
        for (key, p) in scaling {
            let typeValue = p["rope_type"] ?? p["type"] ?? "default"
            guard let type = typeValue as? String else {
                throw ModelError.badField(path: f.path, field: "\(key).rope_type", expected: "a string", found: quoted(typeValue))
            }
            func number(_ name: String, default value: Double? = nil) throws -> Double {
                guard let raw = p[name] else {
                    if let value { return value }
                    throw ModelError.missingMetadata(path: f.path, key: "\(key).\(name)")
                }
                guard let v = JSONFields.asDouble(raw), v.isFinite else {
                    throw ModelError.badField(path: f.path, field: "\(key).\(name)", expected: "a finite number", found: quoted(raw))
                }
                return v
            }
            let unused: Set<String>
            switch type {
            case "default":
                kinds.append((key, nil))
                unused = ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"]
            case "linear":
                let factor = try number("factor")
                guard factor > 0 else { throw f.unsupported("\(key).factor", factor, supported: "a positive factor") }
                kinds.append((key, .linear(factor: factor)))
                unused = ["low_freq_factor", "high_freq_factor", "original_max_position_embeddings"]
            case "llama3":
                let factor = try number("factor"), low = try number("low_freq_factor"), high = try number("high_freq_factor")
                let original = try number("original_max_position_embeddings")
                guard factor > 0, low > 0, high > low, original >= 1, original == original.rounded() else {
                    throw f.unsupported("\(key)", p, supported: "factor > 0, 0 < low_freq_factor < high_freq_factor, an integer original_max_position_embeddings")
                }
                kinds.append((key, .llama3(factor: factor, lowFrequencyFactor: low, highFrequencyFactor: high, originalContext: Int(original))))
                unused = []
            default:
                throw f.unsupported("\(key) type", type, supported: "default, linear, llama3")
            }
            if let extra = unused.sorted().first(where: { p[$0] != nil && !(p[$0] is NSNull) }) {
                throw f.unsupported("\(key).\(extra)", p[extra]!, supported: "absent for rope type '\(shown(type))'")
            }
        }
        if let first = kinds.first, let other = kinds.first(where: { $0.1 != first.1 }) {
            throw f.unsupported(other.0, scaling.first { $0.0 == other.0 }!.1, supported: "the same rotary scaling as \(first.0)")
        }
        c.ropeScaling = kinds.first?.1 ?? nil
        if c.ropeScaling != nil, c.family == .phi3 {
            // Phi-3's scaled variants use longrope, which transformers reads with original_max_position_embeddings.
            throw f.unsupported("rope_scaling", scaling.first!.1, supported: "none for phi3")
        }
    }

    /// What differs from a llama block, per family.
    private static func readFamily(_ f: JSONFields, into c: inout ModelConfig) throws {
        func activation(_ key: String, allowed: [String: Activation]) throws -> Activation? {
            guard let name = try f.string(key) else { return nil }
            guard let a = allowed[name] else {
                throw f.unsupported(key, name, supported: allowed.keys.sorted().joined(separator: ", "))
            }
            return a
        }
        let silu = ["silu": Activation.silu, "swish": .silu]
        let gelus = ["gelu": Activation.gelu, "gelu_new": .geluTanh, "gelu_pytorch_tanh": .geluTanh]
        func windows(all window: Int?) throws {
            guard let window else { return }
            guard window > 0 else { throw f.unsupported("sliding_window", window, supported: "a positive window or null") }
            c.slidingWindows = Array(repeating: window, count: c.layers)
        }
        /// `layer_types` (transformers ≥ 4.53 writes it) names each block's attention.
        func layerTypes(window: Int?) throws -> Bool {
            guard let types = try f.strings("layer_types") else { return false }
            guard types.count == c.layers else {
                throw f.unsupported("layer_types", types, supported: "one entry per block (\(c.layers))")
            }
            for (l, t) in types.enumerated() {
                switch t {
                case "full_attention": c.slidingWindows[l] = nil
                case "sliding_attention":
                    guard let window, window > 0 else {
                        throw f.unsupported("layer_types[\(l)]", t, supported: "full_attention when sliding_window is not set")
                    }
                    c.slidingWindows[l] = window
                default: throw f.unsupported("layer_types[\(l)]", t, supported: "full_attention, sliding_attention")
                }
            }
            return true
        }

        switch c.family {
        case .llama, .mistral, .qwen2, .phi3:
            c.activation = try activation("hidden_act", allowed: silu) ?? .silu
            if c.family == .llama {
                c.attentionBias = try f.bool("attention_bias") ?? false
                if try f.bool("mlp_bias") == true { throw f.unsupported("mlp_bias", true, supported: "false") }
                // Splitting the products into slices gives the same result.
                if let tp = try f.int("pretraining_tp"), tp < 1 { throw f.unsupported("pretraining_tp", tp, supported: "1 or more") }
            }
            if c.family == .qwen2 {
                c.attentionBias = try f.bool("attention_bias") ?? true
                guard c.attentionBias else { throw f.unsupported("attention_bias", false, supported: "true (qwen2's q/k/v have biases)") }
                let window = try f.int("sliding_window")
                let use = try f.bool("use_sliding_window") ?? false
                let from = try f.int("max_window_layers") ?? c.layers
                if try !layerTypes(window: use ? window : nil), use {
                    guard let window, window > 0 else { throw f.unsupported("sliding_window", window as Any, supported: "a positive window when use_sliding_window is true") }
                    for l in 0 ..< c.layers where l >= from { c.slidingWindows[l] = window }
                }
            }
            if c.family == .mistral || c.family == .phi3 {
                let window = try f.int("sliding_window")
                if try !layerTypes(window: window) { try windows(all: window) }
            }
            if c.family == .phi3 { _ = try f.int("original_max_position_embeddings") } // read only by longrope, refused above
        case .gemma, .gemma2:
            let act = try activation("hidden_activation", allowed: gelus)
            let legacy = try activation("hidden_act", allowed: gelus)
            if c.family == .gemma2 {
                c.activation = act ?? legacy ?? .geluTanh
            } else {
                // transformers' Gemma reads hidden_act.
                c.activation = legacy ?? .geluTanh
            }
            if let act, let legacy, act != legacy {
                throw f.unsupported("hidden_act", legacy.rawValue, supported: "the same as hidden_activation (\(act.rawValue))")
            }
            c.attentionBias = try f.bool("attention_bias") ?? false
            if try f.bool("use_bidirectional_attention") == true {
                throw f.unsupported("use_bidirectional_attention", true, supported: "false (causal attention)")
            }
            c.embeddingScale = Float(Double(c.dModel).squareRoot())
            if c.family == .gemma2 {
                c.postNorms = true
                let scalar = try f.double("query_pre_attn_scalar") ?? Double(c.headDim)
                guard scalar > 0 else { throw f.unsupported("query_pre_attn_scalar", scalar, supported: "a positive number") }
                c.attentionScale = Float(1 / scalar.squareRoot())
                for key in ["attn_logit_softcapping", "final_logit_softcapping"] {
                    if let cap = try f.double(key), !(cap > 0 && cap.isFinite) { throw f.unsupported(key, cap, supported: "a positive number or null") }
                }
                c.attentionSoftcap = try f.double("attn_logit_softcapping").map(Float.init)
                c.finalSoftcap = try f.double("final_logit_softcapping").map(Float.init)
                let window = try f.int("sliding_window")
                if try !layerTypes(window: window), let window {
                    guard window > 0 else { throw f.unsupported("sliding_window", window, supported: "a positive window") }
                    // Gemma 2's default pattern: even blocks slide, odd blocks see everything.
                    for l in 0 ..< c.layers where l % 2 == 0 { c.slidingWindows[l] = window }
                }
            }
        case .gptNeoX:
            c.norm = .layer
            c.gatedMLP = false
            c.activation = try activation("hidden_act", allowed: gelus) ?? .gelu
            c.attentionBias = try f.bool("attention_bias") ?? true
            guard c.attentionBias else { throw f.unsupported("attention_bias", false, supported: "true") }
            c.parallelResidual = try f.bool("use_parallel_residual") ?? true
        case .gpt2:
            break
        }
        if c.ropeDimensions < 2 || c.ropeDimensions % 2 != 0 {
            throw f.unsupported("partial_rotary_factor", Double(c.ropeDimensions) / Double(c.headDim), supported: "a fraction giving an even number of rotated dimensions (head size \(c.headDim))")
        }
    }
}

/// Checks sizes before anything is allocated from them.
func checkSizes(_ c: ModelConfig, path: String) throws {
    func bad(_ what: String, _ value: Int, _ range: String) -> ModelError {
        .corrupt(path: path, offset: 0, detail: "\(what) is \(value); it must be \(range)")
    }
    let limit = 1 << 20
    guard (1 ... 1000).contains(c.layers) else { throw bad("the block count", c.layers, "between 1 and 1000") }
    guard (1 ... limit).contains(c.dModel) else { throw bad("the model width", c.dModel, "between 1 and \(limit)") }
    guard (1 ... 4096).contains(c.heads) else { throw bad("the query head count", c.heads, "between 1 and 4096") }
    guard (1 ... c.heads).contains(c.kvHeads), c.heads % c.kvHeads == 0 else {
        throw bad("the key-value head count", c.kvHeads, "a divisor of the \(c.heads) query heads")
    }
    guard (2 ... 65536).contains(c.headDim), c.headDim % 2 == 0 else { throw bad("the head size", c.headDim, "even, between 2 and 65536") }
    guard (1 ... 1 << 22).contains(c.dMLP) else { throw bad("the MLP width", c.dMLP, "between 1 and \(1 << 22)") }
    guard (1 ... 1 << 24).contains(c.vocabularySize) else { throw bad("the vocabulary size", c.vocabularySize, "between 1 and \(1 << 24)") }
    guard (1 ... 1 << 24).contains(c.contextLength) else { throw bad("the context length", c.contextLength, "between 1 and \(1 << 24)") }
}
