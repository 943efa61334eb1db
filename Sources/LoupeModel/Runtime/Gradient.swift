import Foundation

/// A scalar function of the forward pass, to differentiate.
public enum Objective: Sendable, Equatable, CustomStringConvertible {
    /// `blocks.{layer}.mlp.hook_post[position, index]`; a nil position sums over all positions.
    case neuron(layer: Int, index: Int, position: Int?)
    /// ⟨`blocks.{layer}.hook_resid_post[position]`, vector⟩, a direction in the residual stream.
    case direction(layer: Int, vector: [Float], position: Int)
    /// `logits[position, token]`.
    case logit(token: Int, position: Int)
    /// The mean of `blocks.{layer}.mlp.hook_post[p, index]` over positions p ≥ `from`
    /// (text deep dream: the free positions after a fixed prefix).
    case neuronMean(layer: Int, index: Int, from: Int)
    /// The mean of ⟨`blocks.{layer}.hook_resid_post[p]`, vector⟩ over positions p ≥ `from`.
    case directionMean(layer: Int, vector: [Float], from: Int)

    public var description: String {
        switch self {
        case let .neuron(l, i, p): "neuron \(i) of blocks.\(l).mlp.hook_post" + (p.map { " at position \($0)" } ?? " summed over positions")
        case let .direction(l, _, p): "a direction in blocks.\(l).hook_resid_post at position \(p)"
        case let .logit(t, p): "the logit of token \(t) at position \(p)"
        case let .neuronMean(l, i, f): "the mean of neuron \(i) of blocks.\(l).mlp.hook_post from position \(f)"
        case let .directionMean(l, _, f): "the mean of a direction in blocks.\(l).hook_resid_post from position \(f)"
        }
    }

    /// Whether the objective reads an MLP activation (so its block's MLP output is not needed).
    var readsMLP: Bool {
        switch self {
        case .neuron, .neuronMean: true
        default: false
        }
    }

    /// The last block the forward pass must run (nil: all, and the unembedding).
    var lastBlock: Int? {
        switch self {
        case let .neuron(l, _, _), let .direction(l, _, _), let .neuronMean(l, _, _), let .directionMean(l, _, _): l
        case .logit: nil
        }
    }
}

/// The gradient of an objective.
public struct Gradient: Sendable {
    /// The objective's value.
    public let value: Float
    /// d objective / d input embedding rows [T, d] (for gpt2, the token rows before positions are added).
    public let embeddings: Tensor
    /// Gradients at the hook points asked for (same shapes as the activations).
    public let hooks: [HookPoint: Tensor]
}

extension Model {
    /// The token-embedding rows of `ids` [T, d]: the input a gradient is taken
    /// with respect to (for gpt2, positions are added inside the model).
    public func embed(_ ids: [Int]) throws -> Tensor {
        try validate(ids)
        let d = config.dModel
        var out = [Float](repeating: 0, count: ids.count * d)
        // Gemma's embedding layer multiplies its rows by √d (transformers'
        // scaled word embedding): the rows fed in are the scaled ones.
        let scale = config.embeddingScale ?? 1
        for (p, id) in ids.enumerated() { for j in 0 ..< d { out[p * d + j] = weights.tokenEmbedding[id * d + j] * scale } }
        return Tensor(shape: [ids.count, d], data: out)
    }

    /// The gradient of `objective` on the prompt `ids`.
    public func gradient(of objective: Objective, ids: [Int], hooks: HookFilter = .none) throws -> Gradient {
        try gradient(of: objective, embeddings: try embed(ids), hooks: hooks)
    }

    /// The gradient of `objective` with the input given as embedding rows
    /// [T, d] (which need not be rows of the embedding matrix: text deep
    /// dream feeds mixtures of them). The forward pass stops at the
    /// objective's block.
    /// With `fullForward`, the forward pass runs every block and the
    /// unembedding even when the objective is read earlier (only to compare
    /// timings with frameworks that cannot stop early).
    public func gradient(of objective: Objective, embeddings: Tensor, hooks: HookFilter = .none,
                         fullForward: Bool = false) throws -> Gradient {
        let c = config, w = weights
        let d = c.dModel, m = c.dMLP, t = embeddings.shape.first ?? 0
        let qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim
        guard embeddings.shape == [t, d], t > 0 else {
            throw ModelError.badTensorShape(path: path, tensor: "input embeddings", expected: [max(t, 1), d], found: embeddings.shape)
        }
        guard t <= c.contextLength else { throw ModelError.promptTooLong(tokens: t, context: c.contextLength) }
        let objective = try resolve(objective, tokens: t)
        let want = try hooks.resolve(config)
        let last = objective.lastBlock ?? c.layers - 1
        let rotary = c.rotary ? rotaryTables(positions: t, config: c) : nil

        // Forward, keeping what the backward pass needs.
        if fullForward, last < c.layers - 1 {
            // The rest of the model on the same input, for timing parity
            // with frameworks that cannot stop early; nothing reads it.
            _ = try run(embeddings: embeddings.data, ids: [], hooks: .none, lastBlock: nil, checkFinite: false)
        }
        let state = try run(embeddings: embeddings.data, ids: [], hooks: .none, lastBlock: last, checkFinite: true,
                            keepTape: true, skipLastMLPOutput: objective.readsMLP)
        let tapes = state.tape, x = state.residual
        var h = [Float](repeating: 0, count: t * d)

        // The objective's value, and the gradient where it is read.
        var value: Float = 0
        var dx = [Float](repeating: 0, count: t * d)      // d objective / d residual stream
        var seedPost: [Float]?                           // d objective / d post of the last block
        switch objective {
        case let .neuron(_, index, position):
            var seed = [Float](repeating: 0, count: t * m)
            for p in position.map({ [$0] }) ?? Array(0 ..< t) {
                value += tapes[last].post[p * m + index]
                seed[p * m + index] = 1
            }
            seedPost = seed
        case let .neuronMean(_, index, from):
            var seed = [Float](repeating: 0, count: t * m)
            let scale = 1 / Float(t - from)
            for p in from ..< t {
                value += tapes[last].post[p * m + index] * scale
                seed[p * m + index] = scale
            }
            seedPost = seed
        case let .direction(_, vector, position):
            for j in 0 ..< d {
                value += x[position * d + j] * vector[j]
                dx[position * d + j] = vector[j]
            }
        case let .directionMean(_, vector, from):
            let scale = 1 / Float(t - from)
            for p in from ..< t {
                for j in 0 ..< d {
                    value += x[p * d + j] * vector[j] * scale
                    dx[p * d + j] = vector[j] * scale
                }
            }
        case let .logit(token, position):
            norm(x, w.finalNorm, w.finalNormBias, into: &h, rows: t)
            var raw: Float = 0
            for j in 0 ..< d { raw += h[position * d + j] * w.unembedding[token * d + j] }
            // A final soft cap: logit = cap·tanh(raw / cap), d logit / d raw = 1 − tanh².
            var slope: Float = 1
            if let cap = c.finalSoftcap {
                let th = tanhf(raw / cap)
                value = cap * th
                slope = 1 - th * th
            } else {
                value = raw
            }
            var dh = [Float](repeating: 0, count: t * d)
            for j in 0 ..< d { dh[position * d + j] = slope * w.unembedding[token * d + j] }
            normBackward(dh, x, w.finalNorm, w.finalNormBias, into: &dx, rows: t)
        }

        // Backward, block by block.
        var grads: [HookPoint: Tensor] = [:]
        func keep(_ hook: HookPoint, _ data: [Float]) {
            if want.contains(hook) { grads[hook] = Tensor(shape: hook.shape(config: c, tokens: t), data: data) }
        }
        var dh = [Float](repeating: 0, count: t * d)
        for l in stride(from: last, through: 0, by: -1) {
            let b = w.blocks[l], tape = tapes[l]
            // dx holds d objective / d resid_post. Both branches' outputs add
            // to the residual stream, so each output's gradient is dx (for a
            // sequential block, the attention output's is dx at resid_mid).
            let dBlockOut = dx
            // MLP: out = postNorm(post · Wdᵀ), post = act(pre)(·up).
            var dPost = [Float](repeating: 0, count: t * m)
            if l == last, let seedPost {
                dPost = seedPost
            } else {
                keep(.residPost(l), dx)
                keep(.mlpOut(l), dx)
                var dDown = dx
                if let postNorm = b.postMLPNorm {
                    dDown = [Float](repeating: 0, count: t * d)
                    normBackward(dx, tape.mlpRaw, postNorm, nil, into: &dDown, rows: t)
                }
                linearBackward(dDown, b.wDown, &dPost, rows: t, in: m, out: d)
            }
            keep(.mlpPost(l), dPost)
            var dPre = [Float](repeating: 0, count: t * m)
            if let gate = b.wGate {
                var dUp = [Float](repeating: 0, count: t * m)
                for i in 0 ..< t * m {
                    dPre[i] = dPost[i] * tape.up[i] * activationGrad(tape.pre[i], c.activation)
                    dUp[i] = dPost[i] * activate(tape.pre[i], c.activation)
                }
                keep(.mlpPreLinear(l), dUp)
                linearBackward(dPre, gate, &dh, rows: t, in: d, out: m)
                linearBackward(dUp, b.wUp, &dh, rows: t, in: d, out: m, accumulate: true)
            } else {
                for i in 0 ..< t * m { dPre[i] = dPost[i] * activationGrad(tape.pre[i], c.activation) }
                linearBackward(dPre, b.wUp, &dh, rows: t, in: d, out: m)
            }
            keep(.mlpPre(l), dPre)
            // The MLP norm read resid_mid (sequential) or resid_pre (parallel);
            // its gradient joins the residual's either way.
            normBackward(dh, tape.mlpIn, b.mlpNorm, b.mlpNormBias, into: &dx, rows: t)
            // The attention output's gradient: at resid_mid (sequential), or
            // the block output's (parallel, where resid_pre = resid_mid's place).
            let dAttnOut = c.parallelResidual ? dBlockOut : dx
            if !c.parallelResidual { keep(.residMid(l), dx) }
            keep(.attnOut(l), dAttnOut)

            // Attention: out = postNorm(z · Woᵀ).
            var dO = dAttnOut
            if let postNorm = b.postAttnNorm {
                dO = [Float](repeating: 0, count: t * d)
                normBackward(dAttnOut, tape.attnRaw, postNorm, nil, into: &dO, rows: t)
            }
            var dz = [Float](repeating: 0, count: t * qDim)
            linearBackward(dO, b.wo, &dz, rows: t, in: qDim, out: d)
            keep(.z(l), dz)
            var dq = [Float](repeating: 0, count: t * qDim), dk = [Float](repeating: 0, count: t * kvDim), dv = dk
            var dPattern = [Float](repeating: 0, count: c.heads * t * t)
            causalAttentionBackward(dz: dz, q: tape.q, k: tape.k, v: tape.v, pattern: tape.pattern, dq: &dq, dk: &dk, dv: &dv,
                                    dPattern: &dPattern, rows: t, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                                    scale: c.attentionScale, softcap: c.attentionSoftcap)
            keep(.pattern(l), dPattern)
            keep(.v(l), dv)
            if let rotary {
                keep(.rotQ(l), dq)
                keep(.rotK(l), dk)
                applyRotaryBackward(&dq, rows: t, heads: c.heads, headDim: c.headDim, rotaryDims: c.ropeDimensions, cos: rotary.cos, sin: rotary.sin)
                applyRotaryBackward(&dk, rows: t, heads: c.kvHeads, headDim: c.headDim, rotaryDims: c.ropeDimensions, cos: rotary.cos, sin: rotary.sin)
            }
            keep(.q(l), dq)
            keep(.k(l), dk)
            linearBackward(dq, b.wq, &dh, rows: t, in: d, out: qDim)
            linearBackward(dk, b.wk, &dh, rows: t, in: d, out: kvDim, accumulate: true)
            linearBackward(dv, b.wv, &dh, rows: t, in: d, out: kvDim, accumulate: true)
            // Sequential: dx is at resid_mid, and resid_pre adds the attention
            // branch. Parallel: dx already holds the block output's gradient
            // plus the MLP branch's, and the attention branch adds to it.
            normBackward(dh, tape.xIn, b.attnNorm, b.attnNormBias, into: &dx, rows: t)
            keep(.residPre(l), dx)
        }
        keep(.embed, dx)
        let bad = dx.contains { !$0.isFinite } || !value.isFinite
        if bad { throw ModelError.nonFiniteGradient(objective: objective.description) }
        return Gradient(value: value, embeddings: Tensor(shape: [t, d], data: dx), hooks: grads)
    }

    /// Checks an objective against the model and resolves negative positions.
    func resolve(_ objective: Objective, tokens t: Int) throws -> Objective {
        let c = config
        func position(_ p: Int) throws -> Int {
            let r = p < 0 ? t + p : p
            guard r >= 0, r < t else { throw ModelError.badObjective("position \(p) is outside the prompt's \(t) tokens") }
            return r
        }
        func layer(_ l: Int) throws {
            guard l >= 0, l < c.layers else { throw ModelError.badObjective("layer \(l) is out of range (the model has blocks 0 to \(c.layers - 1))") }
        }
        switch objective {
        case let .neuron(l, i, p):
            try layer(l)
            guard i >= 0, i < c.dMLP else { throw ModelError.badObjective("neuron \(i) is out of range (the MLP has neurons 0 to \(c.dMLP - 1))") }
            return .neuron(layer: l, index: i, position: try p.map(position))
        case let .direction(l, v, p):
            try layer(l)
            guard v.count == c.dModel else {
                throw ModelError.badObjective("the direction has \(v.count) values but the residual stream has \(c.dModel)")
            }
            return .direction(layer: l, vector: v, position: try position(p))
        case let .logit(tok, p):
            guard tok >= 0, tok < c.vocabularySize else { throw ModelError.tokenOutOfVocabulary(id: tok, vocabularySize: c.vocabularySize) }
            return .logit(token: tok, position: try position(p))
        case let .neuronMean(l, i, f):
            _ = try resolve(.neuron(layer: l, index: i, position: nil), tokens: t)
            guard f >= 0, f < t else { throw ModelError.badObjective("no positions from \(f) in a prompt of \(t) tokens") }
            return objective
        case let .directionMean(l, v, f):
            _ = try resolve(.direction(layer: l, vector: v, position: 0), tokens: t)
            guard f >= 0, f < t else { throw ModelError.badObjective("no positions from \(f) in a prompt of \(t) tokens") }
            return objective
        }
    }

    private func normBackward(_ dy: [Float], _ x: [Float], _ w: [Float], _ bias: [Float]?, into dx: inout [Float], rows t: Int) {
        if bias != nil {
            layerNormBackward(dy, x, w, &dx, rows: t, dim: config.dModel, eps: config.normEpsilon)
        } else {
            rmsNormBackward(dy, x, w, &dx, rows: t, dim: config.dModel, eps: config.normEpsilon)
        }
    }
}

/// A relaxed input: rows that are probability mixtures of token embeddings,
/// for optimising text by gradient (text deep dream).
extension Model {
    /// P [N, V] · E [V, d]: the embedding rows of N probability mixtures
    /// (times Gemma's √d, as `embed` gives them).
    public func mixedEmbeddings(_ probabilities: [Float], rows n: Int) -> Tensor {
        let d = config.dModel, v = config.vocabularySize
        precondition(probabilities.count == n * v, "mixture probabilities must be [\(n), \(v)]")
        var out = [Float](repeating: 0, count: n * d)
        BLAS.sgemm(transA: false, transB: false, m: n, n: d, k: v, alpha: config.embeddingScale ?? 1, a: probabilities, lda: v,
                   b: weights.tokenEmbedding, ldb: d, beta: 0, c: &out, ldc: d)
        return Tensor(shape: [n, d], data: out)
    }

    /// The backward of `mixedEmbeddings`: dP [N, V] = dEmb [N, d] · Eᵀ.
    public func mixtureGradient(_ dEmbeddings: Tensor) -> [Float] {
        let d = config.dModel, v = config.vocabularySize, n = dEmbeddings.shape[0]
        var out = [Float](repeating: 0, count: n * v)
        BLAS.sgemm(transA: false, transB: true, m: n, n: v, k: d, alpha: config.embeddingScale ?? 1, a: dEmbeddings.data, lda: d,
                   b: weights.tokenEmbedding, ldb: d, beta: 0, c: &out, ldc: v)
        return out
    }
}
