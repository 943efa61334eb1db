/// What the forward pass keeps of one block for the backward pass.
struct BlockTape {
    var xIn: [Float]       // [T, d] resid_pre
    var q: [Float]         // [T, H·hd] after rotary
    var k: [Float]         // [T, Hkv·hd] after rotary
    var v: [Float]         // [T, Hkv·hd]
    var pattern: [Float]   // [H, T, T]
    var mlpIn: [Float]     // [T, d] the MLP norm's input: resid_mid, or resid_pre for a parallel block
    var pre: [Float]       // [T, m] gate (gated MLPs) or up (plain MLPs) pre-activation
    var up: [Float]        // [T, m] up projection (gated MLPs; empty otherwise)
    var post: [Float]      // [T, m]
    var attnRaw: [Float]   // [T, d] attention output before its post-norm (gemma2; empty otherwise)
    var mlpRaw: [Float]    // [T, d] MLP output before its post-norm (gemma2; empty otherwise)
}

/// The result of a forward pass.
public struct ForwardResult: Sendable {
    /// The token ids that were run.
    public let ids: [Int]
    /// [T, V] logits; position t predicts token t + 1. Nil when the pass
    /// stopped early at a block.
    public let logits: Tensor?
    /// The hook points that were asked for.
    public let cache: ActivationCache
}

extension Model {
    /// Runs the model on `ids`, recording the hook points `hooks` selects.
    /// With `lastBlock`, stops after that block (no final norm, no logits).
    /// Throws for empty or over-long input, ids outside the vocabulary, and
    /// NaN or infinite activations (naming the first hook where they appear).
    public func forward(_ ids: [Int], hooks: HookFilter = .all, lastBlock: Int? = nil) throws -> ForwardResult {
        try run(ids, hooks: hooks, lastBlock: lastBlock, checkFinite: true)
    }

    func run(_ ids: [Int], hooks: HookFilter, lastBlock: Int?, checkFinite check: Bool) throws -> ForwardResult {
        try run(embeddings: try embed(ids).data, ids: ids, hooks: hooks, lastBlock: lastBlock, checkFinite: check).result
    }

    /// What the forward pass hands back to its callers inside the runtime.
    struct ForwardState {
        var result: ForwardResult
        /// The residual stream after the last block run [T, d].
        var residual: [Float]
        /// Per block, what the backward pass needs (empty unless asked for).
        var tape: [BlockTape]
    }

    /// The forward pass over input embedding rows [T, d] (token rows; gpt2
    /// positions are added here). `keepTape` keeps each block's activations
    /// for the backward pass; `skipLastMLPOutput` stops the last block after
    /// its MLP activation, for objectives that read it.
    func run(embeddings: [Float], ids: [Int], hooks: HookFilter, lastBlock: Int?, checkFinite check: Bool,
             keepTape: Bool = false, skipLastMLPOutput: Bool = false) throws -> ForwardState {
        if let lastBlock, !(0 ..< config.layers).contains(lastBlock) {
            throw ModelError.badObjective("block \(lastBlock) is out of range (the model has blocks 0 to \(config.layers - 1))")
        }
        let want = try hooks.resolve(config)
        let c = config, w = weights
        let d = c.dModel, m = c.dMLP, t = embeddings.count / d
        guard t > 0, embeddings.count == t * d else { throw ModelError.emptyPrompt }
        guard t <= c.contextLength else { throw ModelError.promptTooLong(tokens: t, context: c.contextLength) }
        let qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim
        let stopAt = min(lastBlock ?? c.layers - 1, c.layers - 1)
        var cache = ActivationCache()
        var tape: [BlockTape] = []
        func record(_ hook: HookPoint, _ data: [Float]) {
            if want.contains(hook) { cache.record(hook, Tensor(shape: hook.shape(config: c, tokens: t), data: data)) }
        }
        func finite(_ values: [Float], _ hook: HookPoint, width: Int) throws {
            if check { try checkFinite(values, hook: hook, width: width, embeddings: embeddings, cache: cache) }
        }

        // Residual stream x [T, d].
        var x = embeddings
        record(.embed, x)
        if let pos = w.positionEmbedding {
            let posRows = Array(pos[0 ..< t * d])
            record(.posEmbed, posRows)
            for i in 0 ..< t * d { x[i] += posRows[i] }
        }

        let rotary = c.rotary ? rotaryTables(positions: t, config: c) : nil

        // Scratch buffers, reused by every block.
        var h = [Float](repeating: 0, count: t * d)        // normed input [T, d]
        var q = [Float](repeating: 0, count: t * qDim)     // [T, H, hd]
        var k = [Float](repeating: 0, count: t * kvDim)    // [T, Hkv, hd]
        var v = [Float](repeating: 0, count: t * kvDim)    // [T, Hkv, hd]
        var pattern = [Float](repeating: 0, count: c.heads * t * t) // [H, T, T]
        var z = [Float](repeating: 0, count: t * qDim)     // [T, H, hd]
        var attnOut = [Float](repeating: 0, count: t * d)  // [T, d]
        var out = [Float](repeating: 0, count: t * d)      // MLP output [T, d]
        var raw = [Float](repeating: 0, count: t * d)      // an output before its post-norm [T, d]
        var pre = [Float](repeating: 0, count: t * m)      // [T, m]
        var up = [Float](repeating: 0, count: t * m)       // [T, m]
        var post = [Float](repeating: 0, count: t * m)     // [T, m]

        for l in 0 ... stopAt {
            let b = w.blocks[l]
            let xIn = x
            record(.residPre(l), x)

            // Attention.
            norm(x, b.attnNorm, b.attnNormBias, into: &h, rows: t)
            project(h, b.wq, b.bq, into: &q, rows: t, in: d, out: qDim)
            project(h, b.wk, b.bk, into: &k, rows: t, in: d, out: kvDim)
            project(h, b.wv, b.bv, into: &v, rows: t, in: d, out: kvDim)
            record(.q(l), q)
            record(.k(l), k)
            record(.v(l), v)
            if let rotary {
                rotary.cos.withUnsafeBufferPointer { cs in
                    rotary.sin.withUnsafeBufferPointer { sn in
                        applyRotary(&q, rows: t, heads: c.heads, headDim: c.headDim, rotaryDims: c.ropeDimensions,
                                    cos: cs.baseAddress!, sin: sn.baseAddress!)
                        applyRotary(&k, rows: t, heads: c.kvHeads, headDim: c.headDim, rotaryDims: c.ropeDimensions,
                                    cos: cs.baseAddress!, sin: sn.baseAddress!)
                    }
                }
                record(.rotQ(l), q)
                record(.rotK(l), k)
            }
            causalAttention(q: q, k: k, v: v, pattern: &pattern, z: &z, rows: t, heads: c.heads, kvHeads: c.kvHeads,
                            headDim: c.headDim, scale: c.attentionScale, softcap: c.attentionSoftcap,
                            window: c.slidingWindows[l])
            record(.pattern(l), pattern)
            record(.z(l), z)
            let attnRaw = output(z, b.wo, b.bo, postNorm: b.postAttnNorm, scratch: &raw, into: &attnOut, rows: t, in: qDim)
            record(.attnOut(l), attnOut)
            if !c.parallelResidual {
                for i in 0 ..< t * d { x[i] += attnOut[i] }
                record(.residMid(l), x)
            }

            // MLP: on resid_mid, or on the block's input when attention runs in parallel.
            let mlpIn = x
            norm(mlpIn, b.mlpNorm, b.mlpNormBias, into: &h, rows: t)
            if let gate = b.wGate {
                project(h, gate, nil, into: &pre, rows: t, in: d, out: m)
                project(h, b.wUp, nil, into: &up, rows: t, in: d, out: m)
                for i in 0 ..< t * m { post[i] = activate(pre[i], c.activation) * up[i] }
                record(.mlpPre(l), pre)
                record(.mlpPreLinear(l), up)
            } else {
                project(h, b.wUp, b.bUp, into: &pre, rows: t, in: d, out: m)
                for i in 0 ..< t * m { post[i] = activate(pre[i], c.activation) }
                record(.mlpPre(l), pre)
            }
            record(.mlpPost(l), post)
            if l == stopAt, skipLastMLPOutput {
                if keepTape {
                    tape.append(BlockTape(xIn: xIn, q: q, k: k, v: v, pattern: pattern, mlpIn: mlpIn, pre: pre,
                                          up: b.wGate == nil ? [] : up, post: post, attnRaw: attnRaw, mlpRaw: []))
                }
                try finite(post, .mlpPost(l), width: m)
                break
            }
            let mlpRaw = output(post, b.wDown, b.bDown, postNorm: b.postMLPNorm, scratch: &raw, into: &out, rows: t, in: m)
            if keepTape {
                tape.append(BlockTape(xIn: xIn, q: q, k: k, v: v, pattern: pattern, mlpIn: mlpIn, pre: pre,
                                      up: b.wGate == nil ? [] : up, post: post, attnRaw: attnRaw, mlpRaw: mlpRaw))
            }
            record(.mlpOut(l), out)
            if c.parallelResidual {
                for i in 0 ..< t * d { x[i] += attnOut[i] + out[i] }
            } else {
                for i in 0 ..< t * d { x[i] += out[i] }
            }
            record(.residPost(l), x)
            try finite(x, .residPost(l), width: d)
        }

        guard stopAt == c.layers - 1, !skipLastMLPOutput else {
            return ForwardState(result: ForwardResult(ids: ids, logits: nil, cache: cache), residual: x, tape: tape)
        }
        norm(x, w.finalNorm, w.finalNormBias, into: &h, rows: t)
        record(.lnFinal, h)
        var logits = [Float](repeating: 0, count: t * c.vocabularySize)
        project(h, w.unembedding, nil, into: &logits, rows: t, in: d, out: c.vocabularySize)
        if let cap = c.finalSoftcap { softcap(&logits, cap) }
        try finite(logits, .logits, width: c.vocabularySize)
        let logitsTensor = Tensor(shape: [t, c.vocabularySize], data: logits)
        if want.contains(.logits) { cache.record(.logits, logitsTensor) }
        return ForwardState(result: ForwardResult(ids: ids, logits: logitsTensor, cache: cache), residual: x, tape: tape)
    }

    func norm(_ x: [Float], _ weight: [Float], _ bias: [Float]?, into y: inout [Float], rows t: Int) {
        let d = config.dModel, eps = config.normEpsilon
        if let bias {
            layerNorm(x, weight, bias, &y, rows: t, dim: d, eps: eps)
        } else {
            rmsNorm(x, weight, &y, rows: t, dim: d, eps: eps)
        }
    }

    /// A branch's output projection into y [T, d], then its post-norm if it
    /// has one (Gemma 2); returns the projection before the norm (for the
    /// backward pass), or nothing without a norm.
    func output(_ x: [Float], _ w: [Float], _ bias: [Float]?, postNorm: [Float]?, scratch: inout [Float],
                into y: inout [Float], rows t: Int, in n: Int) -> [Float] {
        guard let postNorm else {
            project(x, w, bias, into: &y, rows: t, in: n, out: config.dModel)
            return []
        }
        project(x, w, bias, into: &scratch, rows: t, in: n, out: config.dModel)
        norm(scratch, postNorm, nil, into: &y, rows: t)
        return scratch
    }

    func project(_ x: [Float], _ w: [Float], _ bias: [Float]?, into y: inout [Float], rows t: Int, in n: Int, out m: Int) {
        if let bias {
            bias.withUnsafeBufferPointer { linear(x, w, $0.baseAddress, &y, rows: t, in: n, out: m) }
        } else {
            linear(x, w, nil, &y, rows: t, in: n, out: m)
        }
    }

    /// Throws when `values` holds NaN or infinity, naming the first hook
    /// point (in forward order) where a non-finite value appears.
    private func checkFinite(_ values: [Float], hook: HookPoint, width: Int, embeddings: [Float], cache: ActivationCache) throws {
        var probe: Float = 0
        for v in values { probe += v * 0 } // stays 0 unless some v is NaN or ±inf
        guard !probe.isFinite else { return }
        // Look for the culprit among the hooks recorded so far; when this
        // block's hooks were not asked for, run the block again recording them.
        var trace = cache
        if let l = hook.layer, trace[.mlpPre(l)] == nil,
           let rerun = try? run(embeddings: embeddings, ids: [], hooks: .matching(["blocks.\(l).*"]), lastBlock: l, checkFinite: false) {
            trace = rerun.result.cache
        }
        let t = embeddings.count / config.dModel
        for h in trace.order {
            let tensor = trace[h]!
            if let i = tensor.data.firstIndex(where: { !$0.isFinite }) {
                // Patterns are [H, T, T] (query second); everything else is [T, ...].
                let position = if case .pattern = h { (i / t) % t } else { i / (tensor.count / t) }
                throw ModelError.nonFiniteActivation(hook: h.name, position: position)
            }
        }
        let position = (values.firstIndex { !$0.isFinite } ?? 0) / width
        throw ModelError.nonFiniteActivation(hook: hook.name, position: position)
    }
}
