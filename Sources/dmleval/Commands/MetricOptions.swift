import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// The metric flags of the main job and of score-run: --recall, --precision, --map, --ndcg,
/// --map-r, --r-precision, --mrr and their conventions.
struct MetricOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Recall@k for these k.", valueName: "k,..."))
    var recall: String?

    @Option(help: ArgumentHelp("Recall convention: hit (1 if any of the top k is relevant) or ir (hits@k / R).", valueName: "hit|ir"))
    var recallConvention: RecallConvention = .hit

    @Option(help: ArgumentHelp("Precision@k for these k.", valueName: "k,..."))
    var precision: String?

    @Option(help: ArgumentHelp("MAP@k for these k.", valueName: "k,..."))
    var map: String?

    @Option(help: ArgumentHelp("MAP@k denominator: k (the paper), r (trec_eval, ranx, ir_measures, pytorch-metric-learning), min-k-r, or hits (torchmetrics).", valueName: "k|r|min-k-r|hits"))
    var mapDenominator: MAPDenominator = .k

    @Flag(help: "MAP@R (Musgrave et al. 2020).")
    var mapR = false

    @Flag(help: "R-Precision.")
    var rPrecision = false

    @Option(help: ArgumentHelp("nDCG@k for these k.", valueName: "k,..."))
    var ndcg: String?

    @Flag(help: "Mean reciprocal rank over the retrieved list.")
    var mrr = false

    /// The metrics the flags ask for, in flag order; empty when none was given.
    /// - Throws: `ValidationError` naming a malformed flag, or a convention given without its metric.
    func metrics(gain: NDCGGain = .linear) throws -> [Metric] {
        var metrics: [Metric] = []
        if let recall { metrics += try parseCutoffs(recall, flag: "--recall").map { .recall(k: $0, convention: recallConvention) } }
        if let precision { metrics += try parseCutoffs(precision, flag: "--precision").map { .precision(k: $0) } }
        if let map { metrics += try parseCutoffs(map, flag: "--map").map { .map(k: $0, denominator: mapDenominator) } }
        if let ndcg { metrics += try parseCutoffs(ndcg, flag: "--ndcg").map { .ndcg(k: $0, gain: gain) } }
        if mapR { metrics.append(.mapAtR) }
        if rPrecision { metrics.append(.rPrecision) }
        if mrr { metrics.append(.mrr) }
        if metrics.isEmpty && (recallConvention != .hit || mapDenominator != .k) {
            throw ValidationError("--recall-convention and --map-denominator apply to --recall and --map; add those flags")
        }
        return metrics
    }
}
