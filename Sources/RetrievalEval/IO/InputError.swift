/// A problem with a user's input file or argument, worded so that a person can fix it.
///
/// The description is one line: the file, where in it (line, byte offset or row), what was
/// expected, what was found, and what to do. For example:
/// `emb.fbin: byte 0: expected a file of 8 + 4*n*d = 4008 bytes for n = 10, d = 100, found 4000 bytes; the file is truncated: write it again`.
public struct InputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem this is; stable, for programs that branch on it.
    public enum Code: String, Sendable {
        case cannotOpen = "cannot-open"
        case cannotWrite = "cannot-write"
        case unknownFormat = "unknown-format"
        case badHeader = "bad-header"
        case unsupportedType = "unsupported-type"
        case unsupportedLayout = "unsupported-layout"
        case badShape = "bad-shape"
        case wrongSize = "wrong-size"
        case nonFinite = "non-finite"
        case badLabel = "bad-label"
        case countMismatch = "count-mismatch"
        /// A baseline that does not fit what is checked against it (other test set, protocol
        /// or metric).
        case baselineMismatch = "baseline-mismatch"
        /// A line of a TREC run or qrels file that is not `qid Q0 docid rank score tag` or
        /// `qid iter docid grade`, or that repeats a (qid, docid) pair.
        case badTrecLine = "bad-trec-line"
    }

    /// Where in the file the problem is.
    public enum Location: Sendable, Equatable, CustomStringConvertible {
        /// A byte offset from the start of the file.
        case byte(Int)
        /// A 1-based line number in a text file.
        case line(Int)
        /// A 0-based row (item) index, as in numpy.
        case row(Int)

        public var description: String {
            switch self {
            case .byte(let b): "byte \(b)"
            case .line(let l): "line \(l)"
            case .row(let r): "row \(r)"
            }
        }
    }

    /// What kind of problem this is.
    public var code: Code
    /// The file's path as the user gave it.
    public var file: String
    /// Where in the file the problem is; nil when it concerns the whole file.
    public var location: Location?
    /// What a valid input has here.
    public var expected: String
    /// What this input has instead.
    public var found: String
    /// What the user can do about it.
    public var remedy: String

    /// An error in `file`, at `location` if given, with what was expected, what was found and what
    /// to do.
    public init(
        _ code: Code, file: String, at location: Location? = nil,
        expected: String, found: String, remedy: String
    ) {
        self.code = code
        self.file = file
        self.location = location
        self.expected = expected
        self.found = found
        self.remedy = remedy
    }

    public var description: String {
        var s = file
        if let location { s += ": \(location)" }
        s += ": expected \(expected), found \(found)"
        if !remedy.isEmpty { s += "; \(remedy)" }
        return s
    }
}
