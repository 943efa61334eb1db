import Foundation
#if canImport(Glibc)
import Glibc
#endif

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

/// Where the sequences of a packed batch sit. Sequence s is rows
/// `starts[s] ..< starts[s] + lengths[s]` of every [rows, ...] buffer, and
/// its attention pattern [H, Tₛ, Tₛ] starts at `patternStarts[s]` of the
/// packed pattern buffer. A single sequence is a packing of one.
struct Packing: Sendable {
    let lengths: [Int]
    let starts: [Int]
    let patternStarts: [Int]
    /// Σ Tₛ, and Σ H·Tₛ².
    let rows: Int
    let patternCount: Int

    init(lengths: [Int], heads: Int) {
        var starts: [Int] = [], patternStarts: [Int] = [], r = 0, p = 0
        for t in lengths {
            starts.append(r)
            patternStarts.append(p)
            r += t
            p += heads * t * t
        }
        self.lengths = lengths
        self.starts = starts
        self.patternStarts = patternStarts
        rows = r
        patternCount = p
    }

    var count: Int { lengths.count }
    var longest: Int { lengths.max() ?? 0 }
    func rows(_ s: Int) -> Range<Int> { starts[s] ..< starts[s] + lengths[s] }
    /// The sequence that packed row `r` belongs to.
    func sequence(ofRow r: Int) -> Int { starts.lastIndex { $0 <= r } ?? 0 }

    /// Sequence s's part of a packed hook buffer, as a tensor of the hook's
    /// shape for its length: patterns are packed per sequence, every other
    /// hook by rows.
    func tensor(_ hook: HookPoint, _ data: [Float], sequence s: Int, config: ModelConfig) -> Tensor {
        let shape = hook.shape(config: config, tokens: lengths[s])
        let size = shape.reduce(1, *)
        var from = 0
        if count > 1 { from = if case .pattern = hook { patternStarts[s] } else { starts[s] * (size / lengths[s]) } }
        return Tensor(shape: shape, data: data.withUnsafeBufferPointer { freshCopy(UnsafeBufferPointer(rebasing: $0[from ..< from + size])) })
    }
}

/// A copy of `values` in memory of its own. The copy is made here, not
/// left to copy-on-write when the pass next writes its scratch buffer, so
/// that a large one can ask for huge pages before its first write (Linux's
/// transparent huge pages, which most systems grant on request): the full
/// cache of a 1024-token pass is 2.5 GB, and on a virtual machine the
/// kernel's clearing of fresh 4 KB pages was a sixth of that pass's time.
func freshCopy(_ values: UnsafeBufferPointer<Float>) -> [Float] {
    [Float](unsafeUninitializedCapacity: values.count) { buffer, initialized in
        #if os(Linux)
        let bytes = values.count * MemoryLayout<Float>.stride, huge = 2 << 20
        if bytes >= 2 * huge, let base = buffer.baseAddress {
            let first = (Int(bitPattern: base) + huge - 1) & ~(huge - 1)
            let end = (Int(bitPattern: base) + bytes) & ~(huge - 1)
            // Advice only: where it is not granted, the pages are small.
            if end > first { _ = madvise(UnsafeMutableRawPointer(bitPattern: first), end - first, MADV_HUGEPAGE) }
        }
        #endif
        if let to = buffer.baseAddress, let from = values.baseAddress { to.initialize(from: from, count: values.count) }
        initialized = values.count
    }
}

extension Model {
    /// Runs the model on `ids`, recording the hook points `hooks` selects.
    /// With `lastBlock`, stops after that block (no final norm, no logits).
    /// Throws for empty or over-long input, ids outside the vocabulary, and
    /// NaN or infinite activations (naming the first hook where they appear).
    public func forward(_ ids: [Int], hooks: HookFilter = .all, lastBlock: Int? = nil) throws -> ForwardResult {
        try run(embeddings: try embed(ids).data, packing: Packing(lengths: [ids.count], heads: config.heads), ids: [ids],
                hooks: hooks, lastBlock: lastBlock, checkFinite: true).results[0]
    }

    /// Runs several sequences, each as `forward(_:)` would, in passes of
    /// packed sequences: their rows are stacked, so every matrix product of
    /// a pass serves all of its sequences at once, and attention stays
    /// within each sequence (a block-diagonal causal mask, applied by
    /// attending over each sequence's own rows: nothing is padded, nothing
    /// masked is computed). Each result has the same hook names and shapes
    /// as the single pass; values agree with it to float rounding (the
    /// products sum in another order).
    ///
    /// A pass takes sequences in order until it holds `rowsPerPass` rows
    /// (one longer sequence runs alone), bounding memory: the logits alone
    /// are 196 KB a row for a 49 152-token vocabulary.
    public func forward(batch: [[Int]], hooks: HookFilter = .all, lastBlock: Int? = nil,
                        rowsPerPass: Int = Model.rowsPerPass) throws -> [ForwardResult] {
        // What is not about one sequence is checked first.
        _ = try hooks.resolve(config)
        if let lastBlock, !(0 ..< config.layers).contains(lastBlock) {
            throw ModelError.badObjective("block \(lastBlock) is out of range (the model has blocks 0 to \(config.layers - 1))")
        }
        return try inPasses(batch.map(\.count), rowsPerPass: rowsPerPass) { pass in
            var embeddings: [Float] = []
            for (i, s) in pass.enumerated() {
                do { embeddings += try embed(batch[s]).data } catch let error as ModelError {
                    throw pass.count == 1 ? error : ModelError.inBatch(sequence: i, count: pass.count, error: error)
                }
            }
            let packing = Packing(lengths: pass.map { batch[$0].count }, heads: config.heads)
            return try run(embeddings: embeddings, packing: packing, ids: pass.map { batch[$0] }, hooks: hooks,
                           lastBlock: lastBlock, checkFinite: true).results
        }
    }

    /// Runs `body` on each pass of a batch (the indices of its sequences),
    /// naming a failing sequence by its place in the whole batch.
    func inPasses<R>(_ lengths: [Int], rowsPerPass: Int, _ body: ([Int]) throws -> [R]) throws -> [R] {
        var results: [R] = []
        results.reserveCapacity(lengths.count)
        for pass in Self.passes(lengths, rowsPerPass: rowsPerPass) {
            do { results += try body(pass) } catch let ModelError.inBatch(s, _, error) {
                throw ModelError.inBatch(sequence: pass[s], count: lengths.count, error: error)
            } catch let error as ModelError where pass.count == 1 && lengths.count > 1 {
                throw ModelError.inBatch(sequence: pass[0], count: lengths.count, error: error)
            }
        }
        return results
    }

    /// Rows a packed pass holds: past a few hundred rows the matrix products
    /// run near their peak, and more only costs memory.
    public static let rowsPerPass = 512

    /// Consecutive runs of sequence indices, each holding at most `rowsPerPass`
    /// rows (or one sequence longer than that).
    static func passes(_ lengths: [Int], rowsPerPass: Int) -> [[Int]] {
        var passes: [[Int]] = [], current: [Int] = [], rows = 0
        for (s, t) in lengths.enumerated() {
            if !current.isEmpty, rows + t > rowsPerPass {
                passes.append(current)
                current = []
                rows = 0
            }
            current.append(s)
            rows += t
        }
        if !current.isEmpty { passes.append(current) }
        return passes
    }

    /// What the forward pass hands back to its callers inside the runtime.
    struct ForwardState {
        /// One per sequence.
        var results: [ForwardResult]
        /// The residual stream after the last block run [rows, d], packed.
        var residual: [Float]
        /// Per block, what the backward pass needs (empty unless asked for), packed.
        var tape: [BlockTape]
    }

    /// The forward pass over input embedding rows [rows, d] of the packed
    /// sequences (token rows; gpt2 positions are added here). `ids` are each
    /// sequence's tokens, for the results (may be empty). `keepTape` keeps
    /// each block's activations for the backward pass; `skipLastMLPOutput`
    /// stops the last block after its MLP activation, for objectives that
    /// read it. A failure in a batch of several is `ModelError.inBatch`.
    ///
    /// For activation patching: `firstBlock` starts the pass at that block,
    /// `embeddings` then being the residual stream entering it; `patches`
    /// (one list per sequence, or none) replace activations as the pass
    /// goes; `logitRows` (one row of each sequence) limits the final norm
    /// and the unembedding to that row, each result's logits being [1, V].
    func run(embeddings: [Float], packing: Packing, ids: [[Int]], hooks: HookFilter, lastBlock: Int?, checkFinite check: Bool,
             keepTape: Bool = false, skipLastMLPOutput: Bool = false, firstBlock: Int = 0, patches: [[Patch]] = [],
             logitRows: [Int]? = nil) throws -> ForwardState {
        if let lastBlock, !(0 ..< config.layers).contains(lastBlock) {
            throw ModelError.badObjective("block \(lastBlock) is out of range (the model has blocks 0 to \(config.layers - 1))")
        }
        let want = try hooks.resolve(config)
        let c = config, w = weights
        let d = c.dModel, m = c.dMLP, t = packing.rows, n = packing.count
        guard n > 0, packing.lengths.allSatisfy({ $0 > 0 }), embeddings.count == t * d else { throw ModelError.emptyPrompt }
        for (s, length) in packing.lengths.enumerated() where length > c.contextLength {
            let error = ModelError.promptTooLong(tokens: length, context: c.contextLength)
            throw n == 1 ? error : ModelError.inBatch(sequence: s, count: n, error: error)
        }
        let qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim
        let stopAt = min(lastBlock ?? c.layers - 1, c.layers - 1)
        precondition(firstBlock == 0 || !keepTape, "a pass that starts inside the model keeps no tape")
        let patched = PatchIndex(patches, packing: packing, config: c)
        var caches = [ActivationCache](repeating: ActivationCache(), count: n)
        var tape: [BlockTape] = []
        func record(_ hook: HookPoint, _ data: [Float]) {
            guard want.contains(hook) else { return }
            for s in 0 ..< n { caches[s].record(hook, packing.tensor(hook, data, sequence: s, config: c)) }
        }
        func finite(_ values: [Float], _ hook: HookPoint, width: Int) throws {
            if check {
                try checkFinite(values, hook: hook, width: width, embeddings: embeddings, packing: packing, caches: caches,
                                firstBlock: firstBlock)
            }
        }
        /// Runs `body` once per sequence with its rows' offset and its length.
        func perSequence(_ body: (_ start: Int, _ length: Int, _ patternStart: Int) -> Void) {
            for s in 0 ..< n { body(packing.starts[s], packing.lengths[s], packing.patternStarts[s]) }
        }

        // Residual stream x [rows, d].
        var x = embeddings
        if firstBlock == 0 { record(.embed, x) }
        if firstBlock == 0, let pos = w.positionEmbedding {
            var posRows = [Float](repeating: 0, count: t * d)
            perSequence { start, length, _ in
                for i in 0 ..< length * d { posRows[start * d + i] = pos[i] }
            }
            record(.posEmbed, posRows)
            for i in 0 ..< t * d { x[i] += posRows[i] }
        }

        let rotary = c.rotary ? rotaryTables(positions: packing.longest, config: c) : nil

        // Scratch buffers, reused by every block.
        var h = [Float](repeating: 0, count: t * d)        // normed input [rows, d]
        var q = [Float](repeating: 0, count: t * qDim)     // [rows, H, hd]
        var k = [Float](repeating: 0, count: t * kvDim)    // [rows, Hkv, hd]
        var v = [Float](repeating: 0, count: t * kvDim)    // [rows, Hkv, hd]
        // Patterns [H, Tₛ, Tₛ] per sequence, only for the blocks that record
        // or tape them: at long prompts they are most of the memory.
        let patternNeeded = (0 ... stopAt).map { keepTape || want.contains(.pattern($0)) }
        var pattern = [Float](repeating: 0, count: patternNeeded.contains(true) ? packing.patternCount : 0)
        var z = [Float](repeating: 0, count: t * qDim)     // [rows, H, hd]
        var attnOut = [Float](repeating: 0, count: t * d)  // [rows, d]
        var out = [Float](repeating: 0, count: t * d)      // MLP output [rows, d]
        var raw = [Float](repeating: 0, count: t * d)      // an output before its post-norm [rows, d]
        var pre = [Float](repeating: 0, count: t * m)      // [rows, m]
        var up = [Float](repeating: 0, count: t * m)       // [rows, m]
        var post = [Float](repeating: 0, count: t * m)     // [rows, m]

        for l in firstBlock ... stopAt {
            let b = w.blocks[l]
            patched.apply(.residPre, l, to: &x)
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
                // Positions count from 0 in every sequence.
                rotary.cos.withUnsafeBufferPointer { cs in
                    rotary.sin.withUnsafeBufferPointer { sn in
                        q.withUnsafeMutableBufferPointer { qs in
                            k.withUnsafeMutableBufferPointer { ks in
                                perSequence { start, length, _ in
                                    applyRotary(qs.baseAddress! + start * qDim, rows: length, heads: c.heads, headDim: c.headDim,
                                                rotaryDims: c.ropeDimensions, cos: cs.baseAddress!, sin: sn.baseAddress!)
                                    applyRotary(ks.baseAddress! + start * kvDim, rows: length, heads: c.kvHeads, headDim: c.headDim,
                                                rotaryDims: c.ropeDimensions, cos: cs.baseAddress!, sin: sn.baseAddress!)
                                }
                            }
                        }
                    }
                }
                record(.rotQ(l), q)
                record(.rotK(l), k)
            }
            q.withUnsafeBufferPointer { qs in
                k.withUnsafeBufferPointer { ks in
                    v.withUnsafeBufferPointer { vs in
                        pattern.withUnsafeMutableBufferPointer { ps in
                            z.withUnsafeMutableBufferPointer { zs in
                                perSequence { start, length, patternStart in
                                    causalAttention(q: qs.baseAddress! + start * qDim, k: ks.baseAddress! + start * kvDim,
                                                    v: vs.baseAddress! + start * kvDim,
                                                    pattern: patternNeeded[l] ? ps.baseAddress! + patternStart : nil,
                                                    z: zs.baseAddress! + start * qDim, rows: length, heads: c.heads,
                                                    kvHeads: c.kvHeads, headDim: c.headDim, scale: c.attentionScale,
                                                    softcap: c.attentionSoftcap, window: c.slidingWindows[l])
                                }
                            }
                        }
                    }
                }
            }
            record(.pattern(l), pattern)
            patched.apply(.z, l, to: &z)
            record(.z(l), z)
            let attnRaw = output(z, b.wo, b.bo, postNorm: b.postAttnNorm, scratch: &raw, into: &attnOut, rows: t, in: qDim)
            patched.apply(.attnOut, l, to: &attnOut)
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
                pre.withUnsafeBufferPointer { ps in
                    up.withUnsafeBufferPointer { us in
                        post.withUnsafeMutableBufferPointer { out in
                            inRowChunks(t, width: m) { range in
                                for i in range { out[i] = activate(ps[i], c.activation) * us[i] }
                            }
                        }
                    }
                }
                record(.mlpPre(l), pre)
                record(.mlpPreLinear(l), up)
            } else {
                project(h, b.wUp, b.bUp, into: &pre, rows: t, in: d, out: m)
                pre.withUnsafeBufferPointer { ps in
                    post.withUnsafeMutableBufferPointer { out in
                        inRowChunks(t, width: m) { range in
                            for i in range { out[i] = activate(ps[i], c.activation) }
                        }
                    }
                }
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
            patched.apply(.mlpOut, l, to: &out)
            record(.mlpOut(l), out)
            if c.parallelResidual {
                for i in 0 ..< t * d { x[i] += attnOut[i] + out[i] }
            } else {
                for i in 0 ..< t * d { x[i] += out[i] }
            }
            patched.apply(.residPost, l, to: &x)
            record(.residPost(l), x)
            try finite(x, .residPost(l), width: d)
        }

        func results(logits: [Float]?) -> [ForwardResult] {
            (0 ..< n).map { s in
                let rows = logitRows == nil ? packing.rows(s) : s ..< s + 1, vocab = c.vocabularySize
                let tensor = logits.map { all in
                    Tensor(shape: [rows.count, vocab], data: n == 1 ? all : Array(all[rows.lowerBound * vocab ..< rows.upperBound * vocab]))
                }
                var cache = caches[s]
                if let tensor, want.contains(.logits) { cache.record(.logits, tensor) }
                return ForwardResult(ids: s < ids.count ? ids[s] : [], logits: tensor, cache: cache)
            }
        }
        guard stopAt == c.layers - 1, !skipLastMLPOutput else {
            return ForwardState(results: results(logits: nil), residual: x, tape: tape)
        }
        let logitCount = logitRows?.count ?? t
        var finalRows = x
        if let logitRows {
            precondition(logitRows.count == n && want.isDisjoint(with: [.lnFinal, .logits]), "logit rows are one per sequence, unrecorded")
            finalRows = logitRows.enumerated().flatMap { s, r in x[(packing.starts[s] + r) * d ..< (packing.starts[s] + r + 1) * d] }
        }
        norm(finalRows, w.finalNorm, w.finalNormBias, into: &h, rows: logitCount)
        record(.lnFinal, h)
        var logits = [Float](repeating: 0, count: logitCount * c.vocabularySize)
        project(h, w.unembedding, nil, into: &logits, rows: logitCount, in: d, out: c.vocabularySize)
        if let cap = c.finalSoftcap { softcap(&logits, cap) }
        try finite(logits, .logits, width: c.vocabularySize)
        return ForwardState(results: results(logits: logits), residual: x, tape: tape)
    }

    /// Runs `body` over the element ranges of row chunks of a [rows, width]
    /// buffer, on the cores the products may use (the MLP's activation
    /// calls expf for every one of its T × m values).
    func inRowChunks(_ rows: Int, width: Int, _ body: (Range<Int>) -> Void) {
        let chunks = min(MatrixThreads.current, max(1, rows / 32))
        MatrixThreads.parallel(chunks) { part in
            let lo = rows * part / chunks, hi = rows * (part + 1) / chunks
            body(lo * width ..< hi * width)
        }
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
    /// point (in forward order) where a non-finite value appears. In a batch
    /// of several, the first sequence with such a value runs again alone,
    /// and its error is returned as `ModelError.inBatch`.
    private func checkFinite(_ values: [Float], hook: HookPoint, width: Int, embeddings: [Float], packing: Packing,
                             caches: [ActivationCache], firstBlock: Int) throws {
        var probe: Float = 0
        for v in values { probe += v * 0 } // stays 0 unless some v is NaN or ±inf
        guard !probe.isFinite else { return }
        if packing.count > 1 {
            let row = (values.firstIndex { !$0.isFinite } ?? 0) / width
            // Logits of one row per sequence (a patching pass): the row is the sequence.
            let s = values.count / width == packing.rows ? packing.sequence(ofRow: row) : row
            let d = config.dModel, rows = packing.rows(s)
            do {
                _ = try run(embeddings: Array(embeddings[rows.lowerBound * d ..< rows.upperBound * d]),
                            packing: Packing(lengths: [rows.count], heads: config.heads), ids: [], hooks: .none,
                            lastBlock: hook.layer, checkFinite: true, firstBlock: firstBlock)
            } catch let error as ModelError {
                throw ModelError.inBatch(sequence: s, count: packing.count, error: error)
            }
            throw ModelError.inBatch(sequence: s, count: packing.count, error: .nonFiniteActivation(hook: hook.name, position: 0))
        }
        // Look for the culprit among the hooks recorded so far; when this
        // block's hooks were not asked for, run the block again recording them.
        var trace = caches[0]
        if let l = hook.layer, trace[.mlpPre(l)] == nil,
           let rerun = try? run(embeddings: embeddings, packing: packing, ids: [], hooks: .matching(["blocks.\(l).*"]),
                                lastBlock: l, checkFinite: false, firstBlock: firstBlock) {
            trace = rerun.results[0].cache
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
