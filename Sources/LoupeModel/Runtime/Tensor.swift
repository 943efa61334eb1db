/// A dense row-major Float32 tensor: the currency of the runtime and the cache.
public struct Tensor: Sendable, Equatable {
    /// Outermost dimension first.
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "tensor shape \(shape) does not hold \(data.count) values")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public var count: Int { data.count }

    /// Row `i` of a 2-D tensor.
    public func row(_ i: Int) -> ArraySlice<Float> {
        let n = shape.last ?? 1
        return data[i * n ..< (i + 1) * n]
    }

    /// The element at a multi-dimensional index.
    public subscript(_ index: Int...) -> Float {
        var flat = 0
        for (i, d) in zip(index, shape) { flat = flat * d + i }
        return data[flat]
    }
}
