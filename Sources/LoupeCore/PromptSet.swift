import Foundation
import LoupeModel
import LoupeSupport
import Synchronization

/// A topic-labelled prompt set: JSON lines of `{"topic": ..., "text": ...}`.
public struct PromptSet: Sendable {
    public struct Entry: Sendable, Codable, Equatable {
        public let topic: String
        public let text: String
    }

    public let path: String
    public let entries: [Entry]

    /// The topics in the order they first appear.
    public var topics: [String] {
        var seen = Set<String>()
        return entries.map(\.topic).filter { seen.insert($0).inserted }
    }

    /// A set shipped with Loupe is named `builtin:NAME` (the file
    /// `Resources/Prompts/NAME.jsonl` of LoupeCore); anything else is a path.
    public static let builtinPrefix = "builtin:"

    /// The default of views that read a prompt set.
    public static let defaultPath = builtinPrefix + "topics"

    /// The names of the sets shipped with Loupe.
    public static var builtinNames: [String] {
        guard let folder = try? LoupeResources.folder() + "/Prompts" else { return [] }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return files.filter { $0.hasSuffix(".jsonl") }.map { String($0.dropLast(6)) }.sorted()
    }

    /// Reads and checks a prompt set (a path, or `builtin:NAME`); a bad line
    /// is an error naming its number.
    public init(path: String) throws {
        var file = path
        if path.hasPrefix(Self.builtinPrefix) {
            let name = String(path.dropFirst(Self.builtinPrefix.count))
            let names = Self.builtinNames
            guard names.contains(name) else {
                throw CoreError.badPromptSet(path: path, line: nil, detail: "Loupe ships no such prompt set (it has \(names.map { Self.builtinPrefix + $0 }.joined(separator: ", ")))")
            }
            file = try LoupeResources.folder() + "/Prompts/\(name).jsonl"
        }
        let text: String
        do throws(FileProblem) { text = try InputFile.text(file) } catch {
            throw CoreError.badPromptSet(path: path, line: nil, detail: error.reason)
        }
        var entries: [Entry] = []
        // Any line break (a Windows "\r\n" is one Character, not a "\n"); a byte-order mark is not content.
        let body = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        for (i, line) in body.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            guard let entry = try? JSONDecoder().decode(Entry.self, from: Data(trimmed.utf8)) else {
                throw CoreError.badPromptSet(path: path, line: i + 1, detail: "expected {\"topic\": \"...\", \"text\": \"...\"}")
            }
            guard !entry.text.isEmpty, !entry.topic.isEmpty else {
                throw CoreError.badPromptSet(path: path, line: i + 1, detail: "the topic and the text must not be empty")
            }
            entries.append(entry)
        }
        guard !entries.isEmpty else { throw CoreError.badPromptSet(path: path, line: nil, detail: "it holds no prompts") }
        self.path = path
        self.entries = entries
    }
}

/// Every prompt of a set run once, in packed passes, recording one hook
/// point. Views that read a prompt set at the same block (neuron clusters
/// and text deep dream's reference passage) share the run: the last two are
/// kept in memory (a set of 440 prompts at one MLP layer of SmolLM2 is about
/// 70 MB).
public struct PromptSetRun: Sendable {
    /// Each prompt's ids (BOS included as the model prepends it), in the set's file order.
    public let ids: [[Int]]
    /// Each prompt's activations at the hook point [tokens, width].
    public let activations: [Tensor]

    struct Key: Hashable { let model: String, entries: Int, hook: String }
    static let kept = Mutex<[(key: Key, run: PromptSetRun)]>([])

    /// Runs (or recalls) `set` on `model`, stopping after `hook`'s block. A
    /// prompt the model cannot run is an error naming it.
    public static func run(_ set: PromptSet, model: Model, hook: HookPoint, block: Int) throws -> PromptSetRun {
        var h = Hasher()
        for e in set.entries { h.combine(e.topic); h.combine(e.text) }
        let key = Key(model: model.path, entries: h.finalize(), hook: hook.name)
        if let hit = kept.withLock({ $0.first { $0.key == key }?.run }) { return hit }
        var batch: [[Int]] = []
        for (i, e) in set.entries.enumerated() {
            let ids = model.tokenize(e.text)
            do { try model.validate(ids) } catch {
                throw CoreError.badPromptSet(path: set.path, line: nil, detail: "prompt \(i + 1) (\(e.topic)): \(error)")
            }
            batch.append(ids)
        }
        let results = try model.forward(batch: batch, hooks: .matching([hook.name]), lastBlock: block)
        let run = PromptSetRun(ids: batch, activations: results.map { $0.cache[hook]! })
        kept.withLock { list in
            list.removeAll { $0.key == key }
            list.insert((key, run), at: 0)
            if list.count > 2 { list.removeLast() }
        }
        return run
    }
}
