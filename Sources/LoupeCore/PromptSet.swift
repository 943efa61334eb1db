import Foundation
import LoupeFiles

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
        let text: String
        do throws(FileProblem) { text = try InputFile.text(path) } catch {
            let hint = error.reason == "no such file" ? " (the default is \(Self.defaultPath) in a Loupe checkout)" : ""
            throw CoreError.badPromptSet(path: path, line: nil, detail: error.reason + hint)
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
