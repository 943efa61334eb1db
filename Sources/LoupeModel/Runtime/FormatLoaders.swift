import Foundation

/// Reads a GGUF model: its config from `{arch}.*` metadata, its tokenizer
/// from `tokenizer.ggml.*`, and its tensors under llama.cpp's names.
enum GGUFLoader {
    static func load(path: String) throws -> LoadedParts {
        let file = try GGUFFile(path: path)
        let md = file.metadata
        func required(_ key: String) throws -> GGUFValue {
            guard let v = md[key] else { throw ModelError.missingMetadata(path: path, key: key) }
            return v
        }
        func int(_ key: String) throws -> Int {
            guard let v = try required(key).int else { throw ModelError.missingMetadata(path: path, key: key) }
            return v
        }
        guard let arch = md["general.architecture"]?.string else {
            throw ModelError.missingMetadata(path: path, key: "general.architecture")
        }
        let architecture: Architecture
        switch arch {
        case "llama", "qwen2", "mistral": architecture = .llama
        case "gpt2": architecture = .gpt2
        default: throw ModelError.unsupportedArchitecture(path: path, architecture: arch)
        }
        let d = try int("\(arch).embedding_length")
        let heads = try int("\(arch).attention.head_count")
        let embeddingShape = file.info("token_embd.weight")?.shape
        let vocab = md["\(arch).vocab_size"]?.int ?? embeddingShape?.first ?? md["tokenizer.ggml.tokens"]?.array?.count ?? 0
        let eps = md["\(arch).attention.layer_norm_rms_epsilon"]?.double ?? md["\(arch).attention.layer_norm_epsilon"]?.double ?? 1e-5
        let headDim = md["\(arch).attention.key_length"]?.int ?? d / heads
        let config = ModelConfig(
            architecture: architecture,
            layers: try int("\(arch).block_count"),
            dModel: d,
            heads: heads,
            kvHeads: md["\(arch).attention.head_count_kv"]?.int ?? heads,
            headDim: headDim,
            dMLP: try int("\(arch).feed_forward_length"),
            vocabularySize: vocab,
            contextLength: try int("\(arch).context_length"),
            normEpsilon: Float(eps),
            ropeTheta: Float(md["\(arch).rope.freq_base"]?.double ?? 10000),
            ropeDimensions: md["\(arch).rope.dimension_count"]?.int ?? headDim,
            tiedEmbeddings: file.info("output.weight") == nil,
            attentionBias: file.info("blk.0.attn_q.bias") != nil)
        try checkConfig(config, path: path)

        let tokenizer = try tokenizerFromGGUF(file)
        // llama.cpp permutes q/k rows for llama-type rotary (adjacent pairs);
        // qwen2 uses the NeoX (half-split) type and is stored unpermuted.
        let weights = try WeightLoader(source: file, config: config).weights(.gguf, unpermuteRotary: arch != "qwen2" && architecture == .llama)

        var metadata: [(String, String)] = [("gguf.version", String(file.version))]
        for key in file.metadataKeys { metadata.append((key, file.metadata[key]!.summary)) }
        return LoadedParts(
            format: .gguf,
            name: md["general.name"]?.string ?? (path as NSString).lastPathComponent,
            config: config,
            tokenizer: tokenizer,
            metadata: metadata,
            tensorTable: file.tensors.map { TensorSummary(name: $0.name, shape: $0.shape, type: $0.type.name) },
            weights: weights)
    }

    static func tokenizerFromGGUF(_ file: GGUFFile) throws -> Tokenizer {
        let md = file.metadata
        let path = file.path
        let kind = md["tokenizer.ggml.model"]?.string ?? "(none)"
        guard kind == "gpt2" else {
            throw ModelError.badTokenizer(path: path, detail: "tokenizer.ggml.model is '\(kind)'; only byte-level BPE ('gpt2') is supported")
        }
        guard let tokens = md["tokenizer.ggml.tokens"]?.array?.compactMap(\.string), !tokens.isEmpty else {
            throw ModelError.missingMetadata(path: path, key: "tokenizer.ggml.tokens")
        }
        let mergeStrings = md["tokenizer.ggml.merges"]?.array?.compactMap(\.string) ?? []
        var merges: [(String, String)] = []
        merges.reserveCapacity(mergeStrings.count)
        for (i, m) in mergeStrings.enumerated() {
            guard let space = m.firstIndex(of: " ") else {
                throw ModelError.badTokenizer(path: path, detail: "merge \(i) ('\(m)') is not two symbols separated by a space")
            }
            merges.append((String(m[..<space]), String(m[m.index(after: space)...])))
        }
        let preName = md["tokenizer.ggml.pre"]?.string ?? "default"
        guard let pre = PreTokenizer(ggufName: preName) else {
            throw ModelError.badTokenizer(path: path, detail: "pre-tokenizer '\(preName)' is not supported (supported: gpt2, smollm, llama3)")
        }
        // Token type 3 is "control" (and 4 "user defined"): matched in text only when special tokens are parsed.
        var specials: [String: Int] = [:]
        if let types = md["tokenizer.ggml.token_type"]?.array {
            for (i, t) in types.enumerated() where i < tokens.count && (t.int == 3 || t.int == 4) {
                specials[tokens[i]] = i
            }
        }
        return try Tokenizer(
            pieces: tokens, merges: merges, preTokenizer: pre, specialTokens: specials,
            bosId: md["tokenizer.ggml.bos_token_id"]?.int, eosId: md["tokenizer.ggml.eos_token_id"]?.int,
            ignoreMerges: pre == .llama3, source: path)
    }
}

/// Checks a configuration for values the runtime cannot work with.
func checkConfig(_ c: ModelConfig, path: String) throws {
    func bad(_ key: String, _ detail: String) -> ModelError {
        .corrupt(path: path, offset: 0, detail: "\(key) \(detail)")
    }
    guard c.layers > 0, c.layers < 1000 else { throw bad("block count", "is \(c.layers)") }
    guard c.dModel > 0, c.heads > 0, c.kvHeads > 0, c.heads % c.kvHeads == 0 else {
        throw bad("head counts", "are \(c.heads) query / \(c.kvHeads) key-value heads; the first must be a multiple of the second")
    }
    guard c.headDim > 0, c.headDim % 2 == 0 else { throw bad("head dimension", "is \(c.headDim); it must be even") }
    guard c.ropeDimensions > 0, c.ropeDimensions <= c.headDim, c.ropeDimensions % 2 == 0 else {
        throw bad("rope dimension count", "is \(c.ropeDimensions) for heads of \(c.headDim)")
    }
    guard c.vocabularySize > 0, c.contextLength > 0, c.dMLP > 0 else {
        throw bad("sizes", "are vocabulary \(c.vocabularySize), context \(c.contextLength), MLP \(c.dMLP)")
    }
}

/// Reads a Hugging Face checkpoint folder: `config.json`, `tokenizer.json`,
/// and `model.safetensors` or `model.safetensors.index.json` with its shards.
enum HuggingFaceLoader {
    static func load(folder: String, weightsFile: String? = nil) throws -> LoadedParts {
        let configPath = folder + "/config.json"
        let weightsPath = weightsFile ?? folder + "/model.safetensors"
        guard FileManager.default.fileExists(atPath: configPath) else {
            if let weightsFile { _ = try SafetensorsFile(path: weightsFile) } // a file that is not safetensors says so first
            throw ModelError.missingMetadata(path: folder, key: "config.json")
        }
        let json = try readJSON(configPath)
        let modelType = json["model_type"] as? String ?? "(none)"
        let architecture: Architecture
        switch modelType {
        case "llama", "qwen2", "mistral": architecture = .llama
        case "gpt2": architecture = .gpt2
        default: throw ModelError.unsupportedArchitecture(path: configPath, architecture: modelType)
        }
        func int(_ keys: String...) throws -> Int {
            for k in keys { if let v = json[k] as? Int { return v } }
            throw ModelError.missingMetadata(path: configPath, key: keys[0])
        }
        func double(_ keys: String..., default value: Double) -> Double {
            for k in keys { if let v = json[k] as? Double { return v } }
            return value
        }
        let d = try int("hidden_size", "n_embd")
        let heads = try int("num_attention_heads", "n_head")
        let headDim = (json["head_dim"] as? Int) ?? d / heads
        let ropeParameters = json["rope_parameters"] as? [String: Any]
        let theta = (json["rope_theta"] as? Double) ?? (ropeParameters?["rope_theta"] as? Double) ?? 10000
        let config = ModelConfig(
            architecture: architecture,
            layers: try int("num_hidden_layers", "n_layer"),
            dModel: d,
            heads: heads,
            kvHeads: (json["num_key_value_heads"] as? Int) ?? heads,
            headDim: headDim,
            dMLP: architecture == .gpt2 ? ((json["n_inner"] as? Int) ?? 4 * d) : try int("intermediate_size"),
            vocabularySize: try int("vocab_size"),
            contextLength: try int("max_position_embeddings", "n_positions", "n_ctx"),
            normEpsilon: Float(double("rms_norm_eps", "layer_norm_epsilon", default: 1e-5)),
            ropeTheta: Float(theta),
            ropeDimensions: headDim,
            tiedEmbeddings: (json["tie_word_embeddings"] as? Bool) ?? (architecture == .gpt2),
            attentionBias: (json["attention_bias"] as? Bool) ?? (modelType == "qwen2"))
        try checkConfig(config, path: configPath)
        if architecture == .gpt2, let act = json["activation_function"] as? String, act != "gelu_new", act != "gelu_pytorch_tanh" {
            throw ModelError.unsupportedArchitecture(path: configPath, architecture: "gpt2 with activation '\(act)' (supported: gelu_new)")
        }

        let source = try shards(folder: folder, weightsPath: weightsPath, explicit: weightsFile != nil)
        let scheme: NamingScheme
        switch architecture {
        case .llama: scheme = .huggingFaceLlama
        case .gpt2: scheme = .huggingFaceGPT2(prefix: source.has("transformer.wte.weight") ? "transformer." : "")
        }
        var loadConfig = config
        // A checkpoint that says "untied" but ships no lm_head is tied in practice.
        if !config.tiedEmbeddings, !source.has(scheme.name(.unembedding)) { loadConfig.tiedEmbeddings = true }
        let weights = try WeightLoader(source: source, config: loadConfig).weights(scheme, unpermuteRotary: false)
        let tokenizer = try tokenizerFromJSON(folder: folder, modelConfig: json)

        var metadata: [(String, String)] = []
        for (k, v) in json.sorted(by: { $0.key < $1.key }) { metadata.append((k, "\(v)")) }
        let table = source.files.flatMap { f in f.tensors.map { TensorSummary(name: $0.name, shape: $0.shape, type: $0.dtype) } }
        return LoadedParts(
            format: .safetensors,
            name: (json["_name_or_path"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? (folder as NSString).lastPathComponent,
            config: loadConfig, tokenizer: tokenizer, metadata: metadata,
            tensorTable: table.sorted { $0.name < $1.name }, weights: weights)
    }

    private static func shards(folder: String, weightsPath: String, explicit: Bool) throws -> SafetensorsShards {
        let indexPath = folder + "/model.safetensors.index.json"
        if !explicit, !FileManager.default.fileExists(atPath: weightsPath), FileManager.default.fileExists(atPath: indexPath) {
            let index = try readJSON(indexPath)
            guard let map = index["weight_map"] as? [String: String] else {
                throw ModelError.missingMetadata(path: indexPath, key: "weight_map")
            }
            let files = try Set(map.values).sorted().map { try SafetensorsFile(path: folder + "/" + $0) }
            return SafetensorsShards(path: folder, files: files)
        }
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw ModelError.fileNotFound(path: weightsPath)
        }
        return SafetensorsShards(path: weightsPath, files: [try SafetensorsFile(path: weightsPath)])
    }

    static func readJSON(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ModelError.fileNotFound(path: path) }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelError.corrupt(path: path, offset: 0, detail: "not a JSON object")
        }
        return json
    }

    /// A byte-level BPE tokenizer from `tokenizer.json`.
    static func tokenizerFromJSON(folder: String, modelConfig: [String: Any]) throws -> Tokenizer {
        let path = folder + "/tokenizer.json"
        guard FileManager.default.fileExists(atPath: path) else { throw ModelError.missingMetadata(path: folder, key: "tokenizer.json") }
        let json = try readJSON(path)
        guard let model = json["model"] as? [String: Any], (model["type"] as? String ?? "BPE") == "BPE",
              let vocab = model["vocab"] as? [String: Int]
        else {
            throw ModelError.badTokenizer(path: path, detail: "model is not a BPE vocabulary")
        }
        var added: [(String, Int, Bool)] = []
        for entry in json["added_tokens"] as? [[String: Any]] ?? [] {
            if let content = entry["content"] as? String, let id = entry["id"] as? Int {
                added.append((content, id, entry["special"] as? Bool ?? false))
            }
        }
        let size = max((vocab.values.max() ?? -1) + 1, (added.map(\.1).max() ?? -1) + 1)
        var pieces = [String](repeating: "", count: size)
        for (p, id) in vocab where id >= 0 { pieces[id] = p }
        for (p, id, _) in added where id >= 0 { pieces[id] = p }

        var merges: [(String, String)] = []
        for (i, m) in (model["merges"] as? [Any] ?? []).enumerated() {
            if let s = m as? String, let space = s.firstIndex(of: " ") {
                merges.append((String(s[..<space]), String(s[s.index(after: space)...])))
            } else if let pair = m as? [String], pair.count == 2 {
                merges.append((pair[0], pair[1]))
            } else {
                throw ModelError.badTokenizer(path: path, detail: "merge \(i) is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }
        let pre = try preTokenizer(json["pre_tokenizer"] as? [String: Any], path: path)
        var specials: [String: Int] = [:]
        for (p, id, special) in added where special { specials[p] = id }

        // BOS: tokenizer_config.json's bos_token, else config.json's bos_token_id.
        var bos = modelConfig["bos_token_id"] as? Int
        var eos = modelConfig["eos_token_id"] as? Int
        if let tc = try? readJSON(folder + "/tokenizer_config.json") {
            if let b = tc["bos_token"] as? String, let id = vocab[b] ?? specials[b] { bos = id }
            if let e = tc["eos_token"] as? String, let id = vocab[e] ?? specials[e] { eos = id }
        }
        return try Tokenizer(pieces: pieces, merges: merges, preTokenizer: pre, specialTokens: specials,
                             bosId: bos, eosId: eos, ignoreMerges: model["ignore_merges"] as? Bool ?? false, source: path)
    }

    /// Recognises the pre-tokenizers Loupe implements from their JSON description.
    static func preTokenizer(_ spec: [String: Any]?, path: String) throws -> PreTokenizer {
        guard let spec else { return .gpt2 }
        let type = spec["type"] as? String ?? ""
        switch type {
        case "ByteLevel":
            return .gpt2
        case "Sequence":
            let steps = spec["pretokenizers"] as? [[String: Any]] ?? []
            let splitsDigits = steps.contains { ($0["type"] as? String) == "Digits" && ($0["individual_digits"] as? Bool ?? false) }
            let patterns = steps.compactMap { ($0["pattern"] as? [String: Any])?["Regex"] as? String }
            if patterns.contains(where: { $0.contains("\\p{N}{1,3}") }) { return .llama3 }
            if splitsDigits { return .smollm }
            if steps.contains(where: { ($0["type"] as? String) == "ByteLevel" }) { return .gpt2 }
        default:
            break
        }
        throw ModelError.badTokenizer(path: path, detail: "pre-tokenizer '\(type)' is not one Loupe implements (gpt2, smollm, llama3)")
    }
}
