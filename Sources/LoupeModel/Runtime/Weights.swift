/// The parameters of one transformer block, dequantized to Float32.
///
/// Every matrix is row-major [out, in] (as `nn.Linear` stores it), so a
/// projection of activations X [T, in] is X·Wᵀ [T, out] for every
/// architecture; GPT-2's Conv1D weights are transposed at load time.
struct BlockWeights: Sendable {
    var attnNorm: [Float]          // [d]
    var attnNormBias: [Float]?     // [d]   (LayerNorm families)
    var wq: [Float]                // [H·hd, d]
    var wk: [Float]                // [Hkv·hd, d]
    var wv: [Float]                // [Hkv·hd, d]
    var bq: [Float]?               // [H·hd]
    var bk: [Float]?               // [Hkv·hd]
    var bv: [Float]?               // [Hkv·hd]
    var wo: [Float]                // [d, H·hd]
    var bo: [Float]?               // [d]   (gpt2, GPT-NeoX, llama/gemma with attention_bias)
    var postAttnNorm: [Float]?     // [d]   (gemma2: norm of the attention output)
    var mlpNorm: [Float]           // [d]
    var mlpNormBias: [Float]?      // [d]   (LayerNorm families)
    var wGate: [Float]?            // [m, d] (gated MLPs)
    var wUp: [Float]               // [m, d] (gpt2: c_fc)
    var bUp: [Float]?              // [m]   (LayerNorm families)
    var wDown: [Float]             // [d, m] (gpt2: c_proj)
    var bDown: [Float]?            // [d]   (LayerNorm families)
    var postMLPNorm: [Float]?      // [d]   (gemma2: norm of the MLP output)
}

struct Weights: Sendable {
    var tokenEmbedding: [Float]    // [V, d]
    var positionEmbedding: [Float]? // [ctx, d] (LayerNorm families)
    var blocks: [BlockWeights]
    var finalNorm: [Float]         // [d]
    var finalNormBias: [Float]?    // [d]   (LayerNorm families)
    /// [V, d]; the same storage as `tokenEmbedding` when tied (arrays share
    /// their buffer until written, so tying costs no memory).
    var unembedding: [Float]
}
