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
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.float(let x), .float(let y)): return x == y || (x.isNaN && y.isNaN)
        case (.string(let x), .string(let y)): return x == y
        case (.tuple(let x), .tuple(let y)), (.set(let x), .set(let y)): return x == y
        case (.dict(let x), .dict(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.foreign(let x, _), .foreign(let y, _)): return x == y
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

// MARK: decoding an entry strictly: a missing or mistyped key is an error naming it

/// What a key of samples.pickle holds, and how it reads back.
public struct PyType<T> {
    /// For the error: "an integer".
    public let name: String
    public let read: (PyValue) -> T?

    public init(_ name: String, read: @escaping (PyValue) -> T?) {
        self.name = name
        self.read = read
    }
}

extension PyType where T == Int {
    /// A whole number (as lockstat writes counts).
    public static var int: PyType<Int> { PyType("an integer") { $0.wholeNumber.flatMap { Int(exactly: $0) } } }
}

extension PyType where T == UInt64 {
    /// A whole number of at least 0 (nanoseconds).
    public static var count: PyType<UInt64> {
        PyType("a whole number of at least 0") { $0.wholeNumber.flatMap { UInt64(exactly: $0) } }
    }
}

extension PyType where T == Double {
    public static var number: PyType<Double> { PyType("a number") { $0.number } }
    /// A number, or None (NaN).
    public static var numberOrNone: PyType<Double> { PyType("a number or None") { $0 == .none ? .nan : $0.number } }
}

extension PyType where T == String {
    public static var string: PyType<String> { PyType("a string") { $0.string } }
}

extension PyType where T == Bool {
    public static var bool: PyType<Bool> {
        PyType("true or false") { if case .bool(let b) = $0 { return b } else { return nil } }
    }
}

extension PyType where T == Column {
    /// A series: numbers and Nones (NaN).
    public static var series: PyType<Column> {
        PyType("a list of numbers") { v in
            if case .floats(let values) = v { return values }
            guard let items = v.listItems, items.allSatisfy({ $0 == .none || $0.number != nil }) else { return nil }
            return Column(items.map { $0.number ?? .nan })
        }
    }
}

extension PyType where T == [Double] {
    /// A series as an array (NaN for None).
    public static var doubles: PyType<[Double]> {
        PyType(PyType<Column>.series.name) { PyType<Column>.series.read($0)?.values }
    }
}

extension PyType where T == [PyValue] {
    public static var list: PyType<[PyValue]> { PyType("a list") { $0.listItems } }
    /// A tuple of the given length.
    public static func tuple(_ count: Int) -> PyType<[PyValue]> {
        PyType("a tuple of \(count)") { if case .tuple(let t) = $0, t.count == count { return t } else { return nil } }
    }
}

extension PyType where T == [Int] {
    public static var ints: PyType<[Int]> {
        PyType("a list of integers") { v in
            guard let items = v.listItems else { return nil }
            let ints = items.compactMap { PyType<Int>.int.read($0) }
            return ints.count == items.count ? ints : nil
        }
    }
}

extension PyType where T == [String] {
    public static var strings: PyType<[String]> {
        PyType("a list of strings") { v in
            guard let items = v.listItems else { return nil }
            let strings = items.compactMap(\.string)
            return strings.count == items.count ? strings : nil
        }
    }
}

extension PyType where T == [(key: String, value: PyValue)] {
    /// A dict with string keys, its items in order.
    public static var dict: PyType<[(key: String, value: PyValue)]> {
        PyType("a dict") { v in
            guard case .dict(let pairs) = v, pairs.allSatisfy({ $0.0.string != nil }) else { return nil }
            return v.stringItems
        }
    }
}

extension PyValue {
    /// An integer, or a float with a whole value, without the rounding of a Double.
    var wholeNumber: Int64? {
        switch self {
        case .int(let i): return i
        case .float(let d): return Int64(exactly: d)
        default: return nil
        }
    }

    /// What the value is, for an error: "a string", "None".
    public var typeName: String {
        switch self {
        case .none: return "None"
        case .bool: return "a bool"
        case .int: return "an integer"
        case .float: return "a number"
        case .string: return "a string"
        case .list, .floats: return "a list"
        case .tuple: return "a tuple"
        case .set: return "a set"
        case .dict: return "a dict"
        case .foreign, .opaque: return "a Python object"
        }
    }

    /// `key`'s value, of `type`: an error naming the key when this is no dict with it, or it holds another type.
    public func required<T>(_ key: String, _ type: PyType<T>) throws -> T {
        guard let value = self[key] else { throw LockstatError("key '\(key)' missing") }
        return try Self.typed(value, key, type)
    }

    /// `key`'s value, of `type`; nil when the key is missing or None: an error when it holds another type.
    public func optional<T>(_ key: String, _ type: PyType<T>) throws -> T? {
        guard let value = self[key], value != .none else { return nil }
        return try Self.typed(value, key, type)
    }

    public func required<Key: RawRepresentable, T>(_ key: Key, _ type: PyType<T>) throws -> T
    where Key.RawValue == String {
        try required(key.rawValue, type)
    }

    public func optional<Key: RawRepresentable, T>(_ key: Key, _ type: PyType<T>) throws -> T?
    where Key.RawValue == String {
        try optional(key.rawValue, type)
    }

    /// An error naming the first key of this dict that is none of `known`: a renamed key is
    /// refused, not read as a key with nothing recorded.
    public func refuseKeys<Key: RawRepresentable>(otherThan known: [Key]) throws where Key.RawValue == String {
        let names = Set(known.map(\.rawValue))
        if let unknown = keys.first(where: { !names.contains($0) }) { throw LockstatError("key '\(unknown)' unknown") }
    }

    /// `value`, the value of `key`, as `type`, else an error naming the key.
    public static func typed<T>(_ value: PyValue, _ key: String, _ type: PyType<T>) throws -> T {
        guard let typed = type.read(value) else {
            throw LockstatError("key '\(key)' is \(value.typeName), not \(type.name)")
        }
        return typed
    }
}

/// `body`'s decoding errors prefixed with where they happened ("callers[3]: key 'caller' missing").
public func decoding<T>(_ place: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as LockstatError {
        throw LockstatError("\(place): \(error.message)", exitCode: error.exitCode)
    }
}
