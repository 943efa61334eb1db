import Foundation

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

    /// The set shipped with Loupe, relative to the working folder.
    public static let defaultPath = "Gallery/prompts/topics.jsonl"

    /// Reads and checks a prompt set; a bad line is an error naming its number.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CoreError.badPromptSet(path: path, line: nil, detail: "no such file (the default is \(Self.defaultPath) in a Loupe checkout)")
        }
        var entries: [Entry] = []
        for (i, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
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
