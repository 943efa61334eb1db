/// The transformer families the runtime implements.
public enum Architecture: String, Sendable, Codable {
    /// Pre-norm RMSNorm blocks, rotary positions, grouped-query attention,
    /// SwiGLU MLP (Llama, SmolLM, TinyLlama, Mistral; Qwen2 with q/k/v biases).
    case llama
    /// Pre-norm LayerNorm blocks, learned positions, fused q/k/v, GELU MLP.
    case gpt2
}

/// The shape and constants of a model, whatever file it came from.
public struct ModelConfig: Sendable, Codable, Equatable {
    public var architecture: Architecture
    public var layers: Int
    public var dModel: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var dMLP: Int
    public var vocabularySize: Int
    public var contextLength: Int
    public var normEpsilon: Float
    /// Rotary base (llama only).
    public var ropeTheta: Float
    /// Dimensions of each head that are rotated (llama only; normally all).
    public var ropeDimensions: Int
    public var tiedEmbeddings: Bool
    public var attentionBias: Bool

    /// Query heads that share one key/value head.
    public var groupSize: Int { heads / kvHeads }
}
