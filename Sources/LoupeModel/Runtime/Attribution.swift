import Foundation

/// Direct logit attribution at one position: how much each part of the
/// model writes, straight through the final norm and the unembedding, to
/// one token's logit, or to the difference between two tokens' logits.
///
/// The final norm is not linear; as TransformerLens does, its scale is
/// frozen at the value it has at the position (1 / RMS of the last
/// residual, or 1 / standard deviation and the mean removed for a
/// LayerNorm), which makes the logit a sum over everything added to the
/// residual stream: the embedding (and learned positions), every head
/// (through its slice of W_O), every attention output bias, every MLP,
/// plus the final norm's bias. With the scale frozen the parts sum to the
/// model's own logit exactly, up to float rounding; `residual` says how far.
///
/// Gemma 2 normalises each attention and MLP output before adding it; the
/// attention's post-norm has its scale frozen at the position too, so that
/// the heads stay a sum. Logits are attributed before Gemma 2's final soft
/// cap, which no sum passes through.
public struct LogitAttribution: Sendable, Codable, Equatable {
    public var position: Int
    public var target: Int
    /// The token whose logit is subtracted, or nil: the target's logit alone.
    public var counterfactual: Int?
    /// The token embedding's part (Gemma: its rows as scaled by √d).
    public var embed: Double
    /// Learned position embeddings' part (gpt2), else nil.
    public var positionEmbed: Double?
    /// [block][head]: each head's z through its slice of W_O.
    public var heads: [[Double]]
    /// [block]: each attention layer's output bias, or nil for families without one.
    public var attentionBias: [Double]?
    /// [block]: each MLP's output, its biases included.
    public var mlp: [Double]
    /// The final norm's bias (LayerNorm families), through the unembedding; 0 for RMSNorm.
    public var normBias: Double
    /// [block + 1]: the residual stream entering each block, then leaving the
    /// last, through the frozen final norm (its bias included): the logit
    /// the model would give if it stopped there.
    public var accumulated: [Double]
    /// The frozen final-norm scale at the position: 1 / RMS, or 1 / std for a LayerNorm.
    public var finalScale: Double
    /// Σ of every part above.
    public var total: Double
    /// The model's own logit (difference) at the position, from its logits;
    /// before Gemma 2's soft cap, which is undone (cap · atanh(l / cap)).
    public var modelLogit: Double
    /// The final soft cap, if the family has one.
    public var softcap: Double?

    enum CodingKeys: String, CodingKey {
        case position, target, counterfactual, embed, positionEmbed = "position_embed", heads, attentionBias = "attention_bias", mlp,
             normBias = "norm_bias", accumulated, finalScale = "final_scale", total, modelLogit = "model_logit", softcap
    }

    /// |total − modelLogit|: what float rounding left.
    public var residual: Double { abs(total - modelLogit) }

    /// Every part, in residual-stream order.
    public var partsSum: Double {
        embed + (positionEmbed ?? 0) + heads.joined().reduce(0, +) + (attentionBias ?? []).reduce(0, +) + mlp.reduce(0, +) + normBias
    }
}

extension Model {
    /// The hooks `directLogitAttribution` reads.
    public static let attributionHooks = ["hook_*", "blocks.*.hook_resid_pre", "blocks.*.hook_resid_post", "blocks.*.attn.hook_z",
                                          "blocks.*.hook_mlp_out"]

    /// Direct logit attribution (see `LogitAttribution`) at `position` of a
    /// pass whose cache holds `attributionHooks` and whose logits were kept.
    public func directLogitAttribution(_ pass: ForwardResult, position p: Int, target: Int,
                                       counterfactual: Int? = nil) throws -> LogitAttribution {
        let c = config, d = c.dModel, L = c.layers, H = c.heads, hd = c.headDim, inner = H * hd
        let cache = pass.cache
        func need(_ hook: HookPoint) throws -> Tensor {
            guard let t = cache[hook] else {
                throw ModelError.internalInconsistency("logit attribution needs \(hook.name), which the pass did not record")
            }
            return t
        }
        guard let logits = pass.logits else {
            throw ModelError.internalInconsistency("logit attribution needs the pass's logits")
        }
        let t = logits.shape[0]
        guard (0 ..< t).contains(p) else {
            throw ModelError.internalInconsistency("position \(p) is outside the pass's \(t) positions")
        }
        for id in [target] + (counterfactual.map { [$0] } ?? []) where !(0 ..< c.vocabularySize).contains(id) {
            throw ModelError.internalInconsistency("token \(id) is outside the vocabulary")
        }

        // The direction u = W_U[target] − W_U[counterfactual], in Float64.
        let w = weights
        var u = [Double](repeating: 0, count: d)
        for j in 0 ..< d { u[j] = Double(w.unembedding[target * d + j]) }
        if let cf = counterfactual { for j in 0 ..< d { u[j] -= Double(w.unembedding[cf * d + j]) } }

        // The frozen final norm: logit = x · g + bias term.
        let last = try need(.residPost(L - 1))
        let xFinal = last.row(p).map(Double.init)
        var g = (0 ..< d).map { Double(w.finalNorm[$0]) * u[$0] }
        let scale: Double
        var normBias = 0.0
        if let bias = w.finalNormBias {
            let mean = xFinal.reduce(0, +) / Double(d)
            let variance = xFinal.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d)
            scale = 1 / (variance + Double(c.normEpsilon)).squareRoot()
            let meanG = g.reduce(0, +) / Double(d)
            for j in 0 ..< d { g[j] = scale * (g[j] - meanG) }
            for j in 0 ..< d { normBias += Double(bias[j]) * u[j] }
        } else {
            scale = 1 / (xFinal.reduce(0) { $0 + $1 * $1 } / Double(d) + Double(c.normEpsilon)).squareRoot()
            for j in 0 ..< d { g[j] *= scale }
        }
        func dot(_ row: ArraySlice<Float>, _ v: [Double]) -> Double {
            var s = 0.0
            for (j, x) in row.enumerated() { s += Double(x) * v[j] }
            return s
        }

        let embed = dot(try need(.embed).row(p), g)
        let positionEmbed = w.positionEmbedding == nil ? nil : dot(try need(.posEmbed).row(p), g)
        var heads: [[Double]] = [], biases: [Double] = [], mlp: [Double] = [], accumulated: [Double] = []
        for l in 0 ..< L {
            accumulated.append(dot(try need(.residPre(l)).row(p), g) + normBias)
            let b = w.blocks[l]
            let z = try need(.z(l)).data[(p * inner) ..< ((p + 1) * inner)].map(Double.init)
            // The direction each head's output meets: g, or for a post-normed
            // attention (Gemma 2) g through that norm with its scale frozen.
            var gl = g
            if let post = b.postAttnNorm {
                var raw = [Double](repeating: 0, count: d), ss = 0.0
                for col in 0 ..< d {
                    var s = b.bo.map { Double($0[col]) } ?? 0
                    for i in 0 ..< inner { s += Double(b.wo[col * inner + i]) * z[i] }
                    raw[col] = s
                    ss += s * s
                }
                let inv = 1 / (ss / Double(d) + Double(c.normEpsilon)).squareRoot()
                for j in 0 ..< d { gl[j] = g[j] * Double(post[j]) * inv }
            }
            // G = W_Oᵀ gl [H·hd]: head h's part is z_h · G_h.
            var G = [Double](repeating: 0, count: inner)
            for col in 0 ..< d where gl[col] != 0 {
                let gc = gl[col], rowStart = col * inner
                for i in 0 ..< inner { G[i] += Double(b.wo[rowStart + i]) * gc }
            }
            heads.append((0 ..< H).map { h in
                var s = 0.0
                for e in 0 ..< hd { s += z[h * hd + e] * G[h * hd + e] }
                return s
            })
            if let bo = b.bo { biases.append((0 ..< d).reduce(0) { $0 + Double(bo[$1]) * gl[$1] }) }
            mlp.append(dot(try need(.mlpOut(l)).row(p), g))
        }
        accumulated.append(dot(last.row(p), g) + normBias)

        // The model's own logit (difference), the soft cap undone.
        let cap = c.finalSoftcap.map(Double.init)
        func preCap(_ id: Int) -> Double {
            let l = Double(logits.data[p * c.vocabularySize + id])
            guard let cap else { return l }
            return cap * atanh(max(-1 + 1e-15, min(1 - 1e-15, l / cap)))
        }
        let model = preCap(target) - (counterfactual.map(preCap) ?? 0)
        var a = LogitAttribution(position: p, target: target, counterfactual: counterfactual, embed: embed, positionEmbed: positionEmbed,
                                 heads: heads, attentionBias: w.blocks.first?.bo == nil ? nil : biases, mlp: mlp, normBias: normBias,
                                 accumulated: accumulated, finalScale: scale, total: 0, modelLogit: model, softcap: cap)
        a.total = a.partsSum
        return a
    }
}
