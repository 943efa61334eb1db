/// Dequantization of ggml block formats to Float32.
///
/// Each function decodes `count` values (a whole number of blocks) from `src`
/// into `dst`. The block layouts are ggml's (`ggml-common.h`); the arithmetic
/// follows its reference `dequantize_row_*` functions, and the test suite
/// checks every type against values computed by the `gguf` Python package.
enum Dequantize {
    /// `count` values decoded into a new array.
    static func array(_ type: GGMLType, _ src: UnsafeRawBufferPointer, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress { run(type, src, base, count: count) }
            initialized = count
        }
    }

    static func run(_ type: GGMLType, _ src: UnsafeRawBufferPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        switch type {
        case .f32:
            for i in 0 ..< count { dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f16:
            for i in 0 ..< count { dst[i] = floatFromHalf(u16(src, 2 * i)) }
        case .bf16:
            for i in 0 ..< count { dst[i] = floatFromBFloat16(u16(src, 2 * i)) }
        case .q8_0: blocks(src, dst, count, 32, 34, q8_0)
        case .q4_0: blocks(src, dst, count, 32, 18, q4_0)
        case .q4_1: blocks(src, dst, count, 32, 20, q4_1)
        case .q5_0: blocks(src, dst, count, 32, 22, q5_0)
        case .q5_1: blocks(src, dst, count, 32, 24, q5_1)
        case .q4_K: blocks(src, dst, count, 256, 144, q4_K)
        case .q5_K: blocks(src, dst, count, 256, 176, q5_K)
        case .q6_K: blocks(src, dst, count, 256, 210, q6_K)
        default: preconditionFailure("Dequantize.run called for unsupported type \(type.name)")
        }
    }

    @inline(__always)
    private static func u16(_ p: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    private static func half(_ p: UnsafePointer<UInt8>, _ offset: Int) -> Float {
        floatFromHalf(UInt16(p[offset]) | (UInt16(p[offset + 1]) << 8))
    }

    private typealias Block = (_ block: UnsafePointer<UInt8>, _ out: UnsafeMutablePointer<Float>) -> Void

    private static func blocks(_ src: UnsafeRawBufferPointer, _ dst: UnsafeMutablePointer<Float>, _ count: Int,
                               _ size: Int, _ bytes: Int, _ decode: Block) {
        guard let base = src.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        for b in 0 ..< count / size {
            decode(base + b * bytes, dst + b * size)
        }
    }

    // Q8_0: d (f16), qs[32] (int8). y = d · q
    private static func q8_0(_ x: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0)
        for j in 0 ..< 32 { y[j] = Float(Int8(bitPattern: x[2 + j])) * d }
    }

    // Q4_0: d (f16), qs[16]; low nibbles are values 0..15, high nibbles 16..31. y = d · (q − 8)
    private static func q4_0(_ x: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0)
        for j in 0 ..< 16 {
            let q = x[2 + j]
            y[j] = Float(Int(q & 0x0F) - 8) * d
            y[j + 16] = Float(Int(q >> 4) - 8) * d
        }
    }

    // Q4_1: d, m (f16), qs[16]. y = d · q + m
    private static func q4_1(_ x: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0), m = half(x, 2)
        for j in 0 ..< 16 {
            let q = x[4 + j]
            y[j] = Float(q & 0x0F) * d + m
            y[j + 16] = Float(q >> 4) * d + m
        }
    }

    @inline(__always)
    private static func u32(_ x: UnsafePointer<UInt8>, _ o: Int) -> UInt32 {
        UInt32(x[o]) | UInt32(x[o + 1]) << 8 | UInt32(x[o + 2]) << 16 | UInt32(x[o + 3]) << 24
    }

    // Q5_0: d (f16), qh (u32: the fifth bit of each value), qs[16]. y = d · (q − 16)
    private static func q5_0(_ x: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0)
        let qh = u32(x, 2)
        for j in 0 ..< 16 {
            let q = x[6 + j]
            let h0 = Int((qh >> UInt32(j)) << 4) & 0x10
            let h1 = Int(qh >> UInt32(j + 12)) & 0x10
            y[j] = Float((Int(q & 0x0F) | h0) - 16) * d
            y[j + 16] = Float((Int(q >> 4) | h1) - 16) * d
        }
    }

    // Q5_1: d, m (f16), qh (u32), qs[16]. y = d · q + m
    private static func q5_1(_ x: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0), m = half(x, 2)
        let qh = u32(x, 4)
        for j in 0 ..< 16 {
            let q = x[8 + j]
            let h0 = Int((qh >> UInt32(j)) << 4) & 0x10
            let h1 = Int(qh >> UInt32(j + 12)) & 0x10
            y[j] = Float(Int(q & 0x0F) | h0) * d + m
            y[j + 16] = Float(Int(q >> 4) | h1) * d + m
        }
    }

    /// The 6-bit scale and min of sub-block `j` (0..<8) packed in the 12 bytes of a Q4_K/Q5_K block.
    @inline(__always)
    private static func scaleMin(_ j: Int, _ q: UnsafePointer<UInt8>) -> (Float, Float) {
        if j < 4 {
            return (Float(q[j] & 63), Float(q[j + 4] & 63))
        }
        let sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4)
        let m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4)
        return (Float(sc), Float(m))
    }

    // Q4_K: d, dmin (f16), scales[12], qs[128]; 8 sub-blocks of 32 with 6-bit scales and mins.
    private static func q4_K(_ x: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0), dmin = half(x, 2)
        let scales = x + 4
        var q = x + 16
        var out = y
        var sub = 0
        for _ in 0 ..< 4 {
            let (sc1, m1) = scaleMin(sub, scales)
            let (sc2, m2) = scaleMin(sub + 1, scales)
            let d1 = d * sc1, min1 = dmin * m1
            let d2 = d * sc2, min2 = dmin * m2
            for l in 0 ..< 32 { out[l] = d1 * Float(q[l] & 0x0F) - min1 }
            for l in 0 ..< 32 { out[32 + l] = d2 * Float(q[l] >> 4) - min2 }
            out += 64
            q += 32
            sub += 2
        }
    }

    // Q5_K: d, dmin (f16), scales[12], qh[32], qs[128].
    private static func q5_K(_ x: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0), dmin = half(x, 2)
        let scales = x + 4
        let qh = x + 16
        var ql = x + 48
        var out = y
        var sub = 0
        var u1: UInt8 = 1, u2: UInt8 = 2
        for _ in 0 ..< 4 {
            let (sc1, m1) = scaleMin(sub, scales)
            let (sc2, m2) = scaleMin(sub + 1, scales)
            let d1 = d * sc1, min1 = dmin * m1
            let d2 = d * sc2, min2 = dmin * m2
            for l in 0 ..< 32 { out[l] = d1 * Float(Int(ql[l] & 0x0F) + (qh[l] & u1 != 0 ? 16 : 0)) - min1 }
            for l in 0 ..< 32 { out[32 + l] = d2 * Float(Int(ql[l] >> 4) + (qh[l] & u2 != 0 ? 16 : 0)) - min2 }
            out += 64
            ql += 32
            sub += 2
            u1 <<= 2
            u2 <<= 2
        }
    }

    // Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d (f16, last).
    private static func q6_K(_ x: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 208)
        var ql = x
        var qh = x + 128
        var sc = x + 192
        var out = y
        for _ in 0 ..< 2 {
            for l in 0 ..< 32 {
                let s = l / 16
                let q1 = Int((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32
                let q2 = Int((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32
                let q3 = Int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
                let q4 = Int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
                out[l] = d * Float(Int8(bitPattern: sc[s])) * Float(q1)
                out[l + 32] = d * Float(Int8(bitPattern: sc[s + 2])) * Float(q2)
                out[l + 64] = d * Float(Int8(bitPattern: sc[s + 4])) * Float(q3)
                out[l + 96] = d * Float(Int8(bitPattern: sc[s + 6])) * Float(q4)
            }
            out += 128
            ql += 64
            qh += 32
            sc += 8
        }
    }
}
