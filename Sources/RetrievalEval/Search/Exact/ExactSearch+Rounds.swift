#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The symmetric pass in rounds: whole tiles per worker.
///
/// A symmetric tile (I, J) feeds the candidates of the queries of two blocks, its rows' and
/// its columns'. Split between workers (the tile's rows computed by each, then its columns
/// folded by each), every tile costs two waits for the slowest worker, each worker packs
/// the whole reference tile for its sgemm, and the column folds read rows the other worker
/// wrote. Instead, the tiles of the upper triangle are grouped into rounds in which no two
/// tiles share a block: a round-robin tournament of the blocks (the circle method), where
/// a block left without an opponent has its diagonal tile. Within a round the workers own
/// disjoint queries, so each computes whole tiles (one sgemm, or a diagonal tile's strips)
/// and folds each row into its query and, while the row is in cache, into the column
/// queries. The workers take the tiles in the rounds' order, each the next one whose blocks
/// the others do not hold, without waiting at the end of a round (`roundPass`). The tiles
/// and their products are the same; only the order in which a query is offered its
/// references changes, which its kept best do not depend on.
///
/// Used when the rows are in memory (read from a file, the pass goes in query blocks that
/// read each reference tile once per block) and when the rounds keep the workers busy: a
/// round has about blocks / 2 tiles, too few for many workers on a small set.
extension ExactSearch {
    /// How the symmetric pass shares its tiles between the workers.
    enum TileSchedule: Sendable {
        /// Rounds when the rows are in memory and the rounds keep the workers busy.
        case automatic
        /// Rounds whenever the rows are in memory.
        case rounds
        /// Every tile split between the workers.
        case split
    }

    /// One tile of a round: queries `i0 ..< i0 + rows` against references `j0 ..< j0 + cols`.
    struct RoundTile: Equatable {
        let i0: Int, rows: Int, j0: Int, cols: Int
    }

    /// The tiles (I, J), J >= I, of `blocks` blocks, in rounds in which no block appears twice.
    ///
    /// The circle method: with m players (the blocks, plus one ghost when their number is
    /// odd), round r pairs r with m - 1 and (r + i) mod (m - 1) with (r - i) mod (m - 1) for
    /// i = 1 ..< m / 2; every pair meets once in m - 1 rounds. A block paired with the ghost
    /// takes its diagonal tile in that round; with no ghost, the diagonal tiles make one more
    /// round.
    static func roundRobin(blocks b: Int) -> [[(Int, Int)]] {
        guard b > 1 else { return b == 1 ? [[(0, 0)]] : [] }
        let m = b % 2 == 0 ? b : b + 1
        var rounds: [[(Int, Int)]] = []
        for r in 0 ..< m - 1 {
            var round: [(Int, Int)] = []
            func meet(_ x: Int, _ y: Int) {
                if x >= b {
                    round.append((y, y))
                } else if y >= b {
                    round.append((x, x))
                } else {
                    round.append((min(x, y), max(x, y)))
                }
            }
            meet(r, m - 1)
            for i in 1 ..< m / 2 { meet((r + i) % (m - 1), (r - i + m - 1) % (m - 1)) }
            rounds.append(round)
        }
        if b % 2 == 0 { rounds.append((0 ..< b).map { ($0, $0) }) }
        return rounds
    }

    /// The rounds of the symmetric pass dealt to the workers (`[round][worker]`: its tiles),
    /// or nil when the pass should split each tile between the workers instead: rows read
    /// from a file, or (`.automatic`) rounds that would leave the workers idle more than 10%
    /// of the time, were they to wait for each other at the end of every round (they do
    /// not since `roundPass` lets them take the next round's tiles, so this bounds the idle
    /// time from above).
    ///
    /// Each round's tiles go largest first to the least loaded worker (cost: rows x cols);
    /// `roundPass` takes them in that order.
    func tileRounds() -> [[[RoundTile]]]? {
        guard tileSchedule != .split, !references.isMapped, queries == nil else { return nil }
        let n = referenceCount, workers = max(1, threads), t = tileSize
        guard n > 0 else { return nil }
        // The tiles of the split pass, and of a pass over the rows read from a file: sgemm
        // need not compute a product identically at every position of a tile, so the same
        // tiles keep the scores the same bits whichever pass computed them.
        let blocks = (n + t - 1) / t
        var dealt: [[[RoundTile]]] = []
        var work = 0, span = 0
        for round in ExactSearch.roundRobin(blocks: blocks) {
            let tiles = round.map { RoundTile(i0: $0.0 * t, rows: min(t, n - $0.0 * t), j0: $0.1 * t, cols: min(t, n - $0.1 * t)) }
                .sorted { $0.rows * $0.cols > $1.rows * $1.cols }
            var loads = [Int](repeating: 0, count: workers)
            var owned = [[RoundTile]](repeating: [], count: workers)
            for tile in tiles {
                let w = loads.indices.min { loads[$0] < loads[$1] }!
                loads[w] += tile.rows * tile.cols
                owned[w].append(tile)
            }
            work += loads.reduce(0, +)
            span += loads.max()!
            dealt.append(owned)
        }
        // The share of the workers' time spent working, were every tile the same speed.
        return tileSchedule == .rounds || Double(work) >= 0.9 * Double(workers * span) ? dealt : nil
    }

    /// Runs the rounds' tiles: each worker calls `body` on one tile at a time, with its own
    /// tile buffer (room for tileSize x tileSize scores) and every row in memory, and
    /// `tileDone` is called (by one worker at a time) after each tile.
    ///
    /// The workers do not wait for each other at the end of a round: each takes the next tile
    /// in the rounds' order whose two blocks no other worker holds (`TileClaims`), so a worker
    /// that finishes its share of a round early, or whose neighbour was descheduled, goes on
    /// with the next round's tiles. No two workers ever hold a block at once, so each still
    /// owns the queries of its tile's two blocks; the order in which a query meets its tiles
    /// changes from run to run, which its kept best do not depend on (`TopKBuffers`).
    ///
    /// - Returns: the first score of the first worker's buffer (the products' checksum).
    @discardableResult
    func roundPass(
        _ rounds: [[[RoundTile]]],
        _ body: @escaping (_ tile: UnsafeMutablePointer<Float>, _ rows: UnsafePointer<Float>, _ span: RoundTile) -> Void,
        tileDone: @escaping () -> Void
    ) throws -> Float {
        let side = min(tileSize, referenceCount), workers = max(1, threads)
        let tiles = try allocate(Float.self, count: side * side * workers, for: "\(workers) tiles of \(side) x \(side) scores")
        defer { free(tiles) }
        tiles.initialize(repeating: 0, count: side * side * workers)
        let buffers = UncheckedSendable(tiles)
        // The tiles in the rounds' order, round by round, the workers' shares interleaved.
        var order: [RoundTile] = []
        for round in rounds {
            for k in 0 ..< (round.map(\.count).max() ?? 0) {
                for share in round where k < share.count { order.append(share[k]) }
            }
        }
        let t = tileSize
        let claims = SharedTileClaims(TileClaims(order.map { ($0.i0 / t, $0.j0 / t) }, blocks: (referenceCount + t - 1) / t))
        withAccess { ra, _ in
            let rows = UncheckedSendable(ra.rows(0, referenceCount, buffer: nil))
            let (order, body, tileDone) = (UncheckedSendable(order), UncheckedSendable(body), UncheckedSendable(tileDone))
            parallelFor(workers: workers) { w in
                var held: Int? = nil
                while true {
                    claims.lock.lock()
                    if let done = held {
                        claims.value.release(done)
                        tileDone.value()
                    }
                    let next = claims.value.claim()
                    claims.lock.unlock()
                    held = nil
                    switch next {
                    case .done: return
                    case .wait: sched_yield()
                    case .tile(let i):
                        body.value(buffers.value + w * side * side, rows.value, order.value[i])
                        held = i
                    }
                }
            }
        }
        return tiles[0]
    }

    /// Computes tile `s` of a round into `tile` (`s.cols` apart) from `rows`, every row: one
    /// product, or a diagonal tile's strips (`computeDiagonalStrip`).
    func computeRoundTile(_ s: RoundTile, _ rows: UnsafePointer<Float>, into tile: UnsafeMutablePointer<Float>) {
        let d = dimensions
        guard s.i0 == s.j0 else {
            computeTile(rows + s.i0 * d, rows + s.j0 * d, rows: s.rows, cols: s.cols, i0: s.i0, j0: s.j0, into: tile)
            return
        }
        for strip in 0 ..< ExactSearch.diagonalStrips(s.rows) {
            computeDiagonalStrip(strip, rows + s.i0 * d, rows + s.j0 * d, rows: s.rows, i0: s.i0, into: tile)
        }
    }

    // MARK: - Diagonal tiles

    /// Rows per strip of a diagonal tile.
    static let diagonalStripRows = 256

    /// The strips of a diagonal tile of `rows` rows.
    static func diagonalStrips(_ rows: Int) -> Int { (rows + diagonalStripRows - 1) / diagonalStripRows }

    /// Computes strip `strip` of a diagonal tile (`rows` x `rows`, scores `rows` apart in `out`;
    /// `a` and `b` the tile's rows as queries and as references): its rows against the columns
    /// from its first row on. The strips together cover every pair of the tile above the
    /// diagonal, about 5/8 of the tile at 1,024 rows instead of all of it (the lower half
    /// repeats the upper). Every pass computes a diagonal tile by these same calls, whichever
    /// worker makes them, so its products are the same bits on every pass.
    func computeDiagonalStrip(
        _ strip: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, i0: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let r0 = strip * ExactSearch.diagonalStripRows, r1 = min(rows, r0 + ExactSearch.diagonalStripRows), d = dimensions
        computeTile(a + r0 * d, b + r0 * d, rows: r1 - r0, cols: rows - r0, i0: i0 + r0, j0: i0 + r0, into: out + r0 * rows + r0, ldc: rows)
    }

    /// Runs `body(strip)` for every strip of a diagonal tile of `rows` rows, over the workers:
    /// dealt in a snake order (0, 1, 1, 0, 0, 1, ... for two), since the first strips are the
    /// widest.
    func dealDiagonalStrips(_ rows: Int, _ body: (Int) -> Void) {
        let strips = ExactSearch.diagonalStrips(rows), workers = max(1, min(threads, strips))
        parallelFor(workers: workers) { w in
            for s in 0 ..< strips {
                let turn = s / workers, within = s % workers
                if (turn % 2 == 0 ? within : workers - 1 - within) == w { body(s) }
            }
        }
    }
}

/// The claims of one pass, shared by its workers under a lock.
private final class SharedTileClaims: @unchecked Sendable {
    var value: TileClaims
    let lock = NSLock()
    init(_ value: TileClaims) { self.value = value }
}

/// Which tile a worker of the symmetric pass takes next: the first tile not yet taken, in the
/// rounds' order, whose two blocks no worker holds. The rounds put tiles with disjoint blocks
/// next to each other, so a worker rarely looks far or waits; a worker that finds every
/// remaining tile blocked waits for a release.
struct TileClaims {
    enum Claim: Equatable { case tile(Int), wait, done }

    /// Each tile's two blocks (I, J), I <= J.
    let tiles: [(Int, Int)]
    private var taken: [Bool]
    private var busy: [Bool]
    /// Tiles before this one are all taken.
    private var first = 0
    private var left: Int

    init(_ tiles: [(Int, Int)], blocks: Int) {
        self.tiles = tiles
        taken = [Bool](repeating: false, count: tiles.count)
        busy = [Bool](repeating: false, count: blocks)
        left = tiles.count
    }

    /// Takes the next tile whose blocks are free, if any.
    mutating func claim() -> Claim {
        guard left > 0 else { return .done }
        while taken[first] { first += 1 }
        for i in first ..< tiles.count where !taken[i] {
            let (a, b) = tiles[i]
            if !busy[a] && !busy[b] {
                taken[i] = true
                busy[a] = true
                busy[b] = true
                left -= 1
                return .tile(i)
            }
        }
        return .wait
    }

    /// Frees the blocks of tile `i`, whose work is done.
    mutating func release(_ i: Int) {
        let (a, b) = tiles[i]
        busy[a] = false
        busy[b] = false
    }
}
