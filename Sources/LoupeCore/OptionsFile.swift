import Foundation
import Yams

/// Options for a view from a YAML or JSON file (a mapping of option names
/// to scalar values), merged under `--set` values.
public enum OptionsFile {
    public static func read(_ path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CoreError.badOptions(source: "'\(path)'", detail: "no such file")
        }
        return try parse(String(decoding: data, as: UTF8.self), source: path)
    }

    /// Parses a YAML (or JSON, a subset of YAML) mapping of scalars.
    public static func parse(_ text: String, source: String) throws -> [String: String] {
        let loaded: Any?
        do { loaded = try Yams.load(yaml: text) } catch {
            throw CoreError.badOptions(source: "'\(source)'", detail: "not YAML or JSON: \(error)")
        }
        guard let loaded else { return [:] }
        guard let mapping = loaded as? [String: Any] else {
            throw CoreError.badOptions(source: "'\(source)'", detail: "expected a mapping of option names to values")
        }
        var out: [String: String] = [:]
        for (k, v) in mapping {
            switch v {
            case let s as String: out[k] = s
            case let b as Bool: out[k] = b ? "true" : "false"
            case let i as Int: out[k] = String(i)
            case let d as Double: out[k] = String(d)
            default: throw CoreError.badOptions(source: "'\(source)'", detail: "option '\(k)' must be a single value, not a list or mapping")
            }
        }
        return out
    }

    /// `key=value` strings from the command line.
    public static func parseAssignments(_ items: [String]) throws -> [String: String] {
        var out: [String: String] = [:]
        for item in items {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw CoreError.badOptions(source: "--set", detail: "'\(item)' is not key=value")
            }
            out[String(item[..<eq]).trimmingCharacters(in: .whitespaces)] = String(item[item.index(after: eq)...])
        }
        return out
    }
}
