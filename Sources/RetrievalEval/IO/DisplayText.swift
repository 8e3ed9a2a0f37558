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
}
