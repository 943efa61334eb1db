import Foundation

/// Which model a figure shows, as a reader needs it: the file (its name
/// says the checkpoint, e.g. Instruct or base), the architecture family, and
/// how the weights are stored (a 4-bit quantisation behaves differently
/// from the float checkpoint it came from).
public struct ModelIdentity: Codable, Sendable, Equatable {
    /// The weights file's name (a Hugging Face folder's name), no directories.
    public var file: String
    /// The name the file gives itself (GGUF `general.name`, or the folder's).
    public var name: String
    /// The architecture family, e.g. `llama`.
    public var family: String
    /// The storage type of the weight matrices, largest share first, e.g.
    /// `Q4_1 (4-bit); Q8_0 embedding`.
    public var quantisation: String

    public init(file: String, name: String, family: String, quantisation: String) {
        self.file = file; self.name = name; self.family = family; self.quantisation = quantisation
    }

    /// One line for a figure's foot: file · family · storage.
    public var caption: String { "\(file) · \(family) family · \(quantisation)" }

    /// The nominal bits per weight of a storage type, for the reader who
    /// does not know ggml's names.
    static func bits(_ type: String) -> Int? {
        switch type.uppercased() {
        case "Q2_K": 2
        case "Q3_K": 3
        case "Q4_0", "Q4_1", "Q4_K", "IQ4_NL", "IQ4_XS": 4
        case "Q5_0", "Q5_1", "Q5_K": 5
        case "Q6_K": 6
        case "Q8_0", "Q8_1", "Q8_K", "I8", "F8_E4M3", "F8_E5M2": 8
        case "F16", "BF16": 16
        case "F32": 32
        case "F64": 64
        default: nil
        }
    }

    /// The storage of the matrices (tensors of two or more dimensions; the
    /// vectors, norms and biases are float in every format): the type
    /// holding most weights with its bits, then each other type with the
    /// role of its tensors when they have one (embedding, unembedding) or
    /// their count.
    static func quantisation(of table: [TensorSummary]) -> String {
        let matrices = table.filter { $0.shape.count >= 2 }
        guard !matrices.isEmpty else { return "no weight matrices" }
        var elements: [String: Int] = [:]
        for t in matrices { elements[t.type, default: 0] += t.shape.reduce(1, *) }
        let types = elements.keys.sorted { (elements[$0]!, $1) > (elements[$1]!, $0) }
        func named(_ type: String) -> String { bits(type).map { "\(type) (\($0)-bit)" } ?? type }
        let others = types.dropFirst().map { type -> String in
            let tensors = matrices.filter { $0.type == type }.map(\.name)
            if tensors.count == 1, let role = role(tensors[0]) { return "\(type) \(role)" }
            return "\(type) in \(tensors.count) tensor\(tensors.count == 1 ? "" : "s")"
        }
        return ([named(types[0])] + others).joined(separator: "; ")
    }

    /// The role of a tensor by its GGUF or Hugging Face name, for the ones
    /// quantisers commonly store differently.
    static func role(_ name: String) -> String? {
        if ["token_embd.weight", "model.embed_tokens.weight", "transformer.wte.weight", "gpt_neox.embed_in.weight"].contains(name) {
            return "embedding"
        }
        if ["output.weight", "lm_head.weight", "embed_out.weight"].contains(name) { return "unembedding" }
        return nil
    }
}

extension Model {
    /// This model's identity for figures and their data.
    public var identity: ModelIdentity {
        ModelIdentity(file: (path as NSString).lastPathComponent, name: name, family: config.family.rawValue,
                      quantisation: ModelIdentity.quantisation(of: tensorTable))
    }
}
