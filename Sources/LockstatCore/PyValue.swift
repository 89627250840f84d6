/// A Python value, as stored in samples.pickle and samples.json.
public indirect enum PyValue: Equatable, Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case list([PyValue])
    case tuple([PyValue])
    case set([PyValue])
    /// Keys in insertion order, as Python 3.7+ dicts keep them.
    case dict([(PyValue, PyValue)])
    /// A list of floats and Nones, the shape of every time series, stored unboxed: NaN stands
    /// for None (no series lockstat computes holds a real NaN). A column, so a long run's
    /// series stay in bounded memory and a model's are stored without a copy.
    case floats(Column)
    /// A value a Python module returned, as Python pickled it (protocol 3, no frames), and its
    /// JSON text when it has one: stored in samples.pickle exactly as Python made it.
    case foreign(pickle: [UInt8], json: String?)
    /// A Python object lockstat cannot represent (read back from a pickle, never written).
    case opaque

    public static func == (a: PyValue, b: PyValue) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.float(x), .float(y)): return x == y || (x.isNaN && y.isNaN)
        case let (.string(x), .string(y)): return x == y
        case let (.tuple(x), .tuple(y)), let (.set(x), .set(y)): return x == y
        case let (.dict(x), .dict(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case let (.foreign(x, _), .foreign(y, _)): return x == y
        case (.opaque, .opaque): return true
        case (.list, .list), (.floats, .floats), (.list, .floats), (.floats, .list):
            return a.listItems == b.listItems
        default: return false
        }
    }

    /// A dict with string keys, in the given order.
    public static func stringDict(_ pairs: [(String, PyValue)]) -> PyValue {
        .dict(pairs.map { (.string($0.0), $0.1) })
    }

    public static func strings(_ values: [String]) -> PyValue { .list(values.map { .string($0) }) }

    // MARK: reading values back (for plots drawn from samples.pickle)

    public subscript(key: String) -> PyValue? {
        guard case .dict(let pairs) = self else { return nil }
        return pairs.first { $0.0 == .string(key) }?.1
    }

    /// The dict's items with string keys, in order: a walk over a dict of 100,000 devices
    /// without a search per key.
    public var stringItems: [(key: String, value: PyValue)] {
        guard case .dict(let pairs) = self else { return [] }
        return pairs.compactMap { k, v in k.string.map { ($0, v) } }
    }

    /// The dict's string keys in order.
    public var keys: [String] {
        guard case .dict(let pairs) = self else { return [] }
        return pairs.compactMap { if case .string(let s) = $0.0 { return s } else { return nil } }
    }

    public var listItems: [PyValue]? {
        switch self {
        case .list(let items): return items
        case .floats(let values): return values.map { $0.isNaN ? .none : .float($0) }
        default: return nil
        }
    }

    /// A series of floats and Nones.
    public static func series(_ values: [Double?]) -> PyValue { .floats(Column(values)) }

    /// A series whose NaNs stand for None.
    public static func series(_ values: [Double]) -> PyValue { .floats(Column(values)) }

    public static func series(_ values: Column) -> PyValue { .floats(values) }

    /// A list of numbers and Nones as a series.
    public var series: [Double?]? {
        if case .floats(let values) = self { return values.map { $0.isNaN ? nil : $0 } }
        return listItems?.map { $0.number }
    }

    public var number: Double? {
        switch self {
        case .float(let d): return d
        case .int(let i): return Double(i)
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var strings: [String]? { listItems?.compactMap { $0.string } }

    /// A list of numbers and Nones with NaN for None, as the typed models keep series.
    public var doubles: [Double]? {
        if case .floats(let values) = self { return values.values }
        return listItems?.map { $0.number ?? .nan }
    }

    /// The same as a column, without a copy of a series read back as one.
    public var column: Column? {
        if case .floats(let values) = self { return values }
        return listItems.map { Column($0.map { $0.number ?? .nan }) }
    }

    // MARK: keys a model names once, in an enum, for writing and reading alike

    public subscript<Key: RawRepresentable>(key: Key) -> PyValue? where Key.RawValue == String { self[key.rawValue] }

    public static func keyed<Key: RawRepresentable>(_ pairs: [(Key, PyValue)]) -> PyValue where Key.RawValue == String {
        .stringDict(pairs.map { ($0.0.rawValue, $0.1) })
    }
}
