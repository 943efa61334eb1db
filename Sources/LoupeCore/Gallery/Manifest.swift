import Foundation
import LoupeModel

/// The manifest, `manifest.json`: what each item is, its files and digest,
/// and how it went. Rewritten after every item (it is the run's journal),
/// and read by the next run to skip what has not changed.
extension GalleryRunner {
    func writeManifest(_ outcomes: [Outcome?]) throws -> String {
        var figures: [Any] = []
        for (i, item) in items.enumerated() {
            // Items not selected this run keep their previous entry.
            guard let o = outcomes[i] else {
                if let old = previous.entries[item.id], let entry = try? JSONSerialization.jsonObject(with: old) { figures.append(entry) }
                continue
            }
            var e: [String: Any] = ["id": item.id, "name": item.name, "model": spec.models[item.model].name, "theme": item.theme.name,
                                    "status": o.status.rawValue, "files": o.files, "key": o.key,
                                    "seconds": (o.seconds * 1000).rounded() / 1000]
            if let p = item.prompt { e["prompt"] = p.name; e["prompt_text"] = p.text }
            if let err = o.error { e["error"] = err }
            switch item.kind {
            case let .figure(f):
                e["kind"] = "figure"
                e["view"] = f.view.info.id
                if let resolved = try? f.view.optionsJSON(try f.view.resolveOptions(o.options)),
                   let object = try? JSONSerialization.jsonObject(with: resolved) {
                    e["options"] = object
                } else {
                    e["options"] = o.options
                }
            case let .dashboard(d):
                e["kind"] = "dashboard"
                e["views"] = d.spec.panels.map(\.view.info.id)
                e["spec"] = Pages.relative(d.spec.file, to: options.out)
            }
            figures.append(e)
        }
        var modelEntries: [[String: Any]] = []
        for (m, entry) in spec.models.enumerated() {
            let path = entry.path ?? Model.defaultModelPath
            var e: [String: Any] = ["name": entry.name, "path": entry.path ?? "default"]
            if m < modelHashes.count, !modelHashes[m].isEmpty {
                e["sha256"] = modelHashes[m]
                if let stamp = ModelHash.stamp(path) { e["stamp"] = stamp }
            }
            modelEntries.append(e)
        }
        let manifest: [String: Any] = [
            "loupe_version": FigurePipeline.version, "title": spec.title, "spec": spec.file,
            "formats": spec.formats.map(\.rawValue), "themes": spec.themes.map(\.name),
            "models": modelEntries,
            "prompts": spec.prompts.map { ["name": $0.name, "text": $0.text, "about": $0.about, "shown": shown($0)] },
            "figures": figures,
        ]
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        let path = options.out + "/manifest.json"
        try AtomicFile.write(data, to: path)
        return path
    }
}

/// The previous run's manifest, for skipping unchanged figures.
enum Manifest {
    struct ModelRecord: Sendable { var sha256: String; var stamp: String }

    /// What a run needs of the previous one.
    struct Previous: Sendable {
        /// Each item that did not fail: its digest and files.
        var figures: [String: (key: String, files: [String: String])] = [:]
        /// Each model's digest, by path, with the stamp it was taken at.
        var models: [String: ModelRecord] = [:]
        /// What each ids prompt decoded to.
        var shown: [String: String] = [:]
        /// Every item's entry as written (JSON), kept for the items not
        /// selected this run.
        var entries: [String: Data] = [:]
    }

    static func read(_ path: String) -> Previous {
        // Only a regular file is read (a FIFO here would block).
        guard let data = try? InputFile.read(path),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return Previous() }
        var shown: [String: String] = [:]
        for p in root["prompts"] as? [[String: Any]] ?? [] {
            if let name = p["name"] as? String, let s = p["shown"] as? String { shown[name] = s }
        }
        var figures: [String: (key: String, files: [String: String])] = [:]
        for f in root["figures"] as? [[String: Any]] ?? [] {
            guard let id = f["id"] as? String, let key = f["key"] as? String, let status = f["status"] as? String,
                  status != GalleryRunner.Status.failed.rawValue, let files = f["files"] as? [String: String] else { continue }
            figures[id] = (key, files)
        }
        var models: [String: ModelRecord] = [:]
        for m in root["models"] as? [[String: Any]] ?? [] {
            if let path = m["path"] as? String, let sha = m["sha256"] as? String, let stamp = m["stamp"] as? String {
                models[path] = ModelRecord(sha256: sha, stamp: stamp)
            }
        }
        var entries: [String: Data] = [:]
        for f in root["figures"] as? [[String: Any]] ?? [] {
            if let id = f["id"] as? String, let entry = try? JSONSerialization.data(withJSONObject: f) { entries[id] = entry }
        }
        return Previous(figures: figures, models: models, shown: shown, entries: entries)
    }
}
