import Foundation
import LoupeSupport
import LoupeRender
import Yams

/// One thing wrong in a spec file: where it is, what is wrong, what is allowed.
public struct SpecProblem: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var message: String

    /// Messages quote the spec's text: escaped and cut, one line each.
    public var description: String { printable(file, limit: 300) + (line.map { ":\($0)" } ?? "") + ": " + printable(message, limit: 600) }
}

/// A spec that cannot be used, with every problem found in it (not just the first).
public struct SpecError: Error, Equatable, CustomStringConvertible {
    public var problems: [SpecProblem]

    public var description: String {
        let files = Set(problems.map(\.file)).sorted().joined(separator: ", ")
        let head = problems.count == 1 ? "1 problem in \(files)" : "\(problems.count) problems in \(files)"
        return ([head + ":"] + problems.map { "  " + $0.description }).joined(separator: "\n")
    }
}

/// Reads a YAML (or JSON) spec node by node, collecting every problem with
/// its line instead of stopping at the first.
///
/// Scalars are kept as written: a view option `title: no` stays the text
/// "no", and the option's own type (see `OptionResolver`) decides what it
/// means, so YAML 1.1's many spellings of booleans never surprise anyone.
final class SpecReader {
    let file: String
    /// Relative paths in the spec are relative to its folder.
    let folder: String
    private(set) var problems: [SpecProblem] = []

    init(file: String) {
        self.file = file
        folder = (file as NSString).deletingLastPathComponent
    }

    func problem(_ node: Node?, _ message: String) {
        problems.append(SpecProblem(file: file, line: node?.mark?.line, message: message))
    }

    func problem(line: Int?, _ message: String) {
        problems.append(SpecProblem(file: file, line: line, message: message))
    }

    func absorb(_ other: SpecReader) { problems += other.problems }

    /// Throws every problem found so far, if any.
    func check() throws {
        // In file order; a problem of the whole file (no line) first.
        let sorted = problems.enumerated().sorted { a, b in
            (a.element.file, a.element.line ?? 0, a.offset) < (b.element.file, b.element.line ?? 0, b.offset)
        }.map(\.element)
        if !sorted.isEmpty { throw SpecError(problems: sorted) }
    }

    /// The document's root, or nil (with a problem) when the file is missing or not YAML.
    func load() -> Node? {
        let text: String
        do throws(FileProblem) { text = try InputFile.text(file) } catch {
            problem(line: nil, error.reason)
            return nil
        }
        return parse(text)
    }

    func parse(_ text: String) -> Node? {
        do {
            guard let node = try Yams.compose(yaml: text, .basic) else {
                problem(line: nil, "the file is empty")
                return nil
            }
            return node
        } catch let error as YamlError {
            switch error {
            case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
                self.problem(line: mark.line, "not valid YAML or JSON: \(problem)")
            default:
                self.problem(line: nil, "not valid YAML or JSON: \(error)")
            }
        } catch {
            problem(line: nil, "not valid YAML or JSON: \(error)")
        }
        return nil
    }

    /// A mapping's entries by key, in file order; unknown keys and missing
    /// required keys are problems naming what is allowed.
    func mapping(_ node: Node, _ what: String, allowed: [String], required: [String] = []) -> [(key: String, node: Node, keyNode: Node)]? {
        guard let mapping = node.mapping else {
            problem(node, "\(what) must be a mapping of \(allowed.joined(separator: ", "))")
            return nil
        }
        var entries: [(key: String, node: Node, keyNode: Node)] = []
        for (k, v) in mapping {
            let key = k.scalar?.string ?? ""
            if !allowed.contains(key) {
                let hint = closest(to: key, in: allowed).map { "; did you mean '\($0)'?" } ?? ""
                problem(k, "\(what) has no key '\(key)' (allowed: \(allowed.joined(separator: ", ")))\(hint)")
                continue
            }
            entries.append((key, v, k))
        }
        for r in required where !entries.contains(where: { $0.key == r }) {
            problem(node, "\(what) needs '\(r)'")
        }
        return entries
    }

    func string(_ node: Node, _ what: String) -> String? {
        guard let s = node.scalar?.string else {
            problem(node, "\(what) must be a single value, not a list or mapping")
            return nil
        }
        return s
    }

    func int(_ node: Node, _ what: String, range: ClosedRange<Int>) -> Int? {
        guard let s = string(node, what) else { return nil }
        guard let v = Int(s.trimmingCharacters(in: .whitespaces)), range.contains(v) else {
            problem(node, "\(what) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(s)'")
            return nil
        }
        return v
    }

    func number(_ node: Node, _ what: String, range: ClosedRange<Double>) -> Double? {
        guard let s = string(node, what) else { return nil }
        guard let v = Double(s.trimmingCharacters(in: .whitespaces)), range.contains(v) else {
            problem(node, "\(what) must be a number from \(ColorScale.format(range.lowerBound)) to \(ColorScale.format(range.upperBound)), not '\(s)'")
            return nil
        }
        return v
    }

    /// A length in points: `6.75in`, `17cm`, `480pt` (a bare number is points).
    func length(_ node: Node, _ what: String) -> Double? {
        guard let s = string(node, what) else { return nil }
        guard let l = Length(parsing: s), l.unit != .px else {
            problem(node, "\(what) '\(s)' is not a length such as 6.75in, 17cm or 480pt")
            return nil
        }
        let points = l.points(dpi: 72)
        guard points >= 36, points <= 14400 else {
            problem(node, "\(what) \(s) is outside 0.5 in to 200 in")
            return nil
        }
        return points
    }

    func choice(_ node: Node, _ what: String, allowed: [String]) -> String? {
        guard let s = string(node, what) else { return nil }
        guard allowed.contains(s) else {
            problem(node, "\(what) '\(s)' is not one of \(allowed.joined(separator: ", "))")
            return nil
        }
        return s
    }

    /// A list; a single value counts as a list of one.
    func list(_ node: Node) -> [Node] {
        if let s = node.sequence { return Array(s) }
        return [node]
    }

    /// A path as written (relative to the spec's folder), resolved.
    func path(_ written: String) -> String {
        if written.hasPrefix("/") || folder.isEmpty { return written }
        return (folder as NSString).appendingPathComponent(written)
    }

    /// View options: a mapping of option names to single values, each
    /// checked against the view, every bad one reported.
    func options(_ node: Node?, view: RegisteredView, what: String) -> [String: String] {
        guard let node else { return [:] }
        guard let entries = mapping(node, "\(what) options", allowed: view.info.options.map(\.name)) else { return [:] }
        var values: [String: String] = [:]
        for e in entries {
            guard let v = string(e.node, "option '\(e.key)'") else { continue }
            // A reference to another figure's export is checked when it is known.
            if v.contains("${") { values[e.key] = v; continue }
            do {
                _ = try view.resolveOptions([e.key: v])
                values[e.key] = v
            } catch {
                problem(e.node, "\(error)")
            }
        }
        return values
    }
}
