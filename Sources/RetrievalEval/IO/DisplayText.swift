/// Text from files, baselines and stores made printable: control characters (newlines, tabs,
/// escape sequences, NUL, DEL and the C1 range) become visible escapes such as `\n`, `\t` or
/// `\u{1b}`, so a name or label can neither split a table, Markdown or CSV row, nor reach a
/// terminal or a CI log as a command.
public enum DisplayText {
    /// `text` with every control character escaped; a backslash is kept as it is, so text
    /// without control characters is returned unchanged.
    public static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            guard isControl(scalar) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out += "\\u{" + String(scalar.value, radix: 16) + "}"
            }
        }
        return out
    }

    /// Whether `scalar` is a C0 or C1 control character or DEL.
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// Text as XML character data or an attribute value: the five special characters escaped,
    /// and control characters (not allowed in XML 1.0) shown as `escape` does.
    public static func xml(_ text: String) -> String {
        var out = ""
        for c in escape(text) {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }

    /// `value` with exactly `decimals` digits after the point, rounded half away from zero;
    /// NaN, infinities and magnitudes past Int's range as Swift prints them (never a trap).
    public static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite, abs(value) < 1e15 else { return value.isNaN ? "nan" : "\(value)" }
        var scale = 1.0
        for _ in 0 ..< decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded(.toNearestOrAwayFromZero)
        let sign = value < 0 && scaled != 0 ? "-" : ""
        let whole = Int(scaled / scale)
        guard decimals > 0 else { return sign + String(whole) }
        let digits = String(Int(scaled - Double(whole) * scale))
        return sign + String(whole) + "." + String(repeating: "0", count: decimals - digits.count) + digits
    }
}
