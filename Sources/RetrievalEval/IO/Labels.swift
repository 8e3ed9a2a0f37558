/// The class labels of a set of items, as read: strings or integers, never floats.
///
/// Metrics only need to know which items share a class, so the labels are also encoded as
/// dense class indices (`classIndex`, in order of first appearance) with the original label
/// of each class kept in `classNames`.
public struct Labels: Sendable, Equatable {
    /// The labels as read from the file.
    public enum Values: Sendable, Equatable {
        case strings([String])
        case integers([Int64])
    }

    /// The labels as read.
    public let values: Values
    /// For every item, the index of its class in `classNames` (0-based, by first appearance).
    public let classIndex: [Int32]
    /// The label of every class, as text.
    public let classNames: [String]

    /// The number of items.
    public var count: Int { classIndex.count }
    /// The number of distinct classes.
    public var classCount: Int { classNames.count }

    /// String labels, encoded into class indices in order of first appearance.
    public init(strings: [String]) {
        values = .strings(strings)
        (classIndex, classNames) = Labels.encode(strings) { $0 }
    }

    /// Integer labels, encoded into class indices in order of first appearance.
    public init(integers: [Int64]) {
        values = .integers(integers)
        (classIndex, classNames) = Labels.encode(integers) { String($0) }
    }

    /// The label of item `i` as text.
    public func label(at i: Int) -> String { classNames[Int(classIndex[i])] }

    /// The number of items in every class, indexed by class.
    public func classSizes() -> [Int] {
        var sizes = [Int](repeating: 0, count: classCount)
        for c in classIndex { sizes[Int(c)] += 1 }
        return sizes
    }

    private static func encode<T: Hashable>(_ items: [T], name: (T) -> String) -> ([Int32], [String]) {
        var index: [T: Int32] = [:]
        var names: [String] = []
        var codes: [Int32] = []
        codes.reserveCapacity(items.count)
        for item in items {
            if let c = index[item] {
                codes.append(c)
            } else {
                let c = Int32(names.count)
                index[item] = c
                names.append(name(item))
                codes.append(c)
            }
        }
        return (codes, names)
    }
}
