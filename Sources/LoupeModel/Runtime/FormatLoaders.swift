import Foundation

/// Reads a GGUF model: its config from `{arch}.*` metadata, its tokenizer
/// from `tokenizer.ggml.*`, and its tensors under llama.cpp's names.
enum GGUFLoader {
    static func load(path: String) throws -> LoadedParts {
        let file = try GGUFFile(path: path)
        let md = file.metadata
        let (config, unpermute, normOffset) = try ModelConfig.fromGGUF(file)
        let tokenizer = try tokenizerFromGGUF(file)
        let loader = WeightLoader(source: file, config: config)
        if case .frequencyFactors = config.ropeScaling { loader.skip("rope_freqs.weight") }
        let weights = try loader.weights(.gguf, unpermuteRotary: unpermute, normOffset: normOffset)

        var metadata: [(String, String)] = [("gguf.version", String(file.version))]
        for key in file.metadataKeys { metadata.append((printable(key, limit: 200), file.metadata[key]!.summary)) }
        return LoadedParts(
            format: .gguf,
            name: md["general.name"]?.string.map { printable($0, limit: 200) } ?? (path as NSString).lastPathComponent,
            config: config,
            tokenizer: tokenizer,
            metadata: metadata,
            tensorTable: file.tensors.map { TensorSummary(name: $0.name, shape: $0.shape, type: $0.type.name) },
            weights: weights)
    }

    static func tokenizerFromGGUF(_ file: GGUFFile) throws -> Tokenizer {
        let md = file.metadata
        let path = file.path
        // A key that is there with the wrong type is an error naming it, not a missing or default value.
        func typed<T>(_ key: String, _ expected: String, _ read: (GGUFValue) -> T?) throws -> T? {
            guard let v = md[key] else { return nil }
            guard let t = read(v) else { throw ModelError.badField(path: path, field: key, expected: expected, found: printable(v.summary, limit: 200)) }
            return t
        }
        func strings(_ v: GGUFValue) -> [String]? {
            guard let a = v.array else { return nil }
            let s = a.compactMap(\.string)
            return s.count == a.count ? s : nil
        }
        let kind = try typed("tokenizer.ggml.model", "a string", \.string) ?? "(none)"
        guard kind == "gpt2" else {
            throw ModelError.badTokenizer(path: path, detail: "tokenizer.ggml.model is '\(shown(kind))'; only byte-level BPE ('gpt2') is supported")
        }
        guard let tokens = try typed("tokenizer.ggml.tokens", "an array of strings", strings), !tokens.isEmpty else {
            throw ModelError.missingMetadata(path: path, key: "tokenizer.ggml.tokens")
        }
        let mergeStrings = try typed("tokenizer.ggml.merges", "an array of strings", strings) ?? []
        var merges: [(String, String)] = []
        merges.reserveCapacity(mergeStrings.count)
        for (i, m) in mergeStrings.enumerated() {
            guard let space = m.firstIndex(of: " ") else {
                throw ModelError.badTokenizer(path: path, detail: "merge \(i) ('\(shown(m))') is not two symbols separated by a space")
            }
            merges.append((String(m[..<space]), String(m[m.index(after: space)...])))
        }
        let preName = try typed("tokenizer.ggml.pre", "a string", \.string) ?? "default"
        guard let pre = PreTokenizer(ggufName: preName) else {
            throw ModelError.badTokenizer(path: path, detail: "pre-tokenizer '\(shown(preName))' is not supported (supported: gpt2, smollm, llama-bpe, qwen2)")
        }
        let bos = try typed("tokenizer.ggml.bos_token_id", "an integer", \.int)
        let eos = try typed("tokenizer.ggml.eos_token_id", "an integer", \.int)
        // Token type 3 is "control" (and 4 "user defined"): matched in text only when special tokens are parsed.
        var specials: [String: Int] = [:]
        if let types = try typed("tokenizer.ggml.token_type", "an array of integers", { $0.array }) {
            for (i, t) in types.enumerated() where i < tokens.count && (t.int == 3 || t.int == 4) {
                specials[tokens[i]] = i
            }
        }
        return try Tokenizer(
            pieces: tokens, merges: merges, preTokenizer: pre, specialTokens: specials,
            bosId: bos, eosId: eos,
            ignoreMerges: pre == .llama3, source: path)
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
        let config = try ModelConfig.fromHuggingFace(json, path: configPath)
        let source = try shards(folder: folder, weightsPath: weightsPath, explicit: weightsFile != nil)
        let scheme: NamingScheme = switch config.family {
        case .gpt2: .huggingFaceGPT2(prefix: source.has("transformer.wte.weight") ? "transformer." : "")
        case .gptNeoX: .huggingFaceNeoX
        default: .huggingFace(config.family)
        }
        var loadConfig = config
        let unembeddingName = scheme.name(.unembedding) ?? ""
        // A gpt2 checkpoint that says "untied" but ships no lm_head is tied in
        // practice (the original OpenAI checkpoints); other families must ship it.
        if config.family == .gpt2, !config.tiedEmbeddings, !source.has(unembeddingName) { loadConfig.tiedEmbeddings = true }
        let loader = WeightLoader(source: source, config: loadConfig)
        // Tied: transformers replaces a stored lm_head by the embeddings, and so does Loupe.
        if loadConfig.tiedEmbeddings { loader.skip(unembeddingName) }
        let normOffset: Float = config.family == .gemma || config.family == .gemma2 ? 1 : 0
        let weights = try loader.weights(scheme, unpermuteRotary: false, normOffset: normOffset)
        let tokenizer = try tokenizerFromJSON(folder: folder, modelConfig: json)

        var metadata: [(String, String)] = []
        for (k, v) in json.sorted(by: { $0.key < $1.key }) { metadata.append((printable(k, limit: 200), quoted(v))) }
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
        let data: Data
        do throws(FileProblem) { data = try InputFile.read(path) } catch {
            throw error.reason == "no such file" ? ModelError.fileNotFound(path: path) : ModelError.unreadable(path: path, reason: error.reason)
        }
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
                // These change where an added token matches; Loupe matches the text exactly.
                for flag in ["lstrip", "rstrip", "single_word"] where entry[flag] as? Bool == true {
                    throw ModelError.badTokenizer(path: path, detail: "added token \(quoted(content)) has \(flag), which Loupe does not implement")
                }
                added.append((content, id, entry["special"] as? Bool ?? false))
            }
        }
        // Ids index the vocabulary: checked against its size before anything
        // is allocated from them (a bad id would otherwise ask for gigabytes).
        let limit = vocab.count + added.count
        for (piece, id) in vocab where id < 0 || id >= limit {
            throw ModelError.badTokenizer(path: path, detail: "vocabulary entry \(quoted(piece)) has id \(id), outside 0 to \(limit - 1) for \(limit) entries")
        }
        for (piece, id, _) in added where id < 0 || id >= limit {
            throw ModelError.badTokenizer(path: path, detail: "added token \(quoted(piece)) has id \(id), outside 0 to \(limit - 1) for \(limit) entries")
        }
        let size = max((vocab.values.max() ?? -1) + 1, (added.map(\.1).max() ?? -1) + 1)
        var pieces = [String](repeating: "", count: size)
        for (p, id) in vocab where id >= 0 { pieces[id] = p }
        for (p, id, _) in added where id >= 0 { pieces[id] = p }

        var merges: [(String, String)] = []
        let mergeList: [Any]
        switch model["merges"] {
        case nil, is NSNull: mergeList = []
        case let list as [Any]: mergeList = list
        case let other?: throw ModelError.badTokenizer(path: path, detail: "model.merges must be a list, found \(quoted(other))")
        }
        for (i, m) in mergeList.enumerated() {
            if let s = m as? String, let space = s.firstIndex(of: " ") {
                merges.append((String(s[..<space]), String(s[s.index(after: space)...])))
            } else if let pair = m as? [String], pair.count == 2 {
                merges.append((pair[0], pair[1]))
            } else {
                throw ModelError.badTokenizer(path: path, detail: "merge \(i) is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }
        for (key, allowed) in [("byte_fallback", false), ("dropout", false)] {
            if let v = model[key], !(v is NSNull), (v as? Bool ?? true) != allowed {
                throw ModelError.badTokenizer(path: path, detail: "model.\(key) \(quoted(v)) is not supported (only byte-level BPE without it)")
            }
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = model[key] as? String, !v.isEmpty {
                throw ModelError.badTokenizer(path: path, detail: "model.\(key) \(quoted(v)) is not supported")
            }
        }
        let nfc = try normalizesNFC(json["normalizer"], path: path)
        let pre = try preTokenizer(json["pre_tokenizer"] as? [String: Any], path: path)
        var specials: [String: Int] = [:], plainAdded: [String: Int] = [:]
        for (p, id, special) in added where id >= 0 {
            if special { specials[p] = id } else { plainAdded[p] = id }
        }

        // BOS: tokenizer_config.json's bos_token, else config.json's bos_token_id.
        var bos = modelConfig["bos_token_id"] as? Int
        var eos = modelConfig["eos_token_id"] as? Int
        if let tc = try? readJSON(folder + "/tokenizer_config.json") {
            if let b = tc["bos_token"] as? String, let id = vocab[b] ?? specials[b] { bos = id }
            if let e = tc["eos_token"] as? String, let id = vocab[e] ?? specials[e] { eos = id }
        }
        return try Tokenizer(pieces: pieces, merges: merges, preTokenizer: pre, specialTokens: specials,
                             addedTokens: plainAdded, bosId: bos, eosId: eos, ignoreMerges: model["ignore_merges"] as? Bool ?? false,
                             normalizesNFC: nfc, source: path)
    }

    /// Recognises the pre-tokenizers Loupe implements from their JSON
    /// description, exactly: anything else is refused rather than split
    /// in a way the model was not trained on.
    static func preTokenizer(_ spec: [String: Any]?, path: String) throws -> PreTokenizer {
        func refuse(_ what: Any?) -> ModelError {
            .badTokenizer(path: path, detail: "pre_tokenizer \(quoted(what ?? NSNull())) is not one Loupe implements (GPT-2's byte-level; SmolLM's digits + byte-level; Llama 3's and Qwen2's split + byte-level)")
        }
        guard let spec else { throw refuse(nil) }
        func byteLevel(_ step: [String: Any], regex: Bool) -> Bool {
            (step["type"] as? String) == "ByteLevel" && (step["add_prefix_space"] as? Bool ?? false) == false
                && (step["use_regex"] as? Bool ?? true) == regex
        }
        switch spec["type"] as? String {
        case "ByteLevel" where byteLevel(spec, regex: true):
            return .gpt2
        case "Sequence":
            let steps = spec["pretokenizers"] as? [[String: Any]] ?? []
            if steps.count == 2, (steps[0]["type"] as? String) == "Digits", steps[0]["individual_digits"] as? Bool == true,
               byteLevel(steps[1], regex: true) {
                return .smollm
            }
            if steps.count == 2, (steps[0]["type"] as? String) == "Split",
               let regex = (steps[0]["pattern"] as? [String: Any])?["Regex"] as? String,
               let pre = PreTokenizer.patterns[regex],
               (steps[0]["behavior"] as? String) == "Isolated", (steps[0]["invert"] as? Bool ?? false) == false,
               byteLevel(steps[1], regex: false) {
                return pre
            }
            throw refuse(spec)
        default:
            throw refuse(spec)
        }
    }

    /// The normalizer: none, or NFC (Qwen2). Others would change the text
    /// before splitting, so they are refused.
    static func normalizesNFC(_ spec: Any?, path: String) throws -> Bool {
        guard let spec, !(spec is NSNull) else { return false }
        if let d = spec as? [String: Any], (d["type"] as? String) == "NFC" { return true }
        throw ModelError.badTokenizer(path: path, detail: "normalizer \(quoted(spec)) is not supported (supported: none, NFC)")
    }
}
