import Foundation
import Testing
import RetrievalEval

/// The code of the DocC article "Evaluate embeddings from Swift" and of the README's "Use it
/// from Swift", compiled and run: each article's code block must equal the marked lines below.
@Suite("The documentation's code runs")
struct DocumentationTests {
    @Test func theArticleEvaluatesEightEmbeddings() throws {
        // BEGIN evaluate-from-swift
        // Eight embeddings of two classes; the last cat points the dogs' way.
        let vectors: [[Float]] = [
            [1.0, 0.1], [0.9, 0.2], [0.8, 0.3], [0.3, 0.8],
            [0.1, 1.0], [0.2, 0.9], [0.0, 0.8], [0.4, 0.9],
        ]
        let labels = Labels(strings: ["cat", "cat", "cat", "cat", "dog", "dog", "dog", "dog"])
        let matrix = Matrix(rows: vectors.count, columns: 2, values: vectors.flatMap { $0 })
        let data = try LabeledEmbeddings(embeddings: matrix, labels: labels)

        // Self-retrieval: every item queries all the others, itself excluded.
        let evaluation = try RetrievalEvaluation.run(
            references: data, metrics: [.recall(k: 1), .mapAtR, .ndcg(k: 2)], distance: .cosine)
        for (metric, mean) in zip(evaluation.report.metrics, evaluation.report.means) {
            print(metric.name, mean)
        }
        // END evaluate-from-swift

        // Worked by hand from the angles (cosine ranks by angle here): the cat at 69 degrees
        // finds three dogs first, the dog at 66 degrees a cat first; five queries rank
        // [same, same, other] (AP@R 2/3), the dog at 77 degrees [same, other, same] (5/9),
        // the dog at 66 degrees [other, same, same] (7/18).
        #expect(evaluation.report.metrics.map(\.name) == ["recall@1", "map@r", "ndcg@2"])
        #expect(abs(evaluation.report.means[0] - 0.75) < 1e-12)
        #expect(abs(evaluation.report.means[1] - 77.0 / 144.0) < 1e-6)
        // nDCG@2: 1 for five queries, 0 for the cat, and 1/(1 + 1/log2 3) plus its complement
        // for the two dogs with one hit in two.
        #expect(abs(evaluation.report.means[2] - 0.75) < 1e-6)
        #expect(evaluation.relevantCounts == [Int](repeating: 3, count: 8))
    }

    /// The marked lines of this file, without their indentation.
    static func markedCode(_ name: String) throws -> String {
        let text = try String(contentsOfFile: #filePath, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let begin = lines.firstIndex(where: { $0.hasSuffix("// BEGIN \(name)") }),
              let end = lines.firstIndex(where: { $0.hasSuffix("// END \(name)") }) else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return lines[(begin + 1) ..< end].map { $0.count >= 8 ? String($0.dropFirst(8)) : String($0) }.joined(separator: "\n")
    }

    /// The first ```swift block of a Markdown file after `heading`, without its import lines.
    static func codeBlock(in path: String, after heading: String? = nil) throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../\(path)")
        var text = try String(contentsOf: url.standardizedFileURL, encoding: .utf8)
        if let heading, let range = text.range(of: heading) { text = String(text[range.upperBound...]) }
        guard let start = text.range(of: "```swift\n"),
              let stop = text.range(of: "\n```", range: start.upperBound ..< text.endIndex) else {
            throw CocoaError(.fileReadCorruptFile)
        }
        let lines = text[start.upperBound ..< stop.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
        return lines.drop { $0.hasPrefix("import ") || $0.isEmpty }.joined(separator: "\n")
    }

    @Test func theArticleAndTheReadmeShowTheCodeThatRuns() throws {
        let code = try Self.markedCode("evaluate-from-swift")
        #expect(try Self.codeBlock(in: "Sources/RetrievalEval/RetrievalEval.docc/EvaluateEmbeddingsFromSwift.md") == code)
        #expect(try Self.codeBlock(in: "README.md", after: "Then evaluate labelled embeddings held in memory:") == code)
    }

    /// Every public declaration of the libraries has a `///` summary right above it (past its
    /// attributes): what DocC shows as the symbol's abstract.
    @Test func everyPublicDeclarationHasASummary() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources").standardizedFileURL
        // Members whose meaning the protocol they satisfy gives.
        let conformances = ["public init(from decoder:", "public func encode(to encoder:", "public var description: String",
                            "public static func == (", "public static func <(", "public func hash(into", "public var debugDescription"]
        var missing: [String] = []
        for target in ["RetrievalEval", "RetrievalEvalStore", "DMLEvalJobs", "MetricLearning"] {
            let folder = root.appendingPathComponent(target)
            let files = FileManager.default.enumerator(atPath: folder.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
            for file in files.sorted() {
                let lines = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
                    .split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                for (i, line) in lines.enumerated() {
                    var text = Substring(line)
                    while text.hasPrefix("@") { text = text.drop { $0 != " " }.drop { $0 == " " } }
                    guard text.hasPrefix("public ") || text.hasPrefix("open ") else { continue }
                    guard !text.hasPrefix("public import"), !conformances.contains(where: { text.hasPrefix($0) }) else { continue }
                    var j = i - 1
                    while j >= 0 && (lines[j].hasPrefix("@") || lines[j].hasPrefix("#if") || lines[j].hasPrefix("#else")) { j -= 1 }
                    if j < 0 || !lines[j].hasPrefix("///") { missing.append("\(target)/\(file):\(i + 1): \(line)") }
                }
            }
        }
        #expect(missing.isEmpty, "\(missing.count) public declarations without a /// summary:\n\(missing.prefix(40).joined(separator: "\n"))")
    }
}
