/// Fonts, sizes and colours shared by every view, so that panels put side
/// by side look like one figure.
public struct Theme: Sendable, Equatable {
    public var name: String
    public var background: Color
    public var foreground: Color
    /// Secondary text: axis titles, notes.
    public var muted: Color
    /// Cell borders, grid lines, frames.
    public var rule: Color
    /// Marks that must stand out on any colormap (correct predictions, selections).
    public var accent: Color
    /// Cells without a value.
    public var missing: Color
    public var fontFamily: String
    public var titleSize: Double
    public var labelSize: Double
    public var tickSize: Double
    /// Text inside heatmap cells.
    public var annotationSize: Double
    /// No text is set smaller than this; below it labels are thinned out or cut.
    public var minimumTextSize: Double
    /// Space around a figure.
    public var margin: Double
    /// Space between a plot and its labels.
    public var gap: Double
    public var lineWidth: Double

    public var titleFont: Font { Font(family: fontFamily, size: titleSize, bold: true) }
    public var labelFont: Font { Font(family: fontFamily, size: labelSize) }
    public var tickFont: Font { Font(family: fontFamily, size: tickSize) }
    public var annotationFont: Font { Font(family: fontFamily, size: annotationSize) }

    /// Screen and slides: 9–11 pt text on white.
    public static let light = Theme(
        name: "light", background: .white, foreground: Color(hex: 0x1A1A1A), muted: Color(hex: 0x5F6368),
        rule: Color(hex: 0xBDBDBD), accent: Color(hex: 0xE8710A), missing: Color(hex: 0xEEEEEE),
        fontFamily: "DejaVu Sans", titleSize: 11, labelSize: 9, tickSize: 8, annotationSize: 7,
        minimumTextSize: 5, margin: 10, gap: 4, lineWidth: 0.75)

    /// The same proportions on a dark ground.
    public static let dark = Theme(
        name: "dark", background: Color(hex: 0x16181D), foreground: Color(hex: 0xE8EAED), muted: Color(hex: 0x9AA0A6),
        rule: Color(hex: 0x4A4E57), accent: Color(hex: 0xFFB74D), missing: Color(hex: 0x2A2D34),
        fontFamily: "DejaVu Sans", titleSize: 11, labelSize: 9, tickSize: 8, annotationSize: 7,
        minimumTextSize: 5, margin: 10, gap: 4, lineWidth: 0.75)

    /// Print: 7–8 pt text, thin rules, tight margins, for a 3.25 in or 6.75 in column.
    public static let paper = Theme(
        name: "paper", background: .white, foreground: .black, muted: Color(hex: 0x444444),
        rule: Color(hex: 0x999999), accent: Color(hex: 0xD55E00), missing: Color(hex: 0xEEEEEE),
        fontFamily: "DejaVu Sans", titleSize: 8, labelSize: 7, tickSize: 7, annotationSize: 6,
        minimumTextSize: 6, margin: 4, gap: 2.5, lineWidth: 0.5)

    public static let all: [Theme] = [.light, .dark, .paper]

    public static func named(_ name: String) -> Theme? { all.first { $0.name == name } }
}

