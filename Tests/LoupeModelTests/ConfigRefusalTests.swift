import Foundation
@testable import LoupeModel
import Testing

/// A configuration field or GGUF key that changes the computation and is not
/// implemented is an error naming it; a field of the wrong type is an error,
/// not a default; a field Loupe does not know is refused. One case per field.
@Suite struct ConfigRefusalTests {
    /// Loads a copy of a family fixture whose config.json is edited by `edit`,
    /// and returns the error's message (nil when it loads).
    func message(_ family: String, _ edit: (inout [String: Any]) -> Void) throws -> String? {
        let source = family == "tiny-gpt2" ? Fixtures.tiny + "/tiny-gpt2" : FamilyTests.root + "/" + family
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for f in ["model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: source + "/" + f, toPath: folder + "/" + f)
        }
        var json = try Fixtures.json(source + "/config.json")
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: folder + "/config.json"))
        do {
            _ = try Model(path: folder)
            return nil
        } catch let error as ModelError {
            return error.description
        }
    }

    /// (family, what is changed, the edit, words the message must contain)
    static let cases: [(String, String, @Sendable (inout [String: Any]) -> Void, [String])] = [
        ("llama3-rope", "yarn scaling", { $0["rope_scaling"] = ["rope_type": "yarn", "factor": 4.0] },
         ["rope_scaling type", "'yarn'", "supported: default, linear, llama3"]),
        ("llama3-rope", "dynamic scaling", { $0["rope_scaling"] = ["type": "dynamic", "factor": 2.0] }, ["'dynamic'"]),
        ("llama3-rope", "an unknown rotary key", { $0["rope_scaling"] = ["rope_type": "llama3", "factor": 4.0, "beta_fast": 32] },
         ["rope_scaling.beta_fast"]),
        ("llama3-rope", "llama3 without its factors", { $0["rope_scaling"] = ["rope_type": "llama3", "factor": 4.0] },
         ["rope_scaling.low_freq_factor"]),
        ("llama-linear-rope", "two different bases", { $0["rope_theta"] = 500000.0 }, ["rope_theta", "rope_parameters.rope_theta"]),
        ("llama3-rope", "an ill-typed eps", { $0["rms_norm_eps"] = "tiny" }, ["'rms_norm_eps' must be a number", "'tiny'"]),
        ("llama3-rope", "an ill-typed base", { $0["rope_theta"] = "x" }, ["'rope_theta' must be a number"]),
        ("llama3-rope", "a boolean size", { $0["hidden_size"] = true }, ["'hidden_size' must be an integer"]),
        ("llama3-rope", "an unknown field", { $0["logit_scale"] = 0.5 }, ["'logit_scale'", "refused"]),
        ("llama3-rope", "mlp_bias", { $0["mlp_bias"] = true }, ["mlp_bias"]),
        ("llama3-rope", "another activation", { $0["hidden_act"] = "relu" }, ["hidden_act", "'relu'"]),
        ("llama3-rope", "quantization", { $0["quantization_config"] = ["quant_method": "gptq"] }, ["quantization_config"]),
        ("llama3-rope", "an unknown family", { $0["model_type"] = "mamba" }, ["'mamba' is not supported"]),
        ("mistral", "a zero window", { $0["sliding_window"] = 0 }, ["sliding_window"]),
        ("mistral", "an unknown layer type", { $0["layer_types"] = ["chunked_attention", "full_attention"] }, ["layer_types[0]"]),
        ("qwen2", "sliding without a window", { $0["sliding_window"] = NSNull() }, ["sliding_window"]),
        ("gemma2", "bidirectional attention", { $0["use_bidirectional_attention"] = true }, ["use_bidirectional_attention"]),
        ("gemma2", "a negative soft cap", { $0["attn_logit_softcapping"] = -1.0 }, ["attn_logit_softcapping"]),
        ("gemma2", "two activations", { $0["hidden_act"] = "gelu" }, ["hidden_act"]),
        ("pythia", "an ill-typed residual flag", { $0["use_parallel_residual"] = "yes" }, ["'use_parallel_residual' must be true or false"]),
        ("pythia", "a rotated fraction that is not even", { $0["rotary_pct"] = 0.2 }, ["partial_rotary_factor"]),
        ("phi3", "longrope", { $0["rope_scaling"] = ["type": "longrope", "short_factor": [1.0], "long_factor": [1.0]] }, ["rope_scaling"]),
        ("phi3", "grouped heads that do not divide", { $0["num_key_value_heads"] = 3 }, ["key-value head count"]),
        ("llama3-rope", "pruned heads", { $0["pruned_heads"] = ["0": [1]] }, ["pruned_heads"]),
        ("llama3-rope", "cross attention", { $0["add_cross_attention"] = true }, ["add_cross_attention"]),
        ("llama3-rope", "a nonsensical tensor split", { $0["pretraining_tp"] = 0 }, ["pretraining_tp"]),
        ("llama-linear-rope", "a llama3 factor on linear scaling", {
            $0["rope_parameters"] = ["rope_type": "linear", "rope_theta": 10000.0, "factor": 2.5, "low_freq_factor": 1.0]
        }, ["rope_parameters.low_freq_factor", "absent for rope type 'linear'"]),
        ("pythia", "two rotated fractions", { $0["partial_rotary_factor"] = 0.5 }, ["rotated fraction"]),
        ("pythia", "no attention biases", { $0["attention_bias"] = false }, ["attention_bias"]),
        ("qwen2", "no attention biases", { $0["attention_bias"] = false }, ["attention_bias"]),
        ("gemma", "another activation", { $0["hidden_act"] = "relu" }, ["hidden_act", "'relu'"]),
        ("gemma2", "a negative scalar", { $0["query_pre_attn_scalar"] = -4 }, ["query_pre_attn_scalar"]),
        ("tiny-gpt2", "per-layer attention scaling", { $0["scale_attn_by_inverse_layer_idx"] = true }, ["scale_attn_by_inverse_layer_idx"]),
        ("tiny-gpt2", "unscaled attention", { $0["scale_attn_weights"] = false }, ["scale_attn_weights"]),
        ("tiny-gpt2", "another activation", { $0["activation_function"] = "relu" }, ["activation_function"]),
        ("tiny-gpt2", "two context lengths", { $0["n_ctx"] = 64 }, ["n_ctx"]),
    ]

    @Test(arguments: 0 ..< cases.count)
    func refused(index: Int) throws {
        let (family, what, edit, words) = Self.cases[index]
        let text = try message(family, edit)
        guard let text else { Issue.record("\(family) with \(what) loaded"); return }
        for w in words { #expect(text.contains(w), "\(family) with \(what): \(text)") }
        #expect(!text.contains("\n"))
    }

    /// The fields every fixture has load: harmless extras (dropout,
    /// generation settings) are accepted.
    @Test func inertFieldsAreAccepted() throws {
        #expect(try message("llama3-rope") { $0["attention_dropout"] = 0.1; $0["temperature"] = 0.7 } == nil)
    }

    /// A tensor the family does not use is refused, not skipped.
    @Test func unexpectedTensor() throws {
        let source = FamilyTests.root + "/mistral"
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: source + "/" + f, toPath: folder + "/" + f)
        }
        let original = try SafetensorsFile(path: source + "/model.safetensors")
        var writer = SafetensorsWriter()
        for t in original.tensors { writer.add(t.name, try original.tensor(t.name)) }
        writer.add("model.layers.0.mlp.gate_proj.bias", Tensor(shape: [160], data: [Float](repeating: 0, count: 160)))
        try writer.write(to: folder + "/model.safetensors")
        #expect(throws: ModelError.unexpectedTensor(path: folder + "/model.safetensors", tensor: "model.layers.0.mlp.gate_proj.bias", family: "mistral")) {
            try Model(path: folder)
        }
    }

    /// GGUF keys: metadata-only files from make_family_gguf.py, each refused before any tensor is read.
    @Test(arguments: [
        ("unknown-key", ["'llama.attention.temperature_tuning'"]),
        ("yarn", ["llama.rope.scaling.type", "'yarn'"]),
        ("experts", ["llama.expert_count", "mixtures of experts"]),
        ("eps-string", ["'llama.attention.layer_norm_rms_epsilon' must be a finite number"]),
        ("attn-factor", ["llama.rope.scaling.attn_factor"]),
        ("unknown-arch", ["'mamba' is not supported"]),
    ])
    func ggufRefused(name: String, words: [String]) throws {
        let path = FamilyTests.root + "/refusals/" + name + ".gguf"
        do {
            _ = try Model(path: path)
            Issue.record("\(name) loaded")
        } catch let error as ModelError {
            for w in words { #expect(error.description.contains(w), "\(name): \(error.description)") }
        }
    }

    /// Every field a family's loader reads is in its table (the reader refuses
    /// others), and the table's entries are not also inert.
    @Test func tablesAreConsistent() {
        for (family, fields) in ConfigFields.read {
            #expect(fields.isDisjoint(with: ConfigFields.inert), "\(family): a field both read and inert")
        }
        #expect(Set(ConfigFields.read.keys) == Set(Family.allCases))
        #expect(Set(GGUFFields.read.keys) == Set(Family.allCases))
    }
}
