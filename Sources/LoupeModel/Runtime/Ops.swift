import Foundation

// Forward operations of the transformer, on raw row-major buffers.
// Shapes are written [rows, cols]; T is the number of positions.

/// y [T, out] = x [T, in] · wᵀ (w is [out, in]) + bias, through BLAS.
/// With `accumulate`, adds to y instead of overwriting it.
@inline(__always)
func linear(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
            _ y: UnsafeMutablePointer<Float>, rows t: Int, in n: Int, out m: Int, accumulate: Bool = false) {
    BLAS.sgemm(transA: false, transB: true, m: t, n: m, k: n, alpha: 1, a: x, lda: n, b: w, ldb: n,
               beta: accumulate ? 1 : 0, c: y, ldc: m)
    if let bias {
        for r in 0 ..< t {
            let row = y + r * m
            for j in 0 ..< m { row[j] += bias[j] }
        }
    }
}

/// RMSNorm: y = x / sqrt(mean(x²) + eps) · w, per row of x [T, d].
/// Sums in Float64: the residual norm of a massive-activation position
/// (~25 000 in SmolLM2's dimension 507) squared loses digits in Float32.
func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
             rows t: Int, dim d: Int, eps: Float) {
    for r in 0 ..< t {
        let xr = x + r * d, yr = y + r * d
        var ss: Double = 0
        for j in 0 ..< d { ss += Double(xr[j]) * Double(xr[j]) }
        let inv = Float(1 / (ss / Double(d) + Double(eps)).squareRoot())
        for j in 0 ..< d { yr[j] = xr[j] * inv * w[j] }
    }
}

/// LayerNorm: y = (x − mean) / sqrt(var + eps) · w + b, biased variance, per row.
func layerNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
               _ y: UnsafeMutablePointer<Float>, rows t: Int, dim d: Int, eps: Float) {
    for r in 0 ..< t {
        let xr = x + r * d, yr = y + r * d
        var sum: Double = 0
        for j in 0 ..< d { sum += Double(xr[j]) }
        let mean = sum / Double(d)
        var ss: Double = 0
        for j in 0 ..< d { let c = Double(xr[j]) - mean; ss += c * c }
        let inv = 1 / (ss / Double(d) + Double(eps)).squareRoot()
        let meanF = Float(mean), invF = Float(inv)
        for j in 0 ..< d { yr[j] = (xr[j] - meanF) * invF * w[j] + b[j] }
    }
}

/// Rotary tables for positions 0..<T: cos and sin [T, rotDim/2] of pos · θ^(−2i/rotDim).
/// Angles in Float64, rounded once, so long positions keep their precision.
func rotaryTables(positions t: Int, rotaryDims: Int, theta: Float) -> (cos: [Float], sin: [Float]) {
    let half = rotaryDims / 2
    var c = [Float](repeating: 0, count: t * half), s = c
    for p in 0 ..< t {
        for i in 0 ..< half {
            let invFreq = 1 / pow(Double(theta), Double(2 * i) / Double(rotaryDims))
            // Match the reference: inverse frequencies are Float32 in PyTorch.
            let angle = Double(p) * Double(Float(invFreq))
            c[p * half + i] = Float(Foundation.cos(angle))
            s[p * half + i] = Float(Foundation.sin(angle))
        }
    }
    return (c, s)
}

/// Rotary position embedding in place, Hugging Face ("rotate half") layout:
/// within each head of x [T, heads, hd], dimension i pairs with i + rotDim/2.
/// Dimensions from rotDim to hd pass through.
func applyRotary(_ x: UnsafeMutablePointer<Float>, rows t: Int, heads: Int, headDim hd: Int,
                 rotaryDims: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
    let half = rotaryDims / 2
    for p in 0 ..< t {
        let cp = cos + p * half, sp = sin + p * half
        for h in 0 ..< heads {
            let v = x + (p * heads + h) * hd
            for i in 0 ..< half {
                let a = v[i], b = v[i + half]
                v[i] = a * cp[i] - b * sp[i]
                v[i + half] = b * cp[i] + a * sp[i]
            }
        }
    }
}

/// Causal multi-head attention with grouped key/value heads.
/// q [T, H, hd], k and v [T, Hkv, hd] → pattern [H, T, T] (post-softmax,
/// zeros above the diagonal) and z [T, H, hd]. Query head h reads KV head h / (H / Hkv).
func causalAttention(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                     pattern: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>,
                     rows t: Int, heads: Int, kvHeads: Int, headDim hd: Int) {
    let group = heads / kvHeads
    let scale = 1 / Float(hd).squareRoot()
    let qStride = heads * hd, kvStride = kvHeads * hd
    for h in 0 ..< heads {
        let g = h / group
        let p = pattern + h * t * t
        // scores [T, T] = q_h · k_gᵀ · scale
        BLAS.sgemm(transA: false, transB: true, m: t, n: t, k: hd, alpha: scale,
                   a: q + h * hd, lda: qStride, b: k + g * hd, ldb: kvStride, beta: 0, c: p, ldc: t)
        causalSoftmaxRows(p, rows: t)
        // z_h [T, hd] = pattern_h · v_g
        BLAS.sgemm(transA: false, transB: false, m: t, n: hd, k: t, alpha: 1,
                   a: p, lda: t, b: v + g * hd, ldb: kvStride, beta: 0, c: z + h * hd, ldc: qStride)
    }
}

/// Softmax of each row i of s [T, T] over columns 0...i; columns after i become 0.
func causalSoftmaxRows(_ s: UnsafeMutablePointer<Float>, rows t: Int) {
    for i in 0 ..< t {
        let row = s + i * t
        var m = -Float.infinity
        for j in 0 ... i { m = max(m, row[j]) }
        var sum: Float = 0
        for j in 0 ... i { let e = expf(row[j] - m); row[j] = e; sum += e }
        let inv = 1 / sum
        for j in 0 ... i { row[j] *= inv }
        for j in (i + 1) ..< t { row[j] = 0 }
    }
}

@inline(__always) func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

/// GPT-2's GELU, tanh approximation ("gelu_new").
@inline(__always) func geluTanh(_ x: Float) -> Float {
    let c: Float = 0.797_884_56 // sqrt(2/π)
    return 0.5 * x * (1 + tanhf(c * (x + 0.044715 * x * x * x)))
}
