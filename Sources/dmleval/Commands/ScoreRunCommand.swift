import ArgumentParser
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

extension NDCGGain: ExpressibleByArgument {}
extension TrecQuerySet: ExpressibleByArgument {}

/// `dmleval score-run RUN QRELS`: a TREC run scored against graded qrels, and stored.
struct ScoreRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score-run",
        abstract: "Score a TREC run file against TREC qrels (graded judgments), and store the run.",
        discussion: """
            RUN holds 'qid Q0 docid rank score tag' lines, QRELS 'qid iter docid grade' lines \
            (docs/formats.md). Each query's documents are ranked as trec_eval ranks them: by \
            score, highest first, and equal scores by docid in decreasing byte order; the rank \
            column is not used. A run is the system's whole ranking: ranks past its end hold \
            nothing relevant (P@1000 of 500 documents is hits / 1000), as in trec_eval.

            A document is relevant when its grade is at least --relevance-level (trec_eval -l); \
            R counts the judged documents so graded. nDCG reads the grades themselves (--gain \
            linear: trec_eval's ndcg_cut; exponential: 2^grade - 1, Burges et al.).

            --query-set decides which queries are averaged: relevant (default: the queries the \
            run answers that have a relevant document; the others are excluded and counted, as \
            everywhere in dmleval), judged (every judged query the run answers, those with no \
            relevant document scoring 0: trec_eval's default) or all (every judged query, those \
            the run lacks scoring 0: trec_eval -c). Queries of the run without judgments are \
            ignored, as by trec_eval.

            With no metric flag: ndcg@10, precision@10, recall@100[ir], map@100[denominator=r], \
            r-precision and mrr. Recall and MAP keep dmleval's defaults (hit rate, denominator k); \
            trec_eval's are --recall-convention ir and --map-denominator r.

            The run is stored (unless --no-store) with a dataset made of the run file's and the \
            qrels' SHA-256 hashes, per-query values over the qrels' queries: 'runs compare' pairs \
            runs on the same qrels, and 'dmleval check RUN QRELS --baseline FILE' gates a new run.

            Bad input (a line without 6 or 4 fields, a score that is not a number, a grade that is \
            negative or not an integer, a (qid, docid) pair twice, refused as trec_eval refuses \
            it) is one error line naming the file, the line and the field; exit 2, nothing stored.

            Examples:
              dmleval score-run run.trec qrels.txt
              dmleval score-run run.trec qrels.txt --ndcg 5,10 --gain exponential --relevance-level 2
              dmleval score-run run.trec qrels.txt --precision 5 --recall 100 --recall-convention ir --query-set all
            """
    )

    @Argument(help: ArgumentHelp("The run: 'qid Q0 docid rank score tag' per line.", valueName: "run"))
    var runFile: String

    @Argument(help: ArgumentHelp("The judgments: 'qid iter docid grade' per line.", valueName: "qrels"))
    var qrelsFile: String

    @OptionGroup(title: "Metrics") var metricOptions: MetricOptions

    @Option(help: ArgumentHelp("nDCG's gain: linear (the grade; trec_eval) or exponential (2^grade - 1; Burges).", valueName: "linear|exponential"))
    var gain: NDCGGain = .linear

    @Option(help: ArgumentHelp("The lowest grade that counts as relevant (trec_eval -l).", valueName: "grade"))
    var relevanceLevel: Int = 1

    @Option(help: ArgumentHelp("Which queries are averaged: relevant, judged (trec_eval) or all (trec_eval -c).", valueName: "relevant|judged|all"))
    var querySet: TrecQuerySet = .relevant

    @Option(help: "Output format: table, json, csv or markdown.")
    var format: OutputFormat = .table

    @Option(help: ArgumentHelp("A name for this run in the store.", valueName: "name"))
    var name: String?

    @OptionGroup var storeOptions: StoreOptions

    var requestedMetrics: [Metric] = []

    enum CodingKeys: String, CodingKey {
        case runFile, qrelsFile, metricOptions, gain, relevanceLevel, querySet, format, name, storeOptions
    }

    /// What is scored when no metric flag is given.
    static func defaultMetrics(gain: NDCGGain) -> [Metric] {
        [.ndcg(k: 10, gain: gain), .precision(k: 10), .recall(k: 100, convention: .ir), .map(k: 100, denominator: .r), .rPrecision, .mrr]
    }

    mutating func validate() throws {
        if !(1...TrecQrels.maximumGrade).contains(relevanceLevel) {
            throw ValidationError("--relevance-level: expected a grade from 1 to \(TrecQrels.maximumGrade), found \(relevanceLevel)")
        }
        let metrics = try metricOptions.metrics(gain: gain)
        requestedMetrics = metrics.isEmpty ? Self.defaultMetrics(gain: gain) : metrics
    }

    var job: TrecRunJob {
        TrecRunJob(runPath: runFile, qrelsPath: qrelsFile, metrics: requestedMetrics, relevanceLevel: relevanceLevel,
                   querySet: querySet, name: name, toolVersion: DMLEval.version)
    }

    func run() throws {
        try storeOptions.checkWritable()
        let outcome = try job.run(openStore: storeOptions.noStore ? nil : { try storeOptions.open() })
        print(TrecRunSummary(outcome: outcome, runFile: runFile, qrelsFile: qrelsFile, querySet: querySet,
                             relevanceLevel: relevanceLevel).render(format))
        if let runID = outcome.runID, let path = outcome.storePath {
            printError("run \(runID) stored in \(path)")
        }
    }
}
