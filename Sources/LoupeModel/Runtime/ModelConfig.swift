/// The model families the runtime implements, named by Hugging Face's
/// `model_type`. Each is checked against Hugging Face float64 on a small
/// random-weight checkpoint (see the README's Models table).
public enum Family: String, Sendable, Codable, CaseIterable {
    /// Pre-norm RMSNorm, rotary, grouped-query attention, SwiGLU (Llama 1–3, SmolLM, TinyLlama).
    case llama
    /// Llama with sliding-window attention.
    case mistral
    /// Llama with q/k/v biases, optionally sliding windows on the upper layers.
    case qwen2
    /// Pre-norm LayerNorm, learned positions, fused q/k/v, GELU (tanh) MLP.
    case gpt2
    /// Pythia: LayerNorm, partial rotary, fused per-head q/k/v, GELU, parallel or sequential residual.
    case gptNeoX = "gpt_neox"
    /// RMSNorm with (1 + w), embeddings scaled by √d, GeGLU.
    case gemma
    /// Gemma with post-norms, attention and final logit soft-capping, alternating sliding windows.
    case gemma2
    /// Llama with fused q/k/v and gate/up projections, sliding-window attention.
    case phi3

    /// The families, for messages.
    static var supportedNames: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// Whether text prompts get the BOS token by default. The learned-position
    /// families (GPT-2, Pythia) were not trained with one at the start.
    var prependsBOSByDefault: Bool { self != .gpt2 && self != .gptNeoX }
}

/// How the inverse frequencies of rotary embeddings are rescaled for
/// contexts longer than the model was first trained on.
public enum RotaryScaling: Sendable, Codable, Equatable {
    /// Every frequency divided by `factor` (position interpolation).
    case linear(factor: Double)
    /// Llama 3.1: low frequencies divided by `factor`, high ones kept, a
    /// smooth blend between (wavelengths between original/high and original/low).
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContext: Int)
    /// Per-pair divisors read from a GGUF `rope_freqs.weight` tensor (how
    /// llama.cpp stores Llama 3 scaling).
    case frequencyFactors([Double])

    public var summary: String {
        switch self {
        case let .linear(f): "linear, factor \(f)"
        case let .llama3(f, lo, hi, ctx): "llama3, factor \(f), low/high frequency factors \(lo)/\(hi), original context \(ctx)"
        case let .frequencyFactors(f): "per-frequency divisors from rope_freqs.weight (\(f.count) pairs)"
        }
    }
}

/// The normalisation layers of a family.
public enum NormKind: String, Sendable, Codable {
    /// x / sqrt(mean(x²) + eps) · w.
    case rms
    /// (x − mean) / sqrt(var + eps) · w + b.
    case layer
}

/// The MLP's non-linearity.
public enum Activation: String, Sendable, Codable {
    case silu
    /// GELU, tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    case geluTanh = "gelu_tanh"
    /// GELU, exact (erf).
    case gelu
}

/// The shape and constants of a model, whatever file it came from: every
/// setting the forward pass reads. Loaders fill it from config.json or GGUF
/// metadata and refuse settings it cannot express (ConfigFields.swift).
public struct ModelConfig: Sendable, Codable, Equatable {
    public var family: Family
    public var layers: Int
    public var dModel: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var dMLP: Int
    public var vocabularySize: Int
    public var contextLength: Int
    public var norm: NormKind
    public var normEpsilon: Float
    /// Whether positions are rotary (false: learned position embeddings, gpt2).
    public var rotary: Bool
    /// Rotary base.
    public var ropeTheta: Float
    /// Dimensions of each head that are rotated (the first ones; the rest pass through).
    public var ropeDimensions: Int
    /// Rotary scaling, if any.
    public var ropeScaling: RotaryScaling?
    public var tiedEmbeddings: Bool
    public var attentionBias: Bool
    public var activation: Activation
    /// act(gate)·up (true) or act(up) (false).
    public var gatedMLP: Bool
    /// Attention and MLP both read the block's input and add to it (GPT-NeoX).
    public var parallelResidual: Bool
    /// Norms on the attention and MLP outputs before they are added (Gemma 2).
    public var postNorms: Bool
    /// The embedding layer multiplies its rows by this (Gemma: √d); the unembedding does not.
    public var embeddingScale: Float?
    /// The factor on q·k before the softmax (1/√head size, or Gemma 2's 1/√query_pre_attn_scalar).
    public var attentionScale: Float
    /// Attention scores become cap·tanh(s / cap) (Gemma 2).
    public var attentionSoftcap: Float?
    /// Logits become cap·tanh(l / cap) (Gemma 2).
    public var finalSoftcap: Float?
    /// Per block, the sliding window (a query sees itself and the window − 1
    /// keys before it), or nil for full causal attention.
    public var slidingWindows: [Int?]

    /// Query heads that share one key/value head.
    public var groupSize: Int { heads / kvHeads }

    /// Whether the block has a residual stream between attention and MLP (`hook_resid_mid`).
    public var hasResidMid: Bool { !parallelResidual }

    /// The defaults of a llama-style block; loaders change what their family sets.
    init(family: Family, layers: Int, dModel: Int, heads: Int, kvHeads: Int, headDim: Int, dMLP: Int,
         vocabularySize: Int, contextLength: Int, normEpsilon: Float) {
        self.family = family
        self.layers = layers
        self.dModel = dModel
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.dMLP = dMLP
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        norm = .rms
        self.normEpsilon = normEpsilon
        rotary = true
        ropeTheta = 10000
        ropeDimensions = headDim
        ropeScaling = nil
        tiedEmbeddings = false
        attentionBias = false
        activation = .silu
        gatedMLP = true
        parallelResidual = false
        postNorms = false
        embeddingScale = nil
        attentionScale = headDim > 0 ? 1 / Float(headDim).squareRoot() : 1
        attentionSoftcap = nil
        finalSoftcap = nil
        slidingWindows = Array(repeating: nil, count: max(0, min(layers, 10_000)))
    }
}
