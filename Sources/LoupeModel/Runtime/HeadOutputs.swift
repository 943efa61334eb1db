import Foundation

extension Model {
    /// What each head would write to the residual stream from each position:
    /// f_h(x_j) = v_j W_O^h, the value vector of position j (from the head's
    /// key/value group, bias included) through the head's slice of the output
    /// projection. The attention layer's output at query i is
    /// Σ_h Σ_j α_ij^h f_h(x_j), plus the output bias (and, for Gemma 2, then
    /// its post-attention norm, which these vectors are before).
    ///
    /// `values` is `blocks.{layer}.attn.hook_v` [T, Hkv, hd]; the result is
    /// [T, H, d].
    public func headOutputs(layer: Int, values: Tensor) throws -> Tensor {
        let c = config
        guard (0 ..< c.layers).contains(layer) else {
            throw ModelError.internalInconsistency("block \(layer) is out of range: the model has blocks 0–\(c.layers - 1)")
        }
        guard values.shape.count == 3, values.shape[1] == c.kvHeads, values.shape[2] == c.headDim else {
            throw ModelError.internalInconsistency("values of block \(layer) have shape \(values.shape); expected [T, \(c.kvHeads), \(c.headDim)]")
        }
        let t = values.shape[0], h = c.heads, hd = c.headDim, d = c.dModel
        let group = h / c.kvHeads, inner = h * hd
        let wo = weights.blocks[layer].wo
        var out = [Float](repeating: 0, count: t * h * d)
        values.data.withUnsafeBufferPointer { v in
            wo.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { o in
                    for j in 0 ..< t {
                        for head in 0 ..< h {
                            let vj = (j * c.kvHeads + head / group) * hd
                            let row = (j * h + head) * d
                            for col in 0 ..< d {
                                let wRow = col * inner + head * hd
                                var s: Float = 0
                                for e in 0 ..< hd { s += w[wRow + e] * v[vj + e] }
                                o[row + col] = s
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: [t, h, d], data: out)
    }

    /// ‖f_h(x_j)‖₂ of `headOutputs`, [T, H]: the size of what head h moves
    /// from position j, the factor Kobayashi et al. (2020) multiply each
    /// attention weight by.
    public func headOutputNorms(layer: Int, values: Tensor) throws -> Tensor {
        let f = try headOutputs(layer: layer, values: values)
        let t = f.shape[0], h = f.shape[1], d = f.shape[2]
        let norms = (0 ..< t * h).map { r in
            Float(sqrt(f.data[r * d ..< (r + 1) * d].reduce(0.0) { $0 + Double($1) * Double($1) }))
        }
        return Tensor(shape: [t, h], data: norms)
    }
}
