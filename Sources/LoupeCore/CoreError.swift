import LoupeSupport

/// Errors of the view registry, options and figure pipeline.
public enum CoreError: Error, Equatable, CustomStringConvertible {
    /// No registered view has this id.
    case unknownView(id: String, available: [String])
    /// A view was given an option it does not have.
    case unknownOption(view: String, key: String, allowed: [String])
    /// An option's value has the wrong type or is not one of the allowed values.
    case badOptionValue(view: String, key: String, value: String, expected: String)
    /// A figure data file could not be read back.
    case badFigureData(path: String, detail: String)
    /// An options file or a `--set` item that cannot be read.
    case badOptions(source: String, detail: String)
    /// A prompt set file is missing, empty or has a malformed line.
    case badPromptSet(path: String, line: Int?, detail: String)
    /// A view's analysis found its input unusable (a layer out of range, say).
    case invalidInput(view: String, detail: String)
    /// The view has nothing to draw for this prompt (a score defined at no
    /// position of it); a dashboard leaves such a panel out.
    case nothingToShow(view: String, reason: String)
    /// `loupe new-view` cannot write what was asked.
    case newView(String)
    /// Files Loupe ships with its code (templates, prompt sets) were not found or not usable.
    case badResource(what: String, detail: String)

    public var description: String {
        switch self {
        case let .unknownView(id, available):
            let hint = closest(to: id, in: available).map { "; did you mean '\($0)'?" } ?? ""
            return "unknown view '\(printable(id, limit: 120))' (views: \(available.joined(separator: ", ")))\(hint)"
        case let .unknownOption(view, key, allowed):
            let hint = closest(to: key, in: allowed).map { "; did you mean '\($0)'?" } ?? ""
            return "view '\(view)' has no option '\(printable(key, limit: 120))' (options: \(allowed.joined(separator: ", ")))\(hint)"
        case let .badOptionValue(view, key, value, expected):
            return "view '\(view)' option '\(printable(key, limit: 120))': '\(printable(value, limit: 200))' is not \(expected)"
        case let .badFigureData(path, detail):
            return "cannot read figure data '\(path)': \(detail)"
        case let .badOptions(source, detail):
            return "options from \(source): \(detail)"
        case let .badPromptSet(path, line, detail):
            return "prompt set '\(path)'" + (line.map { " line \($0)" } ?? "") + ": \(detail)"
        case let .invalidInput(view, detail):
            return "view '\(view)': \(detail)"
        case let .nothingToShow(view, reason):
            return "view '\(view)': nothing to show for this prompt: \(reason)"
        case let .newView(detail):
            return "new-view: \(detail)"
        case let .badResource(what, detail):
            return "\(what): \(detail)"
        }
    }
}

/// The candidate most like `word`, for "did you mean": within edit distance
/// 2, or sharing its first four letters (`colour` → `colormap`).
func closest(to word: String, in candidates: [String]) -> String? {
    func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0 ... b.count)
        for i in 1 ... max(1, a.count) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1 ... max(1, b.count) where !b.isEmpty {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
    let w = word.lowercased()
    let scored = candidates.map { ($0, distance(w, $0.lowercased())) }.filter { $0.1 <= 2 }
    if let best = scored.min(by: { $0.1 < $1.1 }) { return best.0 }
    return w.count >= 4 ? candidates.first { $0.lowercased().hasPrefix(String(w.prefix(4))) } : nil
}
