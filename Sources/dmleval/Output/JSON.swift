import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// The ordered JSON value of the library, under a short name for the command-line code.
typealias JSON = JSONValue
