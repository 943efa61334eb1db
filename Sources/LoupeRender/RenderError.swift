/// What can go wrong while drawing or writing a figure.
public enum RenderError: Error, Equatable, CustomStringConvertible {
    /// Cairo reported an error status.
    case cairo(String)
    /// libpng failed to encode the image.
    case png(String)
    /// The figure is too large to rasterise (or has no area).
    case badSize(width: Double, height: Double, dpi: Double)
    /// A drawing was given data whose parts disagree in shape.
    case inconsistent(String)
    /// The output file could not be written.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cairo(message): "drawing failed: cairo says '\(message)'"
        case let .png(message): "encoding the PNG failed: libpng says '\(message)'"
        case let .badSize(w, h, dpi):
            "a figure of \(ColorScale.format(w)) × \(ColorScale.format(h)) pt at \(ColorScale.format(dpi)) dpi cannot be rasterised: give a width and height above 0 and below 16 000 px"
        case let .inconsistent(what): "cannot draw: \(what)"
        case let .writeFailed(path, reason): "cannot write '\(path)': \(reason)"
        }
    }
}
