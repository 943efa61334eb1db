/// One merge of an agglomerative clustering: nodes 0..<n are the leaves,
/// merge k creates node n + k.
public struct Merge: Sendable, Codable, Equatable {
    public var left: Int
    public var right: Int
    public var height: Double
    public var size: Int
    public init(left: Int, right: Int, height: Double, size: Int) {
        self.left = left; self.right = right; self.height = height; self.size = size
    }
}
