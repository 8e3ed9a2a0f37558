/// Which queries of a TREC evaluation are averaged (docs/metrics.md, "TREC runs").
public enum TrecQuerySet: String, Sendable, CaseIterable {
    /// The queries the run answers that have at least one relevant document (R >= 1): dmleval's
    /// rule everywhere else. The others are excluded and counted. The default.
    case relevant
    /// Every query of the qrels the run answers; one with no relevant document scores 0 on
    /// every binary metric: trec_eval's documented default.
    case judged
    /// Every query of the qrels; one the run lacks has an empty ranking and scores 0:
    /// trec_eval's `-c`.
    case all
}

/// One query of the qrels as scored: its ranked grades and how many documents are relevant.
public struct TrecQuery: Sendable {
    /// The query id, as in the files.
    public let id: String
    /// Whether the run holds the query at all.
    public let retrieved: Bool
    /// The grade of each ranked document, best first (0: judged not relevant, or not judged).
    public let grades: [Int32]
    /// The ranked binary relevance: 1 where the grade is at least the relevance level.
    public let relevance: [UInt8]
    /// R: the judged documents graded at least the relevance level.
    public let relevantCount: Int
    /// Every positive grade judged for the query, highest first (nDCG's ideal ranking).
    public let idealGrades: [Int32]
}

/// A TREC run scored against qrels: per-query values over the qrels' queries, and means.
public struct TrecEvaluation: Sendable {
    /// The qrels' query ids in byte order: the axis of `report.perQuery`.
    public let queryIDs: [String]
    /// Per-query values (NaN for the queries `querySet` leaves out) and means.
    public let report: MetricReport
    /// The queries as scored, in `queryIDs` order.
    public let queries: [TrecQuery]
    /// The longest ranking of a judged query.
    public let depth: Int
    /// Queries of the qrels the run does not hold.
    public let missingQueries: Int
    /// Queries of the qrels with no document graded at least the relevance level (R = 0).
    public let noRelevantQueries: Int
    /// Queries of the run without judgments: ignored, as trec_eval ignores them.
    public let unjudgedQueries: Int

    /// The ranked judgments of every query of `qrels`.
    ///
    /// A document of the run is graded by the qrels (0 when they do not judge it). Binary
    /// relevance is grade >= `relevanceLevel` (trec_eval `-l`), and R counts those judged so.
    public static func judge(run: TrecRun, qrels: TrecQrels, relevanceLevel: Int = 1) -> [TrecQuery] {
        qrels.queryIDs.map { qid in
            let judged = qrels.judgments[qid] ?? [:]
            let ranking = run.rankings[qid]
            let grades = (ranking ?? []).map { Int32(judged[$0.docid] ?? 0) }
            return TrecQuery(
                id: qid, retrieved: ranking != nil, grades: grades,
                relevance: grades.map { $0 >= relevanceLevel ? 1 : 0 },
                relevantCount: judged.values.count(where: { $0 >= relevanceLevel }),
                idealGrades: judged.values.filter { $0 > 0 }.map(Int32.init).sorted(by: >))
        }
    }

    /// Scores `run` against `qrels`.
    ///
    /// A run is the system's whole ranking: ranks past its end hold nothing relevant, so a
    /// metric reads a shorter ranking as it is (P@1000 of 500 documents is hits / 1000), as
    /// trec_eval does. nDCG reads the grades (whatever the relevance level, as trec_eval's
    /// ndcg_cut); every other metric reads the binary relevance.
    /// - Parameters:
    ///   - relevanceLevel: the lowest grade that counts as relevant (trec_eval `-l`), at least 1.
    ///   - querySet: which queries are averaged.
    /// - Complexity: O(judgments + results x log(results) + queries x sum of the metrics' depths).
    public static func run(
        run: TrecRun, qrels: TrecQrels, metrics: [Metric], relevanceLevel: Int = 1, querySet: TrecQuerySet = .relevant
    ) -> TrecEvaluation {
        precondition(relevanceLevel >= 1)
        let queries = judge(run: run, qrels: qrels, relevanceLevel: relevanceLevel)
        var perQuery = [[Double]](repeating: [Double](repeating: .nan, count: queries.count), count: metrics.count)
        var sums = [Double](repeating: 0, count: metrics.count)
        var scored = 0
        for (q, query) in queries.enumerated() {
            let included: Bool
            switch querySet {
            case .relevant: included = query.retrieved && query.relevantCount > 0
            case .judged: included = query.retrieved
            case .all: included = true
            }
            guard included else { continue }
            scored += 1
            for (m, metric) in metrics.enumerated() {
                let v = value(metric, query)
                perQuery[m][q] = v
                sums[m] += v
            }
        }
        let report = MetricReport(
            metrics: metrics, perQuery: perQuery, means: sums.map { scored > 0 ? $0 / Double(scored) : .nan },
            scoredQueries: scored, excludedQueries: queries.count - scored, perClass: nil)
        let judged = Set(qrels.judgments.keys)
        return TrecEvaluation(
            queryIDs: queries.map(\.id), report: report, queries: queries,
            depth: queries.map(\.grades.count).max() ?? 0,
            missingQueries: queries.count(where: { !$0.retrieved }), noRelevantQueries: queries.count(where: { $0.relevantCount == 0 }),
            unjudgedQueries: run.rankings.keys.count(where: { !judged.contains($0) }))
    }

    /// One metric of one query; with R = 0 every binary metric is 0 (trec_eval's value).
    static func value(_ metric: Metric, _ query: TrecQuery) -> Double {
        if case .ndcg(let k, let gain) = metric {
            return query.grades.withUnsafeBufferPointer {
                NDCG.value(grades: $0, ideal: query.idealGrades, k: k, gain: gain)
            }
        }
        guard query.relevantCount > 0 else { return 0 }
        return metric.value(query.relevance, relevantCount: query.relevantCount)
    }
}
