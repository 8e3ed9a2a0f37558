// NMI and AMI against scikit-learn's own numbers on given assignments, and the clustering
// stage (k-means++ with restarts) on data whose clusters are known.

import Foundation
import Testing
@testable import RetrievalEval

@Suite("Clustering quality: NMI, AMI and k-means")
struct ClusteringTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let classes: [Int32]
        let clusters: [Int32]
        let nmi: Double
        let ami: Double
        var testDescription: String { name }
    }

    static func formula(_ n: Int, _ t: (Int) -> Int, _ p: (Int) -> Int) -> ([Int32], [Int32]) {
        ((0 ..< n).map { Int32(t($0)) }, (0 ..< n).map { Int32(p($0)) })
    }

    /// scikit-learn 1.9.1 (numpy 2.4.6): normalized_mutual_info_score and
    /// adjusted_mutual_info_score (average_method="arithmetic", the default) on these labelings;
    /// the formula cases build the same lists in Python with the same integer formulas.
    static let cases: [Case] = {
        let f500 = formula(500, { ($0 * 7919) % 7 }, { ($0 * 104729 + $0 / 3) % 9 })
        let f3000 = formula(3000, { ($0 * 13) % 30 }, { (($0 * 13) % 30 * 3 + ($0 * 31) % 5) % 40 })
        let f20000 = formula(20000, { ($0 * 17) % 200 }, { $0 % 5 != 0 ? ((($0 * 17) % 200) + ($0 / 7) % 3) % 250 : ($0 * 101) % 250 })
        return [
            Case(name: "hand", classes: [0, 0, 0, 1, 1, 1], clusters: [0, 0, 1, 1, 2, 2], nmi: 0.5158037429793889, ami: 0.2987924581708901),
            Case(name: "perfect, relabelled", classes: [0, 0, 1, 1, 2, 2], clusters: [5, 5, 3, 3, 9, 9], nmi: 1, ami: 1),
            Case(name: "one cluster", classes: [0, 0, 1, 1, 2, 2], clusters: [0, 0, 0, 0, 0, 0], nmi: 0, ami: 0),
            Case(name: "one class, one cluster", classes: [1, 1, 1], clusters: [4, 4, 4], nmi: 1, ami: 1),
            Case(name: "all singletons", classes: [0, 1, 2, 3], clusters: [0, 1, 2, 3], nmi: 1, ami: 1),
            Case(name: "500 items, 7 classes, 9 clusters (AMI below 0)", classes: f500.0, clusters: f500.1,
                 nmi: 0.0011390588180319487, ami: -0.023289041740379737),
            Case(name: "3000 items, 30 classes, 40 clusters", classes: f3000.0, clusters: f3000.1,
                 nmi: 0.7553288442943236, ami: 0.7522073878962945),
            Case(name: "20000 items, 200 classes, 250 clusters", classes: f20000.0, clusters: f20000.1,
                 nmi: 0.7742389917281088, ami: 0.7206316083284263),
        ]
    }()

    @Test(arguments: cases)
    func agreesWithScikitLearn(_ c: Case) {
        let mi = MutualInformation(classes: c.classes, clusters: c.clusters)
        #expect(abs(mi.normalized - c.nmi) <= 1e-9, "NMI \(mi.normalized), scikit-learn \(c.nmi)")
        #expect(abs(mi.adjusted - c.ami) <= 1e-9, "AMI \(mi.adjusted), scikit-learn \(c.ami)")
    }

    /// The expected MI by its definition, term by term with factorials in Double, on a case
    /// small enough for them: the log-space sum must give the same number.
    @Test func expectedMutualInformationByDefinition() {
        let classes: [Int32] = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2]
        let clusters: [Int32] = [0, 1, 1, 0, 2, 2, 0, 1, 1, 1, 0, 2]
        let mi = MutualInformation(classes: classes, clusters: clusters)
        func factorial(_ m: Int) -> Double { (1 ... max(m, 1)).reduce(1.0) { $0 * Double($1) } }
        let n = 12
        var emi = 0.0
        for a in mi.classSizes {
            for b in mi.clusterSizes {
                for nij in max(1, a + b - n) ... min(a, b) {
                    let p = factorial(a) * factorial(b) * factorial(n - a) * factorial(n - b)
                        / (factorial(n) * factorial(nij) * factorial(a - nij) * factorial(b - nij) * factorial(n - a - b + nij))
                    emi += Double(nij) / Double(n) * log(Double(n * nij) / Double(a * b)) * p
                }
            }
        }
        #expect(abs(mi.expected - emi) < 1e-12)
    }

    /// Well separated blobs, one per class: k-means++ finds them, NMI = AMI = 1, whatever the
    /// class order; the same seed gives the same assignment.
    @Test func kMeansFindsSeparatedClasses() throws {
        var rng = SplitMix64(seed: 7)
        let centres: [[Float]] = [[10, 0, 0], [0, 10, 0], [0, 0, 10], [-10, 0, 0], [0, -10, 0]]
        var values: [Float] = [], labels: [String] = []
        for i in 0 ..< 200 {
            let c = (i * 3) % 5
            values += centres[c].map { $0 + Float(rng.gaussian()) * 0.5 }
            labels.append("class-\(c)")
        }
        let data = try LabeledEmbeddings(embeddings: Matrix(rows: 200, columns: 3, values: values), labels: Labels(strings: labels))
        let q = try ClusteringQuality.run(data, distance: .squaredL2, restarts: 3, seed: 42, threads: 1)
        #expect(q.clusters == 5)
        #expect(q.nmi == 1 && q.ami == 1, "NMI \(q.nmi), AMI \(q.ami)")
        let again = try ClusteringQuality.run(data, distance: .squaredL2, restarts: 3, seed: 42, threads: 2)
        #expect(again.assignment == q.assignment)
    }

    /// The best of several restarts has the lowest inertia of them.
    @Test func restartsKeepTheLowestInertia() {
        var rng = SplitMix64(seed: 3)
        let points = Matrix(rows: 300, columns: 4, values: (0 ..< 1200).map { _ in Float(rng.gaussian()) })
        let kmeans = KMeans(clusters: 8, iterations: 50, initialization: .kmeansPlusPlus, seed: 11, threads: 1)
        let best = kmeans.cluster(points, restarts: 5)
        var seeds = SplitMix64(seed: 11)
        var inertias: [Double] = []
        for _ in 0 ..< 5 {
            var one = kmeans
            one.seed = seeds.next()
            inertias.append(one.cluster(points).inertia)
        }
        #expect(best.inertia == inertias.min()!)
        #expect(Set(inertias).count > 1, "the restarts should differ, or the test shows nothing")
    }
}
