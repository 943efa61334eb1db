import Foundation

extension Model {
    /// The floating-point operations of the matrix products of a forward
    /// pass over sequences of these lengths (a multiply and an add count
    /// two), to `lastBlock` (nil: every block and the unembedding).
    /// Attention counts what is needed: each query against the keys it sees
    /// (the causal triangle, cut by a window), for scores and for values.
    /// Norms, activations and softmax are left out: they are a few percent.
    public func forwardFLOPs(lengths: [Int], lastBlock: Int? = nil) -> Double {
        let c = config
        let d = Double(c.dModel), m = Double(c.dMLP), qDim = Double(c.heads * c.headDim), kvDim = Double(c.kvHeads * c.headDim)
        let blocks = min(lastBlock ?? c.layers - 1, c.layers - 1) + 1
        let perToken = 2 * d * (qDim + 2 * kvDim) + 2 * qDim * d + 2 * d * m * (c.gatedMLP ? 3 : 2)
        let tokens = Double(lengths.reduce(0, +))
        var flops = tokens * perToken * Double(blocks)
        for l in 0 ..< blocks {
            for t in lengths {
                // Keys seen by each query, summed over queries.
                let seen = (0 ..< t).reduce(0) { $0 + ($1 - firstKey($1, window: c.slidingWindows[l]) + 1) }
                flops += 2 * 2 * Double(c.heads * c.headDim) * Double(seen)
            }
        }
        if lastBlock == nil || lastBlock! >= c.layers - 1 { flops += tokens * 2 * d * Double(c.vocabularySize) }
        return flops
    }
}

/// The speed of the matrix product Loupe uses, measured.
public enum MatrixProduct {
    /// What the products run on ("OpenBLAS 0.3.21 ..., Haswell kernels").
    public static var library: String { BLAS.library.description }

    /// GFLOP/s of an n × n × n single-precision product: the best of
    /// `repeats` (after one to warm up), since a peak is what the machine
    /// can do, and other work on it only ever slows a run.
    public static func gflops(size n: Int = 2048, repeats: Int = 5) -> Double {
        let a = (0 ..< n * n).map { Float(($0 * 7919) % 1000) / 1000 }
        var c = [Float](repeating: 0, count: n * n)
        var times: [Double] = []
        for run in 0 ... repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            BLAS.sgemm(transA: false, transB: false, m: n, n: n, k: n, alpha: 1, a: a, lda: n, b: a, ldb: n, beta: 0, c: &c, ldc: n)
            if run > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        }
        return 2 * Double(n) * Double(n) * Double(n) / times.min()! / 1e9
    }
}
