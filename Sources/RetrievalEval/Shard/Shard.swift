/// One of N query shards: a contiguous, balanced range of the query rows.
///
/// Shard `index` of `count` over n queries holds rows `n * index / count ..< n * (index + 1) / count`,
/// so every process that knows n and N computes the same ranges, the shards cover every
/// query exactly once, in order, and their sizes differ by at most one. When N exceeds n some
/// shards are empty; an empty shard still writes its part (with no queries), so that a
/// scheduler's fixed-size array always merges.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// 0-based: 0 ..< count.
    public let index: Int
    /// N: the number of shards, at least 1.
    public let count: Int

    /// The largest N accepted (one million shards).
    public static let maximumCount = 1_000_000

    /// - Throws: `ShardError` unless 0 <= index < count <= `maximumCount`.
    public init(index: Int, count: Int) throws {
        guard count >= 1 && count <= Shard.maximumCount else {
            throw ShardError(.badShard, "--shard: expected I/N with N from 1 to \(Shard.maximumCount) shards, found N = \(count); give the number of array tasks as N (e.g. --shard 0/4)")
        }
        guard index >= 0 && index < count else {
            throw ShardError(.badShard, "--shard: expected I/N with I from 0 to N - 1 = \(count - 1) (shards count from 0), found I = \(index); with a Slurm array --array=1-\(count), I is SLURM_ARRAY_TASK_ID - 1 (or use --shard auto)")
        }
        self.index = index
        self.count = count
    }

    /// Parses "I/N" (0-based I). Returns nil when the text is not two integers around a slash
    /// (a malformed flag); a well-formed pair out of range throws.
    public static func parse(_ text: String) throws -> Shard? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else { return nil }
        return try Shard(index: i, count: n)
    }

    /// The shard of the current array task, from the environment: Slurm's
    /// SLURM_ARRAY_TASK_ID minus SLURM_ARRAY_TASK_MIN, of SLURM_ARRAY_TASK_COUNT (or
    /// MAX - MIN + 1) tasks; else Kubernetes' JOB_COMPLETION_INDEX of DMLEVAL_SHARDS.
    ///
    /// - Throws: `ShardError` outside a job array, or for an array with a step or gaps (its
    ///   task ids are not MIN ... MAX one by one, so they cannot name the shards).
    public static func fromEnvironment(_ environment: [String: String]) throws -> Shard {
        func integer(_ name: String) throws -> Int? {
            guard let text = environment[name], !text.isEmpty else { return nil }
            guard let value = Int(text) else {
                throw ShardError(.badShard, "--shard auto: expected $\(name) to be an integer, found '\(text.prefix(40))'; this is set by the scheduler: run inside a job array")
            }
            return value
        }
        if let id = try integer("SLURM_ARRAY_TASK_ID") {
            let minimum = try integer("SLURM_ARRAY_TASK_MIN") ?? 0
            let maximum = try integer("SLURM_ARRAY_TASK_MAX")
            let count = try integer("SLURM_ARRAY_TASK_COUNT") ?? maximum.map { $0 - minimum + 1 }
            guard let count else {
                throw ShardError(.badShard, "--shard auto: expected SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MAX beside SLURM_ARRAY_TASK_ID=\(id), found neither; give --shard I/N explicitly")
            }
            if let maximum, maximum - minimum + 1 != count {
                throw ShardError(.badShard, "--shard auto: expected a Slurm array of consecutive task ids (--array=\(minimum)-\(minimum + count - 1)), found \(count) tasks from \(minimum) to \(maximum) (a step or gaps); submit --array=0-\(count - 1), or give --shard I/N")
            }
            return try Shard(index: id - minimum, count: count)
        }
        if let index = try integer("JOB_COMPLETION_INDEX") {
            guard let count = try integer("DMLEVAL_SHARDS") else {
                throw ShardError(.badShard, "--shard auto: expected DMLEVAL_SHARDS (the Indexed Job's completions) beside JOB_COMPLETION_INDEX=\(index), found none; set it in the pod's environment")
            }
            return try Shard(index: index, count: count)
        }
        throw ShardError(.badShard, "--shard auto: expected a job array's environment (SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX with DMLEVAL_SHARDS), found none; run it as an array task (sbatch --array), or give --shard I/N")
    }

    /// The query rows of this shard among `queries`.
    public func rows(of queries: Int) -> Range<Int> {
        precondition(queries >= 0)
        return queries * index / count ..< queries * (index + 1) / count
    }

    /// The part's file name: `part-I-of-N`.
    public var fileName: String { "part-\(index)-of-\(count)" }

    /// Parses a part's file name (`part-I-of-N`, nothing else); nil for any other name.
    public static func parseFileName(_ name: String) -> (index: Int, count: Int)? {
        guard name.hasPrefix("part-") else { return nil }
        let rest = name.dropFirst(5).split(separator: "-", omittingEmptySubsequences: false)
        guard rest.count == 3, rest[1] == "of", let i = Int(rest[0]), let n = Int(rest[2]),
              String(i) == rest[0], String(n) == rest[2] else { return nil }
        return (i, n)
    }

    public var description: String { "\(index)/\(count)" }
}
