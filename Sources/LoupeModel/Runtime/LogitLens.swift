import Foundation

/// Helpers on rows of logits.
public enum Logits {
    /// log Σ exp(x), accumulated in Float64.
    public static func logSumExp(_ x: ArraySlice<Float>) -> Float {
        let m = x.max() ?? 0
        var s: Double = 0
        for v in x { s += exp(Double(v - m)) }
        return m + Float(log(s))
    }

    /// softmax(x).
    public static func probabilities(_ x: ArraySlice<Float>) -> [Float] {
        let lse = Double(logSumExp(x))
        return x.map { Float(exp(Double($0) - lse)) }
    }

    /// Offsets (from the start of `x`) of the k largest values, largest
    /// first; ties go to the lower offset.
    public static func topK(_ x: ArraySlice<Float>, _ k: Int) -> [Int] {
        var values: [Float] = [], indices: [Int] = []
        values.reserveCapacity(k + 1)
        indices.reserveCapacity(k + 1)
        x.withUnsafeBufferPointer { p in
            for i in 0 ..< p.count {
                let v = p[i]
                guard values.count < k || v > values[values.count - 1] else { continue }
                var j = values.count
                while j > 0, values[j - 1] < v { j -= 1 }
                values.insert(v, at: j)
                indices.insert(i, at: j)
                if values.count > k { values.removeLast(); indices.removeLast() }
            }
        }
        return indices
    }
}

/// Residual-stream states decoded to the vocabulary (the logit lens).
public struct DecodedResidual: Sendable {
    /// [T, V]
    public let logits: Tensor

    public var positions: Int { logits.shape[0] }

    public func row(_ position: Int) -> ArraySlice<Float> { logits.row(position) }

    public func probabilities(position: Int) -> [Float] { Logits.probabilities(row(position)) }

    public func top(position: Int, k: Int) -> [Int] { Logits.topK(row(position), k) }
}

extension Model {
    /// Decodes residual-stream states [T, d] through the final norm and the
    /// unembedding, as the model decodes its last layer: the logit lens
    /// (nostalgebraist 2020). Decoding the last block's output gives the
    /// model's own logits exactly.
    public func logitLens(_ residual: Tensor) throws -> DecodedResidual {
        let d = config.dModel, v = config.vocabularySize
        guard residual.shape.count == 2, residual.shape[1] == d else {
            throw ModelError.badTensorShape(path: path, tensor: "residual", expected: [residual.shape.first ?? 0, d], found: residual.shape)
        }
        let t = residual.shape[0]
        var normed = [Float](repeating: 0, count: t * d)
        if let bias = weights.finalNormBias {
            layerNorm(residual.data, weights.finalNorm, bias, &normed, rows: t, dim: d, eps: config.normEpsilon)
        } else {
            rmsNorm(residual.data, weights.finalNorm, &normed, rows: t, dim: d, eps: config.normEpsilon)
        }
        var logits = [Float](repeating: 0, count: t * v)
        linear(normed, weights.unembedding, nil, &logits, rows: t, in: d, out: v)
        if let cap = config.finalSoftcap { softcap(&logits, cap) }
        return DecodedResidual(logits: Tensor(shape: [t, v], data: logits))
    }
}
