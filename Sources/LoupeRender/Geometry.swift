/// Geometry in points (1/72 inch), y pointing down, as Cairo draws.
public struct Point: Sendable, Equatable, Codable {
    public var x: Double
    public var y: Double
    public init(_ x: Double, _ y: Double) { self.x = x; self.y = y }
}

public struct Size: Sendable, Equatable, Codable {
    public var width: Double
    public var height: Double
    public init(_ width: Double, _ height: Double) { self.width = width; self.height = height }
}

public struct Rect: Sendable, Equatable, Codable {
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double

    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }

    public init(origin: Point, size: Size) {
        self.init(x: origin.x, y: origin.y, width: size.width, height: size.height)
    }

    public var minX: Double { x }
    public var minY: Double { y }
    public var maxX: Double { x + width }
    public var maxY: Double { y + height }
    public var midX: Double { x + width / 2 }
    public var midY: Double { y + height / 2 }
    public var size: Size { Size(width, height) }

    /// The rectangle shrunk by the given margins.
    public func inset(top: Double = 0, left: Double = 0, bottom: Double = 0, right: Double = 0) -> Rect {
        Rect(x: x + left, y: y + top, width: max(0, width - left - right), height: max(0, height - top - bottom))
    }

    public func inset(by d: Double) -> Rect { inset(top: d, left: d, bottom: d, right: d) }

    public func intersects(_ o: Rect) -> Bool {
        x < o.maxX && o.x < maxX && y < o.maxY && o.y < maxY
    }

    public func contains(_ o: Rect, tolerance: Double = 0.01) -> Bool {
        o.x >= x - tolerance && o.y >= y - tolerance && o.maxX <= maxX + tolerance && o.maxY <= maxY + tolerance
    }
}

/// A length with a unit, as written on the command line: `3.25in`, `8cm`,
/// `234pt`, `1200px` (pixels at the figure's DPI).
public struct Length: Sendable, Equatable, CustomStringConvertible {
    public enum Unit: String, Sendable, CaseIterable { case pt, `in`, cm, mm, px }
    public var value: Double
    public var unit: Unit

    public init(_ value: Double, _ unit: Unit) { self.value = value; self.unit = unit }

    /// Parses `3.25in`; a bare number is points.
    public init?(parsing text: String) {
        let s = text.trimmingCharacters(in: .whitespaces).lowercased()
        let unit = Unit.allCases.first { s.hasSuffix($0.rawValue) } ?? .pt
        let number = s.hasSuffix(unit.rawValue) ? String(s.dropLast(unit.rawValue.count)) : s
        guard let v = Double(number.trimmingCharacters(in: .whitespaces)), v > 0, v.isFinite else { return nil }
        self.init(v, unit)
    }

    public func points(dpi: Double) -> Double {
        switch unit {
        case .pt: value
        case .in: value * 72
        case .cm: value * 72 / 2.54
        case .mm: value * 72 / 25.4
        case .px: value * 72 / dpi
        }
    }

    public var description: String { "\(value)\(unit.rawValue)" }
}

import Foundation
