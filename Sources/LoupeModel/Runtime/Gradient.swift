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

    /// Whether the objective reads the logits (so the pass runs to the end).
    var readsLogits: Bool {
        if case .logit = self { return true }
        return false
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
    /// The objective's value at each position it reads, in order: the value
    /// is their sum (their mean, for the mean objectives). Text deep dream
    /// reads its per-token activations here.
    public let terms: [Float]
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
        try gradient(of: [objective], batch: [embeddings], hooks: hooks, fullForward: fullForward)[0]
    }

    /// The gradient of `objectives[s]` on input `batch[s]` for every s, in
    /// one packed forward and backward pass (see `forward(batch:)`): each
    /// result equals `gradient(of:embeddings:)` on its own input to float
    /// rounding. The objectives must stop at the same block and read the
    /// same kind of activation there (all neurons, all directions, or all
    /// logits), since one pass serves them all.
    public func gradient(of objectives: [Objective], batch: [Tensor], hooks: HookFilter = .none,
                         fullForward: Bool = false, rowsPerPass: Int = Model.rowsPerPass) throws -> [Gradient] {
        let c = config, d = c.dModel
        guard objectives.count == batch.count, !batch.isEmpty else {
            throw ModelError.badObjective("\(objectives.count) objectives for \(batch.count) inputs")
        }
        var resolved: [Objective] = []
        for (s, (objective, embeddings)) in zip(objectives, batch).enumerated() {
            let t = embeddings.shape.first ?? 0
            func inBatch(_ error: ModelError) -> ModelError { batch.count == 1 ? error : .inBatch(sequence: s, count: batch.count, error: error) }
            guard embeddings.shape == [t, d], t > 0 else {
                throw inBatch(.badTensorShape(path: path, tensor: "input embeddings", expected: [max(t, 1), d], found: embeddings.shape))
            }
            guard t <= c.contextLength else { throw inBatch(.promptTooLong(tokens: t, context: c.contextLength)) }
            do { resolved.append(try resolve(objective, tokens: t)) } catch let error as ModelError { throw inBatch(error) }
        }
        let stop = { (o: Objective) in [o.lastBlock ?? c.layers - 1, o.readsMLP ? 1 : 0, o.readsLogits ? 1 : 0] }
        guard resolved.allSatisfy({ stop($0) == stop(resolved[0]) }) else {
            throw ModelError.badObjective("the objectives of one batch must read the same block and the same kind of activation")
        }
        let want = try hooks.resolve(config)
        return try inPasses(batch.map { $0.shape[0] }, rowsPerPass: rowsPerPass) { pass in
            try gradientPass(of: pass.map { resolved[$0] }, batch: pass.map { batch[$0] }, hooks: want, fullForward: fullForward)
        }
    }

    /// One packed pass of `gradient(of:batch:)`, on checked objectives.
    private func gradientPass(of resolved: [Objective], batch: [Tensor], hooks want: Set<HookPoint>,
                              fullForward: Bool) throws -> [Gradient] {
        let c = config, w = weights
        let d = c.dModel, m = c.dMLP
        let qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim
        let last = resolved[0].lastBlock ?? c.layers - 1
        let readsMLP = resolved[0].readsMLP
        let packing = Packing(lengths: batch.map { $0.shape[0] }, heads: c.heads)
        let t = packing.rows, n = packing.count
        let embeddings = batch.count == 1 ? batch[0].data : batch.flatMap(\.data)
        let rotary = c.rotary ? rotaryTables(positions: packing.longest, config: c) : nil

        // Forward, keeping what the backward pass needs.
        if fullForward, last < c.layers - 1 {
            // The rest of the model on the same input, for timing parity
            // with frameworks that cannot stop early; nothing reads it.
            _ = try run(embeddings: embeddings, packing: packing, ids: [], hooks: .none, lastBlock: nil, checkFinite: false)
        }
        let state = try run(embeddings: embeddings, packing: packing, ids: [], hooks: .none, lastBlock: last, checkFinite: true,
                            keepTape: true, skipLastMLPOutput: readsMLP)
        let tapes = state.tape, x = state.residual
        var h = [Float](repeating: 0, count: t * d)
        if resolved[0].readsLogits { norm(x, w.finalNorm, w.finalNormBias, into: &h, rows: t) }

        // Each objective's value, and the gradient where it is read.
        var terms = [[Float]](repeating: [], count: n)
        var dx = [Float](repeating: 0, count: t * d)      // d objective / d residual stream
        var dhFinal = [Float](repeating: 0, count: resolved[0].readsLogits ? t * d : 0)
        var seedPost = [Float](repeating: 0, count: readsMLP ? t * m : 0) // d objective / d post of the last block
        for (s, objective) in resolved.enumerated() {
            let start = packing.starts[s], length = packing.lengths[s]
            switch objective {
            case let .neuron(_, index, position):
                for p in position.map({ [$0] }) ?? Array(0 ..< length) {
                    terms[s].append(tapes[last].post[(start + p) * m + index])
                    seedPost[(start + p) * m + index] = 1
                }
            case let .neuronMean(_, index, from):
                let scale = 1 / Float(length - from)
                for p in from ..< length {
                    terms[s].append(tapes[last].post[(start + p) * m + index])
                    seedPost[(start + p) * m + index] = scale
                }
            case let .direction(_, vector, position):
                var dot: Float = 0
                for j in 0 ..< d {
                    dot += x[(start + position) * d + j] * vector[j]
                    dx[(start + position) * d + j] = vector[j]
                }
                terms[s] = [dot]
            case let .directionMean(_, vector, from):
                let scale = 1 / Float(length - from)
                for p in from ..< length {
                    var dot: Float = 0
                    for j in 0 ..< d {
                        dot += x[(start + p) * d + j] * vector[j]
                        dx[(start + p) * d + j] = vector[j] * scale
                    }
                    terms[s].append(dot)
                }
            case let .logit(token, position):
                let row = start + position
                var raw: Float = 0
                for j in 0 ..< d { raw += h[row * d + j] * w.unembedding[token * d + j] }
                // A final soft cap: logit = cap·tanh(raw / cap), d logit / d raw = 1 − tanh².
                var slope: Float = 1
                if let cap = c.finalSoftcap {
                    let th = tanhf(raw / cap)
                    terms[s] = [cap * th]
                    slope = 1 - th * th
                } else {
                    terms[s] = [raw]
                }
                for j in 0 ..< d { dhFinal[row * d + j] = slope * w.unembedding[token * d + j] }
            }
        }
        if resolved[0].readsLogits { normBackward(dhFinal, x, w.finalNorm, w.finalNormBias, into: &dx, rows: t) }

        // Backward, block by block.
        var grads = [[HookPoint: Tensor]](repeating: [:], count: n)
        func keep(_ hook: HookPoint, _ data: [Float]) {
            guard want.contains(hook) else { return }
            for s in 0 ..< n { grads[s][hook] = packing.tensor(hook, data, sequence: s, config: c) }
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
            if l == last, readsMLP {
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
            var dPattern = [Float](repeating: 0, count: packing.patternCount)
            // Within each sequence only, as in the forward pass.
            dz.withUnsafeBufferPointer { dzs in
            tape.q.withUnsafeBufferPointer { qs in
            tape.k.withUnsafeBufferPointer { ks in
            tape.v.withUnsafeBufferPointer { vs in
            tape.pattern.withUnsafeBufferPointer { ps in
            dq.withUnsafeMutableBufferPointer { dqs in
            dk.withUnsafeMutableBufferPointer { dks in
            dv.withUnsafeMutableBufferPointer { dvs in
            dPattern.withUnsafeMutableBufferPointer { dps in
                for s in 0 ..< n {
                    let q0 = packing.starts[s] * qDim, kv0 = packing.starts[s] * kvDim, p0 = packing.patternStarts[s]
                    causalAttentionBackward(dz: dzs.baseAddress! + q0, q: qs.baseAddress! + q0, k: ks.baseAddress! + kv0,
                                            v: vs.baseAddress! + kv0, pattern: ps.baseAddress! + p0,
                                            dq: dqs.baseAddress! + q0, dk: dks.baseAddress! + kv0, dv: dvs.baseAddress! + kv0,
                                            dPattern: dps.baseAddress! + p0, rows: packing.lengths[s], heads: c.heads,
                                            kvHeads: c.kvHeads, headDim: c.headDim, scale: c.attentionScale, softcap: c.attentionSoftcap)
                }
            }}}}}}}}}
            keep(.pattern(l), dPattern)
            keep(.v(l), dv)
            if let rotary {
                keep(.rotQ(l), dq)
                keep(.rotK(l), dk)
                rotary.cos.withUnsafeBufferPointer { cs in
                rotary.sin.withUnsafeBufferPointer { sn in
                dq.withUnsafeMutableBufferPointer { dqs in
                dk.withUnsafeMutableBufferPointer { dks in
                    for s in 0 ..< n {
                        applyRotaryBackward(dqs.baseAddress! + packing.starts[s] * qDim, rows: packing.lengths[s], heads: c.heads,
                                            headDim: c.headDim, rotaryDims: c.ropeDimensions, cos: cs.baseAddress!, sin: sn.baseAddress!)
                        applyRotaryBackward(dks.baseAddress! + packing.starts[s] * kvDim, rows: packing.lengths[s], heads: c.kvHeads,
                                            headDim: c.headDim, rotaryDims: c.ropeDimensions, cos: cs.baseAddress!, sin: sn.baseAddress!)
                    }
                }}}}
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
        return try (0 ..< n).map { s in
            let rows = packing.rows(s)
            let ds = n == 1 ? dx : Array(dx[rows.lowerBound * d ..< rows.upperBound * d])
            let value: Float = switch resolved[s] {
            case .neuronMean, .directionMean: terms[s].reduce(0, +) / Float(terms[s].count)
            default: terms[s].reduce(0, +)
            }
            if ds.contains(where: { !$0.isFinite }) || !value.isFinite {
                let error = ModelError.nonFiniteGradient(objective: resolved[s].description)
                throw n == 1 ? error : ModelError.inBatch(sequence: s, count: n, error: error)
            }
            return Gradient(value: value, terms: terms[s], embeddings: Tensor(shape: [rows.count, d], data: ds), hooks: grads[s])
        }
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
