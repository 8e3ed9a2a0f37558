/// A problem with sharding: a shard out of range, no job array for `--shard auto`, parts
/// that are missing, duplicated or disagree. One line that names the part and says what to do.
public struct ShardError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem this is; stable, for programs that branch on it.
    public enum Code: String, Sendable {
        /// `--shard` out of range, or `--shard auto` outside a usable job array.
        case badShard = "bad-shard"
        /// A part is missing from the folder.
        case missingPart = "missing-part"
        /// Two parts claim the same shard.
        case duplicatePart = "duplicate-part"
        /// A part from other data, settings, shard count or tool version.
        case mismatchedPart = "mismatched-part"
        /// No part at all in the folder.
        case noParts = "no-parts"
    }

    /// What kind of problem this is.
    public let code: Code
    /// One line that names the part and says what to do.
    public let message: String

    /// An error of kind `code` with its message.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
