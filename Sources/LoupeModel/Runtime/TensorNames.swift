/// The parameters of a model, by role.
enum Param: CaseIterable {
    case tokenEmbedding, positionEmbedding, finalNorm, finalNormBias, unembedding
    case attnNorm, attnNormBias, q, k, v, qBias, kBias, vBias, qkv, qkvBias, o, oBias, postAttnNorm
    case mlpNorm, mlpNormBias, gate, up, gateUp, upBias, down, downBias, postMLPNorm
}

/// How each file layout names the parameters: the one table of tensor names.
enum NamingScheme {
    /// llama.cpp's names (`blk.3.attn_q.weight`), for every GGUF architecture.
    case gguf
    /// Hugging Face `LlamaForCausalLM` and its relatives (`model.layers.3.self_attn.q_proj.weight`):
    /// llama, mistral, qwen2, gemma, gemma2, phi3.
    case huggingFace(Family)
    /// Hugging Face `GPT2LMHeadModel` (`transformer.h.3.attn.c_attn.weight`);
    /// the prefix is empty in the original OpenAI checkpoints.
    case huggingFaceGPT2(prefix: String)
    /// Hugging Face `GPTNeoXForCausalLM` (`gpt_neox.layers.3.attention.query_key_value.weight`).
    case huggingFaceNeoX

    /// The tensor's name, or nil when the layout has no such parameter.
    func name(_ p: Param, layer l: Int = 0) -> String? {
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
            case .postAttnNorm: return b + "post_attention_norm.weight"
            case .mlpNorm: return b + "ffn_norm.weight"
            case .mlpNormBias: return b + "ffn_norm.bias"
            case .gate: return b + "ffn_gate.weight"
            case .up, .gateUp: return b + "ffn_up.weight"
            case .upBias: return b + "ffn_up.bias"
            case .down: return b + "ffn_down.weight"
            case .downBias: return b + "ffn_down.bias"
            case .postMLPNorm: return b + "post_ffw_norm.weight"
            }
        case let .huggingFace(family):
            let b = "model.layers.\(l)."
            let gemma2 = family == .gemma2
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
            case .qkv: return b + "self_attn.qkv_proj.weight"
            case .o: return b + "self_attn.o_proj.weight"
            case .oBias: return b + "self_attn.o_proj.bias"
            // Gemma 2's post_attention_layernorm is the attention output's norm;
            // in the other families it is the MLP's input norm.
            case .postAttnNorm: return gemma2 ? b + "post_attention_layernorm.weight" : nil
            case .mlpNorm: return b + (gemma2 ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight")
            case .gate: return b + "mlp.gate_proj.weight"
            case .up: return b + "mlp.up_proj.weight"
            case .gateUp: return b + "mlp.gate_up_proj.weight"
            case .down: return b + "mlp.down_proj.weight"
            case .postMLPNorm: return gemma2 ? b + "post_feedforward_layernorm.weight" : nil
            default: return nil
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
            default: return nil
            }
        case .huggingFaceNeoX:
            let b = "gpt_neox.layers.\(l)."
            switch p {
            case .tokenEmbedding: return "gpt_neox.embed_in.weight"
            case .finalNorm: return "gpt_neox.final_layer_norm.weight"
            case .finalNormBias: return "gpt_neox.final_layer_norm.bias"
            case .unembedding: return "embed_out.weight"
            case .attnNorm: return b + "input_layernorm.weight"
            case .attnNormBias: return b + "input_layernorm.bias"
            case .qkv: return b + "attention.query_key_value.weight"
            case .qkvBias: return b + "attention.query_key_value.bias"
            case .o: return b + "attention.dense.weight"
            case .oBias: return b + "attention.dense.bias"
            case .mlpNorm: return b + "post_attention_layernorm.weight"
            case .mlpNormBias: return b + "post_attention_layernorm.bias"
            case .up: return b + "mlp.dense_h_to_4h.weight"
            case .upBias: return b + "mlp.dense_h_to_4h.bias"
            case .down: return b + "mlp.dense_4h_to_h.weight"
            case .downBias: return b + "mlp.dense_4h_to_h.bias"
            default: return nil
            }
        }
    }

    /// Whether weight matrices are stored [in, out] (GPT-2's Conv1D) rather than [out, in].
    var storesInputMajor: Bool {
        if case .huggingFaceGPT2 = self { return true }
        return false
    }

    /// Tensors a checkpoint may carry that are not parameters: cached causal
    /// masks and rotary frequencies, which Loupe computes itself.
    func isBuffer(_ name: String) -> Bool {
        switch self {
        case .gguf: false
        default: [".rotary_emb.inv_freq", ".attention.bias", ".attention.masked_bias", ".attn.bias", ".attn.masked_bias"]
            .contains { name.hasSuffix($0) }
        }
    }
}

extension WeightLoader {
    /// Reads every parameter of the configured family. `unpermuteRotary`
    /// restores Hugging Face row order for GGUF llama q/k; `normOffset` is
    /// added to RMSNorm weights (Gemma's norms multiply by 1 + w; llama.cpp's
    /// converter stores 1 + w already). A tensor the file holds and the family
    /// does not use is an error.
    func weights(_ scheme: NamingScheme, unpermuteRotary: Bool, normOffset: Float = 0) throws -> Weights {
        let c = config
        let d = c.dModel, m = c.dMLP, qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim
        func n(_ p: Param, _ l: Int) throws -> String {
            guard let name = scheme.name(p, layer: l) else { throw ModelError.internalInconsistency("no tensor name for \(p) in \(scheme)") }
            return name
        }
        /// A matrix with logical shape [out, in], whatever the storage order.
        func matrix(_ p: Param, _ l: Int, out: Int, in inner: Int) throws -> [Float] {
            scheme.storesInputMajor ? try loadTransposed(n(p, l), in: inner, out: out) : try load(n(p, l), [out, inner])
        }
        func vector(_ p: Param, _ l: Int, _ count: Int) throws -> [Float] { try load(n(p, l), [count]) }
        func normWeight(_ p: Param, _ l: Int) throws -> [Float] {
            let w = try vector(p, l, d)
            return normOffset == 0 ? w : w.map { $0 + normOffset }
        }
        let layerNorm = c.norm == .layer
        /// Splits fused rows [q; k; v] (each [rows, width]).
        func splitQKV(_ w: [Float], width: Int) -> ([Float], [Float], [Float]) {
            (Array(w[0 ..< qDim * width]), Array(w[qDim * width ..< (qDim + kvDim) * width]),
             Array(w[(qDim + kvDim) * width ..< (qDim + 2 * kvDim) * width]))
        }
        /// GPT-NeoX's Hugging Face fused rows are per head: [H, 3, hd] (q, k, v of head 0, then head 1, …).
        func splitPerHead(_ w: [Float], width: Int) -> ([Float], [Float], [Float]) {
            var parts = [[Float]](repeating: [], count: 3)
            let hd = c.headDim
            for i in 0 ..< 3 { parts[i].reserveCapacity(qDim * width) }
            for h in 0 ..< c.heads {
                for i in 0 ..< 3 {
                    let start = ((h * 3 + i) * hd) * width
                    parts[i] += w[start ..< start + hd * width]
                }
            }
            return (parts[0], parts[1], parts[2])
        }
        let perHeadQKV: Bool = if case .huggingFaceNeoX = scheme { true } else { false }
        let fusedQKV = c.family == .gpt2 || c.family == .gptNeoX || c.family == .phi3

        let embedding = try load(n(.tokenEmbedding, 0), [c.vocabularySize, d])
        var blocks: [BlockWeights] = []
        for l in 0 ..< c.layers {
            var wq: [Float], wk: [Float], wv: [Float]
            var bq: [Float]?, bk: [Float]?, bv: [Float]?
            if fusedQKV {
                let fused = try matrix(.qkv, l, out: qDim + 2 * kvDim, in: d)
                (wq, wk, wv) = perHeadQKV ? splitPerHead(fused, width: d) : splitQKV(fused, width: d)
                if c.attentionBias {
                    let bias = try vector(.qkvBias, l, qDim + 2 * kvDim)
                    let (a, b, v) = perHeadQKV ? splitPerHead(bias, width: 1) : splitQKV(bias, width: 1)
                    (bq, bk, bv) = (a, b, v)
                }
            } else {
                wq = try matrix(.q, l, out: qDim, in: d)
                wk = try matrix(.k, l, out: kvDim, in: d)
                wv = try matrix(.v, l, out: kvDim, in: d)
                if c.attentionBias {
                    bq = try vector(.qBias, l, qDim)
                    bk = try vector(.kBias, l, kvDim)
                    bv = try vector(.vBias, l, kvDim)
                }
            }
            if unpermuteRotary {
                wq = unpermuteRotaryRows(wq, heads: c.heads, headDim: c.headDim, width: d)
                wk = unpermuteRotaryRows(wk, heads: c.kvHeads, headDim: c.headDim, width: d)
                bq = bq.map { unpermuteRotaryRows($0, heads: c.heads, headDim: c.headDim, width: 1) }
                bk = bk.map { unpermuteRotaryRows($0, heads: c.kvHeads, headDim: c.headDim, width: 1) }
            }
            // The output projection has a bias where the family's attention biases cover it
            // (gpt2, GPT-NeoX, llama and gemma with attention_bias), not in qwen2.
            let hasOBias = c.attentionBias && c.family != .qwen2
            var wGate: [Float]?, wUp: [Float]
            if c.family == .phi3 {
                // Fused rows [gate; up].
                let fused = try matrix(.gateUp, l, out: 2 * m, in: d)
                wGate = Array(fused[0 ..< m * d])
                wUp = Array(fused[m * d ..< 2 * m * d])
            } else {
                wGate = c.gatedMLP ? try matrix(.gate, l, out: m, in: d) : nil
                wUp = try matrix(.up, l, out: m, in: d)
            }
            let mlpBiases = !c.gatedMLP
            blocks.append(BlockWeights(
                attnNorm: try normWeight(.attnNorm, l), attnNormBias: layerNorm ? try vector(.attnNormBias, l, d) : nil,
                wq: wq, wk: wk, wv: wv, bq: bq, bk: bk, bv: bv,
                wo: try matrix(.o, l, out: d, in: qDim), bo: hasOBias ? try vector(.oBias, l, d) : nil,
                postAttnNorm: c.postNorms ? try normWeight(.postAttnNorm, l) : nil,
                mlpNorm: try normWeight(.mlpNorm, l), mlpNormBias: layerNorm ? try vector(.mlpNormBias, l, d) : nil,
                wGate: wGate, wUp: wUp, bUp: mlpBiases ? try vector(.upBias, l, m) : nil,
                wDown: try matrix(.down, l, out: d, in: m), bDown: mlpBiases ? try vector(.downBias, l, d) : nil,
                postMLPNorm: c.postNorms ? try normWeight(.postMLPNorm, l) : nil))
        }
        let unembedding = c.tiedEmbeddings ? embedding : try load(n(.unembedding, 0), [c.vocabularySize, d])
        let weights = Weights(
            tokenEmbedding: embedding,
            positionEmbedding: c.rotary ? nil : try load(n(.positionEmbedding, 0), [c.contextLength, d]),
            blocks: blocks,
            finalNorm: try normWeight(.finalNorm, 0),
            finalNormBias: layerNorm ? try vector(.finalNormBias, 0, d) : nil,
            unembedding: unembedding)
        try checkAllUsed(scheme)
        return weights
    }
}
