import ArgumentParser
import CKernels
import MetricLearning
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `dmleval` command: parses arguments, calls the libraries, formats the results.
struct DMLEval: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "dmleval",
        abstract: "Exact, fast evaluation of embeddings for metric learning and retrieval.",
        usage: """
            dmleval <embeddings> <labels> [--recall 1,2,4,8] [--ndcg 2,4,8] [--map-r] [options]
            dmleval <subcommand>
            """,
        discussion: """
            The main job: dmleval embeddings.bin labels.txt --ndcg 2,4,8
            ('evaluate' is the default subcommand; 'dmleval evaluate --help' lists its options.)

            Metric values are fractions in [0, 1] in JSON and CSV, and x100 with one decimal in \
            tables, as the paper prints them. Conventions are explicit: see docs/metrics.md.

            EXIT CODES
              0   success
              1   a check failed (check: a metric regressed; table3: a value differs
                  from the paper)
              2   unusable input: a malformed file, mismatched labels, a metric
                  that cannot be computed, an unknown dataset or run, a baseline
                  that fails validation, a store that is foreign, damaged or
                  newer; one 'error:' line on stderr says which file, where,
                  what was expected and what to do; the store and the output
                  files are left as they were
              64  bad command-line usage
              74  standard output could not be written (what was recorded
                  stays recorded)
            """,
        version: version,
        subcommands: [
            EvaluateCommand.self, IngestCommand.self, IndexCommand.self, RunsCommand.self, ReportCommand.self, CheckCommand.self, TrainCommand.self,
            ProjectCommand.self, LossCommand.self,
            ScoreCommand.self, ScoreRunCommand.self, MergeCommand.self,
            Table3Command.self,
        ],
        defaultSubcommand: EvaluateCommand.self
    )
}

/// Exit status 1: the command ran, and what it checked did not hold.
struct CheckFailed: Error {}

@main
enum Entry {
    static func main() {
        do {
            var command = try DMLEval.parseAsRoot()
            do {
                // The jobs' refusals, in the CLI's words (naming its flags).
                do { try command.run() } catch let error as JobError { throw error.cliError }
            } catch is CheckFailed {
                checkStandardOutput()
                exit(1)
            }
            checkStandardOutput()
        } catch where error is InputError || error is MetricError || error is SearchError || error is StoreError
                    || error is ProxyLossError || error is MemoryError || error is ShardError {
            // The libraries' errors describe themselves in one line for the user.
            fail("error: \(error)", code: 2)
        } catch is CheckFailed {
            exit(1)
        } catch {
            DMLEval.exit(withError: error)
        }
    }

    /// A result that could not be written is no result: a full disk or a closed pipe on
    /// standard output is exit 74 (EX_IOERR), never a silent 0.
    static func checkStandardOutput() {
        if dml_stdout_failed() != 0 {
            let reason = String(cString: strerror(errno)).lowercased()
            fail("error: standard output: expected to write the results, found \(reason); free the disk or fix the redirection (anything the command recorded in the store stays recorded)", code: 74)
        }
    }

    static func fail(_ message: String, code: Int32) -> Never {
        printError(message)
        exit(code)
    }
}

/// Writes one line to stderr.
func printError(_ line: String) {
    // What an error line quotes (paths, names, header bytes) may hold control characters.
    var text = line.hasSuffix("\n") ? String(line.dropLast()) : line
    text = DisplayText.escape(text) + "\n"
    // Whatever stdout holds goes out first, so the two streams interleave in order.
    fflush(nil)
    text.utf8CString.withUnsafeBufferPointer { buffer in
        _ = write(2, buffer.baseAddress!, buffer.count - 1)
    }
}
