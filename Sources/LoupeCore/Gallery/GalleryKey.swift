import Foundation
import LoupeModel
import LoupeRender

/// When an item may be skipped: the files it writes, and a digest of
/// everything they depend on.
extension GalleryRunner {
    /// The files an item writes, relative to the output folder.
    func expectedFiles(_ item: Item) -> [String: String] {
        let rel = String(item.base.dropFirst(options.out.count + 1))
        switch item.kind {
        case .figure:
            var files = ["json": rel + ".json"]
            for f in spec.formats { files[f.rawValue] = rel + "." + f.rawValue }
            if spec.latex, spec.formats.contains(.pdf) { files["tex"] = rel + ".tex" }
            return files
        case let .dashboard(d):
            let folder = String(rel.dropLast(".html".count)) + "_files"
            var files = ["html": rel]
            for f in spec.formats { files["page." + f.rawValue] = folder + "/page." + f.rawValue }
            for (i, p) in d.spec.panels.enumerated() {
                let base = String(PanelLabel.text(i).dropFirst().dropLast()) + "-" + p.view.info.id
                files[base + ".json"] = folder + "/" + base + ".json"
                for f in spec.formats { files[base + "." + f.rawValue] = folder + "/" + base + "." + f.rawValue }
            }
            return files
        }
    }

    /// A digest of everything the item's files depend on.
    func key(_ item: Item, options values: [String: String]) throws -> String {
        var parts = ["loupe \(FigurePipeline.version)", "model \(modelHashes[item.model])", "prompt \(item.prompt?.text ?? "")",
                     "theme \(item.theme.name)", "formats \(spec.formats.map(\.rawValue))", "dpi \(spec.dpi)", "latex \(spec.latex)"]
        // Files named by options (a prompt set, a direction) count by their contents.
        func files(_ options: [String: String]) -> [String] {
            options.sorted { $0.key < $1.key }.compactMap { k, v in
                guard let data = try? InputFile.read(v) else { return nil }
                return "file \(k) " + SHA256.hash(data: data).hexDigits
            }
        }
        switch item.kind {
        case let .figure(f):
            parts.append("view \(f.view.info.id)")
            parts.append("options " + String(decoding: try f.view.optionsJSON(try f.view.resolveOptions(values)), as: UTF8.self))
            parts.append("width \(f.width.map { "\($0)" } ?? "natural")")
            parts += files(values)
        case let .dashboard(d):
            parts.append("dashboard " + ((try? String(contentsOfFile: d.spec.file, encoding: .utf8)) ?? d.spec.file))
            parts.append("templates " + templates.fingerprint)
            for p in d.spec.panels { parts += files(p.options) }
        }
        let digest = SHA256.hash(data: Data(parts.joined(separator: "\n").utf8))
        return digest.hexDigits
    }
}
