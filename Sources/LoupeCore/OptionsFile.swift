import Foundation
import LoupeSupport
import Yams

/// Options for a view from a YAML or JSON file (a mapping of option names
/// to scalar values), merged under `--set` values.
public enum OptionsFile {
    public static func read(_ path: String) throws -> [String: String] {
        let text: String
        do throws(FileProblem) { text = try InputFile.text(path) } catch {
            throw CoreError.badOptions(source: "'\(path)'", detail: error.reason)
        }
        return try parse(text, source: path)
    }

    /// Most bytes an options file may have: a few options take a few lines.
    static let maxBytes = 1 << 20

    /// Parses a YAML (or JSON, a subset of YAML) mapping of scalars. The
    /// document is read as nodes (never expanded into values, so aliases
    /// cannot multiply it), and scalars are kept as written: the option's
    /// own type decides what `no` or `1e3` means, as in gallery specs.
    public static func parse(_ text: String, source: String) throws -> [String: String] {
        func bad(_ detail: String) -> CoreError { .badOptions(source: "'\(source)'", detail: detail) }
        guard text.utf8.count <= maxBytes else { throw bad("the file is over 1 MB; options files hold a few options") }
        let reader = SpecReader(file: source)
        guard let root = reader.parse(text) else {
            // An empty file sets nothing.
            if reader.problems.first?.message == "the file is empty" { return [:] }
            throw bad(reader.problems.first.map { p in (p.line.map { "line \($0): " } ?? "") + p.message } ?? "not YAML or JSON")
        }
        if case .scalar = root, (root.scalar?.string ?? "").isEmpty || root.scalar?.string == "~" || root.scalar?.string == "null" { return [:] }
        guard let mapping = root.mapping else { throw bad("expected a mapping of option names to values") }
        var out: [String: String] = [:]
        for (k, v) in mapping {
            guard let key = k.scalar?.string else { throw bad("option names must be single words, not lists or mappings") }
            guard let value = v.scalar?.string else {
                throw bad("option '\(printable(key, limit: 80))' must be a single value, not a list or mapping")
            }
            out[key] = value
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
