import Foundation
@testable import LoupeModel
import Testing

/// Paths of the committed fixtures (see Fixtures/reference/README.md).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    static let reference = root + "/reference"
    static let tiny = reference + "/tiny"
    static let smollm2 = reference + "/smollm2"

    static func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func float32s(_ path: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.withUnsafeBytes { raw in
            (0 ..< data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    /// A fresh temporary folder, removed by the caller.
    static func temporaryFolder() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }
}

/// The default model, loaded once for all tests. `make test` fetches it
/// before testing; without it these tests fail with set-up's instructions.
let smollm2: Result<Model, any Error> = Result { try Model.load(nil) }

func loadSmolLM2() throws -> Model { try smollm2.get() }

/// Nested JSON arrays of numbers flattened to Floats.
func flatFloats(_ any: Any?) -> [Float] {
    var out: [Float] = []
    func walk(_ x: Any?) {
        if let a = x as? [Any] { a.forEach(walk) } else if let d = x as? Double { out.append(Float(d)) } else if let i = x as? Int { out.append(Float(i)) }
    }
    walk(any)
    return out
}

func flatInts(_ any: Any?) -> [Int] {
    var out: [Int] = []
    func walk(_ x: Any?) {
        if let a = x as? [Any] { a.forEach(walk) } else if let i = x as? Int { out.append(i) }
    }
    walk(any)
    return out
}

/// Loads the tokenizer.json at `source`, edited by `edit`, from a temporary
/// folder; returns the loader's error, or nil when it loads.
func tokenizerJSONError(_ source: String, _ edit: (inout [String: Any]) throws -> Void) throws -> ModelError? {
    let folder = try Fixtures.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    var json = try Fixtures.json(source)
    try edit(&json)
    try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: folder + "/tokenizer.json"))
    do {
        _ = try HuggingFaceLoader.tokenizerFromJSON(folder: folder, modelConfig: [:])
        return nil
    } catch let e as ModelError {
        return e
    }
}

/// Records an issue when `actual` is missing, has another count than the
/// reference `ref` (nested JSON arrays), or breaks |a − ref| ≤ atol + rtol·|ref|.
func checkClose(_ name: String, _ actual: [Float]?, _ ref: Any?, _ context: String, atol: Float, rtol: Float) {
    let expected = flatFloats(ref)
    guard let actual else { Issue.record("\(context): \(name) was not recorded"); return }
    guard actual.count == expected.count else {
        Issue.record("\(context): \(name) has \(actual.count) values, reference \(expected.count)")
        return
    }
    if let bad = worstViolation(actual, expected, atol: atol, rtol: rtol) {
        Issue.record("\(context): \(name)[\(bad.index)] = \(bad.actual), reference \(bad.expected)")
    }
}

/// The largest violation of |a − ref| ≤ atol + rtol·|ref|, as (index, excess); nil when all hold.
func worstViolation(_ a: [Float], _ ref: [Float], atol: Float, rtol: Float) -> (index: Int, actual: Float, expected: Float)? {
    precondition(a.count == ref.count, "compared arrays have \(a.count) and \(ref.count) values")
    var worst: (Int, Float)?
    for i in 0 ..< a.count {
        let excess = abs(a[i] - ref[i]) - (atol + rtol * abs(ref[i]))
        if !(excess <= 0), excess > (worst?.1 ?? -1) || excess.isNaN { worst = (i, excess.isNaN ? .infinity : excess) }
    }
    return worst.map { ($0.0, a[$0.0], ref[$0.0]) }
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
