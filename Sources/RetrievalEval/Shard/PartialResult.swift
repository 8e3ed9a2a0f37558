/// What one query shard scored: every per-query value and R of its rows, with everything a
/// merge needs to prove that the parts belong to one evaluation (the metric list and every
/// convention, the search settings, the data's hashes, the tool's version).
///
/// Written as `DIR/part-I-of-N` by `write(to:)` (under a temporary name, then renamed), read
/// back and validated by `read(_:)`; `ShardMerge` joins the N parts into one report. The
/// file format is in docs/formats.md ("Partial results").
public struct PartialResult: Sendable {
    /// The version of the file format this dmleval writes (and the newest it reads).
    public static let formatVersion = 1

    /// The dmleval version that wrote the part; every part of a merge must have the same.
    public var toolVersion: String
    /// Which shard of how many this part is.
    public var shard: Shard
    /// The queries of the whole evaluation (this part holds `rows`).
    public var totalQueries: Int
    /// The metrics scored, in report order.
    public var metrics: [Metric]
    /// The depth of the whole evaluation (the largest any query needs), as the run records it.
    public var depth: Int
    /// The depth of the Recall@k and Precision@k curves (0: none), the same in every part.
    public var curveDepth: Int
    /// Classes of the references (for per-class means).
    public var classCount: Int
    /// Every setting and convention of the run, as the unsharded run records them, in order.
    public var parameters: [(String, String)]
    /// How to read the inputs again (paths made absolute, reader options): the merge reads
    /// them to record the dataset in a store.
    public var inputs: [(String, String)]
    /// The references (all rows, in self-retrieval the queries too).
    public var dataset: Baseline.DatasetIdentity
    /// The separate queries; nil in self-retrieval.
    public var queryDataset: Baseline.DatasetIdentity?
    /// Seconds this shard spent per stage ("read", "search", "metrics").
    public var timings: [(String, Double)]
    /// R of each query of the shard.
    public var relevantCounts: [Int]
    /// Each query's class in the references' class space (-1: no reference has its label).
    public var classes: [Int32]
    /// `values[i * metrics.count + m]`: metric m of the shard's i-th query; NaN when R = 0.
    public var values: [Double]
    /// Curve counts over the shard's scored queries: queries whose first relevant item is at
    /// rank k (`firstHits[k - 1]`; `firstHits[curveDepth]`: none within the depth). Empty when
    /// `curveDepth` is 0.
    public var firstHits: [Int]
    /// Curve counts over the shard's scored queries: relevant items at rank k (`hitsAt[k - 1]`).
    /// Empty when `curveDepth` is 0.
    public var hitsAt: [Int]

    /// A part from every field, as `ShardEvaluation` fills them.
    public init(
        toolVersion: String, shard: Shard, totalQueries: Int, metrics: [Metric], depth: Int, curveDepth: Int,
        classCount: Int, parameters: [(String, String)], inputs: [(String, String)],
        dataset: Baseline.DatasetIdentity, queryDataset: Baseline.DatasetIdentity?, timings: [(String, Double)],
        relevantCounts: [Int], classes: [Int32], values: [Double], firstHits: [Int], hitsAt: [Int]
    ) {
        precondition(relevantCounts.count == shard.rows(of: totalQueries).count && classes.count == relevantCounts.count)
        precondition(values.count == relevantCounts.count * metrics.count)
        precondition(curveDepth == 0 ? firstHits.isEmpty && hitsAt.isEmpty : firstHits.count == curveDepth + 1 && hitsAt.count == curveDepth)
        self.toolVersion = toolVersion
        self.shard = shard
        self.totalQueries = totalQueries
        self.metrics = metrics
        self.depth = depth
        self.curveDepth = curveDepth
        self.classCount = classCount
        self.parameters = parameters
        self.inputs = inputs
        self.dataset = dataset
        self.queryDataset = queryDataset
        self.timings = timings
        self.relevantCounts = relevantCounts
        self.classes = classes
        self.values = values
        self.firstHits = firstHits
        self.hitsAt = hitsAt
    }

    /// The query rows this part holds.
    public var rows: Range<Int> { shard.rows(of: totalQueries) }

    /// The seconds of one stage, 0 if not recorded.
    public func seconds(_ stage: String) -> Double { timings.first { $0.0 == stage }?.1 ?? 0 }

    /// The parameter keys that name files rather than settings: parts may have been run with
    /// other paths to the same content (checked by hash), so they are not compared.
    public static let pathParameters: Set<String> = ["embeddings", "labels", "queries", "query_labels", "dataset"]
}
