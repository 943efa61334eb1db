/// The parameters of a model, by role.
enum Param {
    case tokenEmbedding, positionEmbedding, finalNorm, finalNormBias, unembedding
    case attnNorm, attnNormBias, q, k, v, qBias, kBias, vBias, qkv, qkvBias, o, oBias
    case mlpNorm, mlpNormBias, gate, up, upBias, down, downBias
}

/// How each file layout names the parameters: the one table of tensor names.
enum NamingScheme {
    /// llama.cpp's names (`blk.3.attn_q.weight`), for every GGUF architecture.
    case gguf
    /// Hugging Face `LlamaForCausalLM` (`model.layers.3.self_attn.q_proj.weight`).
    case huggingFaceLlama
    /// Hugging Face `GPT2LMHeadModel` (`transformer.h.3.attn.c_attn.weight`);
    /// the prefix is empty in the original OpenAI checkpoints.
    case huggingFaceGPT2(prefix: String)

    func name(_ p: Param, layer l: Int = 0) -> String {
        switch self {
        case .gguf:
            let b = "blk.\(l)."
            switch p {
            case .tokenEmbedding: return "token_embd.weight"
            case .positionEmbedding: return "position_embd.weight"
            case .finalNorm: return "output_norm.weight"
            case .finalNormBias: return "output_norm.bias"
            case .unembedding: return "output.weight"
            case .attnNorm: return b + "attn_norm.weight"
            case .attnNormBias: return b + "attn_norm.bias"
            case .q: return b + "attn_q.weight"
            case .k: return b + "attn_k.weight"
            case .v: return b + "attn_v.weight"
            case .qBias: return b + "attn_q.bias"
            case .kBias: return b + "attn_k.bias"
            case .vBias: return b + "attn_v.bias"
            case .qkv: return b + "attn_qkv.weight"
            case .qkvBias: return b + "attn_qkv.bias"
            case .o: return b + "attn_output.weight"
            case .oBias: return b + "attn_output.bias"
            case .mlpNorm: return b + "ffn_norm.weight"
            case .mlpNormBias: return b + "ffn_norm.bias"
            case .gate: return b + "ffn_gate.weight"
            case .up: return b + "ffn_up.weight"
            case .upBias: return b + "ffn_up.bias"
            case .down: return b + "ffn_down.weight"
            case .downBias: return b + "ffn_down.bias"
            }
        case .huggingFaceLlama:
            let b = "model.layers.\(l)."
            switch p {
            case .tokenEmbedding: return "model.embed_tokens.weight"
            case .finalNorm: return "model.norm.weight"
            case .unembedding: return "lm_head.weight"
            case .attnNorm: return b + "input_layernorm.weight"
            case .q: return b + "self_attn.q_proj.weight"
            case .k: return b + "self_attn.k_proj.weight"
            case .v: return b + "self_attn.v_proj.weight"
            case .qBias: return b + "self_attn.q_proj.bias"
            case .kBias: return b + "self_attn.k_proj.bias"
            case .vBias: return b + "self_attn.v_proj.bias"
            case .o: return b + "self_attn.o_proj.weight"
            case .mlpNorm: return b + "post_attention_layernorm.weight"
            case .gate: return b + "mlp.gate_proj.weight"
            case .up: return b + "mlp.up_proj.weight"
            case .down: return b + "mlp.down_proj.weight"
            default: return "(no \(p) in llama checkpoints)"
            }
        case let .huggingFaceGPT2(prefix):
            let b = prefix + "h.\(l)."
            switch p {
            case .tokenEmbedding: return prefix + "wte.weight"
            case .positionEmbedding: return prefix + "wpe.weight"
            case .finalNorm: return prefix + "ln_f.weight"
            case .finalNormBias: return prefix + "ln_f.bias"
            case .unembedding: return "lm_head.weight"
            case .attnNorm: return b + "ln_1.weight"
            case .attnNormBias: return b + "ln_1.bias"
            case .qkv: return b + "attn.c_attn.weight"
            case .qkvBias: return b + "attn.c_attn.bias"
            case .o: return b + "attn.c_proj.weight"
            case .oBias: return b + "attn.c_proj.bias"
            case .mlpNorm: return b + "ln_2.weight"
            case .mlpNormBias: return b + "ln_2.bias"
            case .up: return b + "mlp.c_fc.weight"
            case .upBias: return b + "mlp.c_fc.bias"
            case .down: return b + "mlp.c_proj.weight"
            case .downBias: return b + "mlp.c_proj.bias"
            default: return "(no \(p) in gpt2 checkpoints)"
            }
        }
    }

    /// Whether weight matrices are stored [in, out] (GPT-2's Conv1D) rather than [out, in].
    var storesInputMajor: Bool {
        if case .huggingFaceGPT2 = self { return true }
        return false
    }
}

extension WeightLoader {
    /// Reads every parameter of the configured architecture.
    /// `unpermuteRotary` restores Hugging Face row order for GGUF llama q/k.
    func weights(_ scheme: NamingScheme, unpermuteRotary: Bool) throws -> Weights {
        let c = config
        let d = c.dModel, m = c.dMLP, qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim
        func n(_ p: Param, _ l: Int = 0) -> String { scheme.name(p, layer: l) }
        /// A matrix with logical shape [out, in], whatever the storage order.
        func matrix(_ p: Param, _ l: Int, out: Int, in inner: Int) throws -> [Float] {
            scheme.storesInputMajor ? try loadTransposed(n(p, l), in: inner, out: out) : try load(n(p, l), [out, inner])
        }

        let embedding = try load(n(.tokenEmbedding), [c.vocabularySize, d])
        var blocks: [BlockWeights] = []
        for l in 0 ..< c.layers {
            switch c.architecture {
            case .llama:
                var wq = try matrix(.q, l, out: qDim, in: d)
                var wk = try matrix(.k, l, out: kvDim, in: d)
                var bq = try optional(n(.qBias, l), [qDim])
                var bk = try optional(n(.kBias, l), [kvDim])
                if unpermuteRotary {
                    wq = unpermuteRotaryRows(wq, heads: c.heads, headDim: c.headDim, width: d)
                    wk = unpermuteRotaryRows(wk, heads: c.kvHeads, headDim: c.headDim, width: d)
                    bq = bq.map { unpermuteRotaryRows($0, heads: c.heads, headDim: c.headDim, width: 1) }
                    bk = bk.map { unpermuteRotaryRows($0, heads: c.kvHeads, headDim: c.headDim, width: 1) }
                }
                blocks.append(BlockWeights(
                    attnNorm: try load(n(.attnNorm, l), [d]), attnNormBias: nil,
                    wq: wq, wk: wk, wv: try matrix(.v, l, out: kvDim, in: d),
                    bq: bq, bk: bk, bv: try optional(n(.vBias, l), [kvDim]),
                    wo: try matrix(.o, l, out: d, in: qDim), bo: nil,
                    mlpNorm: try load(n(.mlpNorm, l), [d]), mlpNormBias: nil,
                    wGate: try matrix(.gate, l, out: m, in: d),
                    wUp: try matrix(.up, l, out: m, in: d), bUp: nil,
                    wDown: try matrix(.down, l, out: d, in: m), bDown: nil))
            case .gpt2:
                // Fused q/k/v: rows 0..<d are q, then k, then v.
                let qkv = try matrix(.qkv, l, out: 3 * d, in: d)
                let qkvBias = try load(n(.qkvBias, l), [3 * d])
                blocks.append(BlockWeights(
                    attnNorm: try load(n(.attnNorm, l), [d]), attnNormBias: try load(n(.attnNormBias, l), [d]),
                    wq: Array(qkv[0 ..< d * d]), wk: Array(qkv[d * d ..< 2 * d * d]), wv: Array(qkv[2 * d * d ..< 3 * d * d]),
                    bq: Array(qkvBias[0 ..< d]), bk: Array(qkvBias[d ..< 2 * d]), bv: Array(qkvBias[2 * d ..< 3 * d]),
                    wo: try matrix(.o, l, out: d, in: d), bo: try load(n(.oBias, l), [d]),
                    mlpNorm: try load(n(.mlpNorm, l), [d]), mlpNormBias: try load(n(.mlpNormBias, l), [d]),
                    wGate: nil,
                    wUp: try matrix(.up, l, out: m, in: d), bUp: try load(n(.upBias, l), [m]),
                    wDown: try matrix(.down, l, out: d, in: m), bDown: try load(n(.downBias, l), [d])))
            }
        }
        let unembedding = c.tiedEmbeddings ? embedding : try load(n(.unembedding), [c.vocabularySize, d])
        return Weights(
            tokenEmbedding: embedding,
            positionEmbedding: c.architecture == .gpt2 ? try load(n(.positionEmbedding), [c.contextLength, d]) : nil,
            blocks: blocks,
            finalNorm: try load(n(.finalNorm), [d]),
            finalNormBias: c.architecture == .gpt2 ? try load(n(.finalNormBias), [d]) : nil,
            unembedding: unembedding)
    }
}
