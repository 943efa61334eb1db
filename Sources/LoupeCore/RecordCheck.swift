import Foundation
import LoupeSupport

/// What is wrong with a figure record's data: the field, and how. Raised by
/// a view's `validate` before a record read from a file is drawn.
public struct RecordProblem: Error, Equatable, CustomStringConvertible {
    public let field: String
    public let message: String

    public init(_ field: String, _ message: String) { self.field = field; self.message = message }

    public var description: String { "'\(field)' \(message)" }
}

/// Checks for `ViewPlugin.validate`: shapes that must agree, indices that
/// must be in range, sizes with an upper bound. Each failure names the field
/// (`data.values[3]`) and what was expected.
public enum RecordCheck {
    /// Most entries along one axis of a record: far beyond any model or
    /// prompt, small enough that drawing cannot run away.
    public static let maxCount = 1 << 16

    /// `array` has exactly `expected` entries (`what` says why, e.g. "one per position").
    public static func count<C: Collection>(_ array: C, _ expected: Int, _ field: String, _ what: String) throws {
        guard array.count == expected else {
            throw RecordProblem(field, "has \(array.count) entries, expected \(expected) (\(what))")
        }
    }

    /// `array` has at least one entry and at most `maxCount`.
    public static func nonEmpty<C: Collection>(_ array: C, _ field: String, max: Int = maxCount) throws {
        guard !array.isEmpty else { throw RecordProblem(field, "is empty") }
        guard array.count <= max else { throw RecordProblem(field, "has \(array.count) entries, more than \(max)") }
    }

    /// Every row of `matrix` has `columns` entries.
    public static func rows<T>(_ matrix: [[T]], _ columns: Int, _ field: String, _ what: String) throws {
        for (i, row) in matrix.enumerated() where row.count != columns {
            throw RecordProblem("\(field)[\(i)]", "has \(row.count) entries, expected \(columns) (\(what))")
        }
    }

    /// `value` lies in `range`.
    public static func within(_ value: Int, _ range: ClosedRange<Int>, _ field: String) throws {
        guard range.contains(value) else {
            throw RecordProblem(field, "is \(value), outside \(range.lowerBound)...\(range.upperBound)")
        }
    }

    /// `value` is finite and lies in `range`.
    public static func within(_ value: Double, _ range: ClosedRange<Double>, _ field: String) throws {
        guard value.isFinite, range.contains(value) else {
            throw RecordProblem(field, "is \(value), outside \(range.lowerBound)...\(range.upperBound)")
        }
    }

    /// `order` lists 0..<n, each once.
    public static func permutation(_ order: [Int], _ n: Int, _ field: String) throws {
        try count(order, n, field, "a permutation of 0..<\(n)")
        guard Set(order) == Set(0 ..< n) else { throw RecordProblem(field, "is not a permutation of 0..<\(n)") }
    }
}
