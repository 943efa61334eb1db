import CPNG
import Foundation
import LoupeSupport

/// A decoded PNG: 8-bit RGBA pixels.
public struct DecodedPNG: Equatable {
    public let width: Int
    public let height: Int
    public let rgba: [UInt8]

    /// Decodes PNG bytes with libpng's simplified API.
    public init(_ data: Data) throws {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let begun = data.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, data.count) }
        guard begun != 0 else { throw GoldenError.decode("not a PNG") }
        image.format = 3 // RGBA
        let w = Int(image.width), h = Int(image.height)
        var pixels = [UInt8](repeating: 0, count: w * h * 4)
        let finished = data.withUnsafeBytes { _ in
            pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, Int32(w * 4), nil) }
        }
        png_image_free(&image)
        guard finished != 0 else { throw GoldenError.decode("libpng could not read the pixels") }
        width = w; height = h; rgba = pixels
    }

    init(width: Int, height: Int, rgba: [UInt8]) { self.width = width; self.height = height; self.rgba = rgba }

    /// Encodes as PNG (for writing actual and diff images on failure).
    public func encoded() throws -> Data {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = 3
        var size = 0
        _ = rgba.withUnsafeBytes { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, Int32(width * 4), nil) }
        var out = Data(count: size)
        let ok = out.withUnsafeMutableBytes { dst in
            rgba.withUnsafeBytes { png_image_write_to_memory(&image, dst.baseAddress, &size, 0, $0.baseAddress, Int32(width * 4), nil) }
        }
        guard ok != 0 else { throw GoldenError.decode("cannot encode") }
        return out.prefix(size)
    }
}

public enum GoldenError: Error, CustomStringConvertible {
    case decode(String)
    case mismatch(String)
    public var description: String {
        switch self {
        case let .decode(s): "golden image: \(s)"
        case let .mismatch(s): s
        }
    }
}

/// Golden-image comparison with a tolerance, in the manner of snapshot
/// testing: references live in `__Snapshots__/` beside the test file; on a
/// mismatch the reference, the actual image and a diff image are written
/// to `.build/golden-failures/`; new references are recorded only when
/// `LOUPE_RECORD_GOLDENS=1` is set (or when none exists and recording is asked).
public enum Golden {
    /// A pixel differs when a channel moves by more than this (out of 255):
    /// antialiasing and font hinting differ slightly between library builds.
    public static let channelTolerance = 24
    /// The share of differing pixels allowed.
    public static let pixelShare = 0.004

    /// Whether the golden `name` is recorded instead of compared:
    /// `LOUPE_RECORD_GOLDENS=1` records every golden; a comma-separated list
    /// of names, each possibly with `*` (`example-*,logit-lens-entropy`),
    /// records just those.
    public static func records(_ name: String) -> Bool {
        guard let value = ProcessInfo.processInfo.environment["LOUPE_RECORD_GOLDENS"], !value.isEmpty, value != "0" else { return false }
        if value == "1" { return true }
        return value.split(separator: ",").contains { pattern in Glob.matches(String(pattern).trimmingCharacters(in: .whitespaces), name) }
    }

    /// Compares `png` with the golden `name` next to `file`; throws a message
    /// naming the files to look at when they differ.
    public static func check(_ png: Data, named name: String, file: String = #filePath) throws {
        let folder = URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent("__Snapshots__")
        let reference = folder.appendingPathComponent(name + ".png")
        if records(name) {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try png.write(to: reference)
            return
        }
        guard let expectedData = FileManager.default.contents(atPath: reference.path) else {
            throw GoldenError.mismatch("no golden image '\(reference.path)': run the tests with LOUPE_RECORD_GOLDENS=\(name) to record it, then look at it")
        }
        let actual = try DecodedPNG(png), expected = try DecodedPNG(expectedData)
        let failures = URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/golden-failures")
        func report(_ why: String, diff: DecodedPNG?) throws -> GoldenError {
            try FileManager.default.createDirectory(at: failures, withIntermediateDirectories: true)
            try expectedData.write(to: failures.appendingPathComponent(name + ".reference.png"))
            try png.write(to: failures.appendingPathComponent(name + ".actual.png"))
            if let diff { try diff.encoded().write(to: failures.appendingPathComponent(name + ".diff.png")) }
            return .mismatch("\(name): \(why); see \(failures.path)/\(name).{reference,actual,diff}.png")
        }
        guard actual.width == expected.width, actual.height == expected.height else {
            throw try report("size \(actual.width)×\(actual.height), golden \(expected.width)×\(expected.height)", diff: nil)
        }
        var differing = 0
        var diff = [UInt8](repeating: 255, count: actual.rgba.count)
        for p in 0 ..< actual.width * actual.height {
            var worst = 0
            for c in 0 ..< 4 { worst = max(worst, abs(Int(actual.rgba[4 * p + c]) - Int(expected.rgba[4 * p + c]))) }
            if worst > channelTolerance {
                differing += 1
                diff[4 * p] = 255; diff[4 * p + 1] = 0; diff[4 * p + 2] = 0
            } else {
                // Faded copy of the reference, so the red marks show where.
                let g = UInt8(200 + Int(expected.rgba[4 * p]) / 5)
                diff[4 * p] = g; diff[4 * p + 1] = g; diff[4 * p + 2] = g
            }
        }
        let share = Double(differing) / Double(actual.width * actual.height)
        if share > pixelShare {
            throw try report(String(format: "%.2f %% of pixels differ (allowed %.2f %%)", share * 100, pixelShare * 100),
                             diff: DecodedPNG(width: actual.width, height: actual.height, rgba: diff))
        }
    }
}
