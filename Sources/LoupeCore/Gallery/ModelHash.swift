import Foundation
import LoupeModel

/// SHA-256 of a model's files, remembered by their size and modification time.
enum ModelHash {
    /// The files that make the model: the file itself, or a folder's
    /// config, tokenizer and weights.
    static func files(_ path: String) -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { $0.hasSuffix(".safetensors") || $0.hasSuffix(".json") || $0.hasSuffix(".gguf") }.sorted().map { path + "/" + $0 }
    }

    static func stamp(_ path: String) -> String? {
        let parts = files(path).compactMap { f -> String? in
            guard let a = try? FileManager.default.attributesOfItem(atPath: f) else { return nil }
            let size = (a[.size] as? NSNumber)?.int64Value ?? -1
            let time = (a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\((f as NSString).lastPathComponent):\(size):\(time)"
        }
        return parts.isEmpty ? nil : parts.joined(separator: ",")
    }

    static func of(_ path: String, memo: [String: Manifest.ModelRecord]) throws -> String {
        let stamp = stamp(path)
        let shown = path == Model.defaultModelPath ? "default" : path
        if let stamp, let m = memo[shown], m.stamp == stamp { return m.sha256 }
        var hasher = SHA256()
        for f in files(path) {
            hasher.update(data: try Data(contentsOf: URL(fileURLWithPath: f), options: .alwaysMapped))
        }
        return hasher.finalize().hexDigits
    }
}
