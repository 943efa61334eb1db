/// The activations recorded by one forward pass, by hook point.
public struct ActivationCache: Sendable {
    public private(set) var tensors: [HookPoint: Tensor] = [:]
    /// Recorded hook points in the order the forward pass reached them.
    public private(set) var order: [HookPoint] = []

    public init() {}

    mutating func record(_ hook: HookPoint, _ tensor: Tensor) {
        if tensors.updateValue(tensor, forKey: hook) == nil { order.append(hook) }
    }

    public subscript(_ hook: HookPoint) -> Tensor? { tensors[hook] }

    /// Lookup by TransformerLens name (`blocks.3.hook_resid_pre`).
    public subscript(_ name: String) -> Tensor? {
        order.first { $0.name == name }.flatMap { tensors[$0] }
    }

    public var count: Int { order.count }

    /// The residual stream at the input of every block plus the final output
    /// ([L + 1] tensors of [T, d]), as TransformerLens's `accumulated_resid`:
    /// entry l is `blocks.l.hook_resid_pre`, the last is the last block's `hook_resid_post`.
    public func accumulatedResidual(layers: Int) -> [Tensor]? {
        var out: [Tensor] = []
        for l in 0 ..< layers {
            guard let t = tensors[.residPre(l)] else { return nil }
            out.append(t)
        }
        guard let last = tensors[.residPost(layers - 1)] else { return nil }
        return out + [last]
    }
}
