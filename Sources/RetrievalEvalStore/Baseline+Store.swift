import RetrievalEval

extension Baseline.DatasetIdentity {
    /// The identity of a stored dataset.
    public init(_ record: DatasetRecord) {
        self.init(hash: record.hash, embeddingsHash: record.embeddingsHash, labelsHash: record.labelsHash,
                  rows: record.rows, dimensions: record.dimensions, classes: record.classCount)
    }
}

extension Baseline {
    /// A baseline from a stored run and its per-query values.
    /// - Throws: `StoreError` when the run holds a metric or distance this version does not know.
    public init(run: RunRecord, perQuery: [(metric: String, values: [Float])]) throws {
        var metrics: [Metric] = []
        // Clustering values have no per-query values and no place in a baseline.
        let retrieval = run.metrics.filter { ClusteringMetric(rawValue: $0.metric) == nil }
        for m in retrieval {
            guard let metric = Metric(name: m.metric) else {
                throw StoreError("run \(run.id) holds the metric '\(m.metric)', which this dmleval does not know")
            }
            metrics.append(metric)
        }
        let distance = Distance(rawValue: run.distance)
        guard distance != nil || (run.search == Baseline.trecSearch && run.distance == "none") else {
            throw StoreError("run \(run.id) used the distance '\(run.distance)', which this dmleval does not know")
        }
        let byName = Dictionary(perQuery.map { ($0.metric, $0.values) }, uniquingKeysWith: { a, _ in a })
        self.init(
            toolVersion: run.toolVersion, createdAt: run.createdAt, sourceRun: run.id, name: run.name,
            dataset: DatasetIdentity(run.dataset), queryDataset: run.queryDataset.map(DatasetIdentity.init),
            search: run.search, distance: distance, depth: run.depth, parameters: run.parameters,
            scoredQueries: run.scoredQueries, excludedQueries: run.excludedQueries, metrics: metrics,
            means: retrieval.map(\.mean), perQuery: metrics.map { byName[$0.name] ?? [] })
    }
}
