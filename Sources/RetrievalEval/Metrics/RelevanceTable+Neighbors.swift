/// Which references are relevant to which query: those of the same class.
public struct RelevanceJudgments: Sendable {
    /// Each query's class in the reference class space, or -1 when no reference has its label.
    public let queryClasses: [Int32]
    /// Each reference's class.
    public let referenceClasses: [Int32]
    /// R of each query: the references of its class, the query itself excluded.
    public let relevantCounts: [Int]

    /// Self-retrieval: every item is a query against all the others.
    public init(selfRetrieval labels: Labels) {
        let sizes = labels.classSizes()
        queryClasses = labels.classIndex
        referenceClasses = labels.classIndex
        relevantCounts = labels.classIndex.map { sizes[Int($0)] - 1 }
    }

    /// Separate queries and references (query/gallery protocols): classes are matched by
    /// label text, and a query whose label no reference has gets R = 0 (excluded).
    public init(queries: Labels, references: Labels) {
        let sizes = references.classSizes()
        var byName: [String: Int32] = [:]
        for (c, name) in references.classNames.enumerated() { byName[name] = Int32(c) }
        let mapped = queries.classNames.map { byName[$0] ?? -1 }
        queryClasses = queries.classIndex.map { mapped[Int($0)] }
        referenceClasses = references.classIndex
        relevantCounts = queryClasses.map { $0 < 0 ? 0 : sizes[Int($0)] }
    }

    /// The largest R over all queries.
    public var maxRelevantCount: Int { relevantCounts.max() ?? 0 }

    /// How deep retrieval must go for `metrics`: the largest cutoff, and the largest R when
    /// MAP@R or R-Precision is asked for; MRR alone reads `mrrDepth` items.
    public func depthNeeded(for metrics: [Metric], mrrDepth: Int = 100) -> Int {
        var depth = metrics.compactMap(\.cutoff).max() ?? 0
        if metrics.contains(where: \.needsDepthR) { depth = max(depth, maxRelevantCount) }
        if depth == 0 && metrics.contains(.mrr) { depth = mrrDepth }
        return depth
    }

    /// The ranked relevance of every query's neighbours.
    public func table(for neighbors: Neighbors) -> RelevanceTable {
        precondition(neighbors.queries == queryClasses.count)
        let depth = neighbors.depth
        var relevance = [UInt8](repeating: 0, count: neighbors.queries * depth)
        relevance.withUnsafeMutableBufferPointer { out in
            neighbors.indices.withUnsafeBufferPointer { ix in
                referenceClasses.withUnsafeBufferPointer { refs in
                    for q in 0 ..< neighbors.queries {
                        let c = queryClasses[q]
                        for i in 0 ..< depth where refs[Int(ix[q * depth + i])] == c {
                            out[q * depth + i] = 1
                        }
                    }
                }
            }
        }
        return RelevanceTable(relevance: relevance, queries: neighbors.queries, width: depth, relevantCounts: relevantCounts)
    }
}

extension RelevanceJudgments {
    private init(queryClasses: [Int32], referenceClasses: [Int32], relevantCounts: [Int]) {
        self.queryClasses = queryClasses
        self.referenceClasses = referenceClasses
        self.relevantCounts = relevantCounts
    }

    /// The judgments of some of the queries, in the order given (R unchanged: in
    /// self-retrieval a sampled query still excludes only itself).
    public func subset(_ queries: [Int]) -> RelevanceJudgments {
        RelevanceJudgments(
            queryClasses: queries.map { queryClasses[$0] }, referenceClasses: referenceClasses,
            relevantCounts: queries.map { relevantCounts[$0] })
    }
}
