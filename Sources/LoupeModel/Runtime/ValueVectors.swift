import Foundation

/// FFN value vectors (Geva et al. 2022, "Transformer Feed-Forward Layers
/// Build Predictions by Promoting Concepts in the Vocabulary Space"). An MLP's
/// output is a sum of sub-updates mᵢ·vᵢ: neuron i's activation mᵢ (the input
/// of the down projection, `hook_post`) times its value vector vᵢ, the i-th
/// column of the down projection. A value vector is read in the vocabulary
/// as the model reads the residual stream at its end: through the final
/// norm's weight g (for a LayerNorm, after centring) and the unembedding,
/// W_U (g ⊙ vᵢ). The norm's scale, one positive number per position, is
/// left out: it changes no ranking.
///
/// Gemma 2 normalises the whole MLP output before adding it; there the
/// vector a neuron adds is s·(p ⊙ vᵢ), with p that post-norm's weight and
/// its scale s frozen at the position, as logit attribution freezes it.
public struct ValueVectors: Sendable {
    public let layer: Int
    /// [m]: ‖vᵢ‖ (with Gemma 2's post-norm weight and frozen scale, when given).
    public let norms: [Double]
    /// Gemma 2: the post-MLP norm's scale frozen at the position; else nil.
    public let postNormScale: Double?
    /// The effective value vector of neuron i [d].
    public func vector(_ neuron: Int) -> [Float] { vectors(neuron) }
    let vectors: @Sendable (Int) -> [Float]
    let model: Model

    /// Neuron i's vector projected onto the vocabulary [V], in Float64.
    public func projection(_ neuron: Int) -> [Double] {
        model.vocabularyProjection(vectors(neuron))
    }
}

extension Model {
    /// The value vectors of block `layer`. For a family that normalises
    /// the MLP output (Gemma 2), `activations` (the block's `hook_post` at
    /// one position, [m]) fix the post-norm's scale there; elsewhere they
    /// may be nil.
    public func valueVectors(layer l: Int, activations: [Float]? = nil) throws -> ValueVectors {
        let c = config, d = c.dModel, m = c.dMLP
        guard (0 ..< c.layers).contains(l) else {
            throw ModelError.badObjective("block \(l) is out of range (the model has blocks 0 to \(c.layers - 1))")
        }
        let b = weights.blocks[l], down = b.wDown
        var factor = [Float](repeating: 1, count: d)
        var scale: Double?
        if let post = b.postMLPNorm {
            guard let a = activations, a.count == m else {
                throw ModelError.internalInconsistency("block \(l) normalises its MLP output: its activations at the position are needed")
            }
            // The raw MLP output at the position, and its RMS.
            var ss = 0.0
            for j in 0 ..< d {
                var s = Double(b.bDown?[j] ?? 0)
                for i in 0 ..< m { s += Double(down[j * m + i]) * Double(a[i]) }
                ss += s * s
            }
            let inv = 1 / (ss / Double(d) + Double(c.normEpsilon)).squareRoot()
            scale = inv
            factor = post.map { Float(Double($0) * inv) }
        }
        let vector: @Sendable (Int) -> [Float] = { [factor] i in (0 ..< d).map { j in down[j * m + i] * factor[j] } }
        let norms = (0 ..< m).map { i in vector(i).reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
        return ValueVectors(layer: l, norms: norms, postNormScale: scale, vectors: vector, model: self)
    }

    /// A residual-stream direction `v` [d] read in the vocabulary: W_U (g ⊙ v),
    /// centred first for a LayerNorm; Float64 sums.
    public func vocabularyProjection(_ v: [Float]) -> [Double] {
        let c = config, d = c.dModel, w = weights
        var x = v.map(Double.init)
        if w.finalNormBias != nil {
            let mean = x.reduce(0, +) / Double(d)
            for j in 0 ..< d { x[j] -= mean }
        }
        for j in 0 ..< d { x[j] *= Double(w.finalNorm[j]) }
        let u = w.unembedding
        return u.withUnsafeBufferPointer { u in
            (0 ..< c.vocabularySize).map { t in
                var s = 0.0
                let row = t * d
                for j in 0 ..< d { s += Double(u[row + j]) * x[j] }
                return s
            }
        }
    }
}
