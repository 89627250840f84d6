/// One value per sample, NaN where there is none: the shape of every series lockstat keeps.
///
/// Values are kept in chunks of `chunkLength`. A column fills its last chunk in place; a chunk
/// that fills up stays in memory while the process holds less than `ColumnSpill.memoryBudget`
/// bytes of full chunks, and goes to `ColumnSpill`'s unlinked file beyond it, so the series of
/// a day-long run take bounded memory whatever their number and length. A value type: copies
/// share the full chunks, which never change.
public struct Column: RandomAccessCollection, Sendable, Equatable {
    public static let chunkLength = 8192

    private var full: [Chunk] = []
    private var tail: [Double] = []

    public init() {}

    public init<S: Sequence>(_ values: S) where S.Element == Double { append(contentsOf: values) }

    /// None as NaN.
    public init(_ values: [Double?]) { append(contentsOf: values.lazy.map { $0 ?? .nan }) }

    public init(repeating value: Double, count: Int) {
        for _ in 0..<count { append(value) }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { full.count * Self.chunkLength + tail.count }

    public subscript(i: Int) -> Double {
        let k = i / Self.chunkLength
        return k < full.count ? full[k].value(i % Self.chunkLength) : tail[i - full.count * Self.chunkLength]
    }

    /// The tail grows as arrays do (a machine's 100,000 CPUs make a million short columns).
    public mutating func append(_ value: Double) {
        tail.append(value)
        if tail.count == Self.chunkLength {
            full.append(Chunk(tail))
            tail = []
        }
    }

    public mutating func append<S: Sequence>(contentsOf values: S) where S.Element == Double {
        for v in values { append(v) }
    }

    /// The values a chunk at a time, in order, spilled ones read back into one reused buffer
    /// (valid during the call only).
    public func withChunks(_ body: (UnsafeBufferPointer<Double>) throws -> Void) rethrows {
        var buffer = [Double]()
        for chunk in full {
            switch chunk.storage {
            case .memory(let box): try box.values.withUnsafeBufferPointer(body)
            case .spilled(let offset):
                ColumnSpill.shared.read(offset: offset, into: &buffer)
                try buffer.withUnsafeBufferPointer(body)
            }
        }
        try tail.withUnsafeBufferPointer(body)
    }

    /// The values as an array, for a short-lived use of one column.
    public var values: [Double] {
        var out = [Double]()
        out.reserveCapacity(count)
        withChunks { out.append(contentsOf: $0) }
        return out
    }

    /// Sample by sample, the sum of the columns that have a value there (NaN where none has),
    /// over `count` samples.
    public static func sum(_ columns: [Column], count: Int) -> Column {
        var readers = columns.map { $0.makeIterator() }
        var out = Column()
        for _ in 0..<count {
            var total = Double.nan
            for k in readers.indices {
                if let v = readers[k].next(), !v.isNaN { total = total.isNaN ? v : total + v }
            }
            out.append(total)
        }
        return out
    }

    public func makeIterator() -> Iterator { Iterator(column: self) }

    /// Reads a chunk at a time, so a pass over a spilled column reads each chunk once.
    public struct Iterator: IteratorProtocol {
        let column: Column
        private var index = 0
        private var chunk: [Double] = []
        private var chunkStart = 0

        init(column: Column) { self.column = column }

        public mutating func next() -> Double? {
            guard index < column.count else { return nil }
            if index - chunkStart >= chunk.count || index < chunkStart {
                let k = index / Column.chunkLength
                chunkStart = k * Column.chunkLength
                chunk = k < column.full.count ? column.full[k].array : column.tail
            }
            defer { index += 1 }
            return chunk[index - chunkStart]
        }
    }

    /// Equal values, NaN equal to NaN (None in samples.pickle).
    public static func == (a: Column, b: Column) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
    }
}

/// A full chunk of a column: in memory (counted against the budget while it lives) or spilled.
struct Chunk: Sendable {
    enum Storage: Sendable {
        case memory(MemoryChunk)
        case spilled(offset: Int64)
    }
    let storage: Storage

    init(_ values: [Double]) {
        if let box = MemoryChunk(values) {
            storage = .memory(box)
        } else if let offset = ColumnSpill.shared.write(values) {
            storage = .spilled(offset: offset)
        } else {
            // No spill file (no writable scratch directory, a full disk): memory it is.
            storage = .memory(MemoryChunk(unbudgeted: values))
        }
    }

    func value(_ i: Int) -> Double {
        switch storage {
        case .memory(let box): return box.values[i]
        case .spilled(let offset): return ColumnSpill.shared.value(offset: offset, index: i)
        }
    }

    var array: [Double] {
        switch storage {
        case .memory(let box): return box.values
        case .spilled(let offset):
            var out = [Double]()
            ColumnSpill.shared.read(offset: offset, into: &out)
            return out
        }
    }
}

/// A full chunk held in memory; its bytes count against the budget until it is freed.
final class MemoryChunk: Sendable {
    let values: [Double]
    private let budgeted: Bool

    init?(_ values: [Double]) {
        guard ColumnSpill.shared.reserve(bytes: values.count * 8) else { return nil }
        self.values = values
        budgeted = true
    }

    init(unbudgeted values: [Double]) {
        self.values = values
        budgeted = false
    }

    deinit {
        if budgeted { ColumnSpill.shared.release(bytes: values.count * 8) }
    }
}
