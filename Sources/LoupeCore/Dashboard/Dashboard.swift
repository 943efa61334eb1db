import Foundation
import LoupeModel
import LoupeRender

/// A dashboard's panels analysed: ready to lay out and draw.
public struct Dashboard: Sendable {
    /// The spec, less the panels left out.
    public var spec: DashboardSpec
    public var prompt: String
    public var records: [FigureRecord]
    /// Panels with nothing to show for this prompt (a score defined at no
    /// position), left out of the page, each with its reason.
    public var omitted: [String]

    /// Analyses every panel on one shared forward pass (`input`, made with
    /// at least `spec.hooks`). A panel whose view has nothing to show for
    /// the prompt is left out, and the page says so under its title.
    public init(spec: DashboardSpec, input: AnalysisInput) throws {
        var kept: [DashboardSpec.Panel] = [], records: [FigureRecord] = [], omitted: [String] = []
        for p in spec.panels {
            do {
                records.append(try FigurePipeline.analyze(p.view, input: input, options: try p.view.resolveOptions(p.options)))
                kept.append(p)
            } catch let CoreError.nothingToShow(view, reason) {
                omitted.append("\(view): \(reason)")
            }
        }
        guard !kept.isEmpty else {
            throw CoreError.badOptions(source: "'\(spec.file)'", detail: "no panel has anything to show for this prompt (\(omitted.joined(separator: "; ")))")
        }
        self.spec = spec
        self.spec.panels = kept
        prompt = input.prompt
        self.records = records
        self.omitted = omitted
    }

    /// Panels already analysed (for programs that keep records, and tests).
    public init(spec: DashboardSpec, prompt: String, records: [FigureRecord], omitted: [String] = []) {
        self.spec = spec; self.prompt = prompt; self.records = records; self.omitted = omitted
    }

    /// The lines under the title: the prompt, the model, and the panels
    /// left out.
    public var header: [String] {
        var lines = ["prompt: “\(prompt.replacingOccurrences(of: "\n", with: "↵"))”"]
        if let model = records.first?.modelCaption { lines.append("model: \(model)") }
        if !omitted.isEmpty { lines.append("left out: " + omitted.joined(separator: "; ")) }
        return lines
    }
}
