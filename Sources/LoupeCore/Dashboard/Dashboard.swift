import Foundation
import LoupeModel
import LoupeRender

/// A dashboard's panels analysed: ready to lay out and draw.
public struct Dashboard: Sendable {
    public var spec: DashboardSpec
    public var prompt: String
    public var records: [FigureRecord]

    /// Analyses every panel on one shared forward pass (`input`, made with
    /// at least `spec.hooks`).
    public init(spec: DashboardSpec, input: AnalysisInput) throws {
        self.spec = spec
        prompt = input.prompt
        records = try spec.panels.map { p in
            try FigurePipeline.analyze(p.view, input: input, options: try p.view.resolveOptions(p.options))
        }
    }

    /// Panels already analysed (for programs that keep records, and tests).
    public init(spec: DashboardSpec, prompt: String, records: [FigureRecord]) {
        self.spec = spec; self.prompt = prompt; self.records = records
    }
}
