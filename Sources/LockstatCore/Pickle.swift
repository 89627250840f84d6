/// Python's pickle format, protocol 4 (Python 3.4+), for the values lockstat stores.
/// Opcode names and bytes as in CPython's Lib/pickle.py.
enum PickleOp {
    static let proto: UInt8 = 0x80, stop: UInt8 = 0x2E /* . */, mark: UInt8 = 0x28 /* ( */
    static let none: UInt8 = 0x4E /* N */, newTrue: UInt8 = 0x88, newFalse: UInt8 = 0x89
    static let binInt: UInt8 = 0x4A /* J */, binInt1: UInt8 = 0x4B /* K */, binInt2: UInt8 = 0x4D /* M */
    static let long1: UInt8 = 0x8A, binFloat: UInt8 = 0x47 /* G */
    static let shortBinUnicode: UInt8 = 0x8C, binUnicode: UInt8 = 0x58 /* X */, binUnicode8: UInt8 = 0x8D
    static let emptyList: UInt8 = 0x5D /* ] */, append: UInt8 = 0x61 /* a */, appends: UInt8 = 0x65 /* e */
    static let emptyDict: UInt8 = 0x7D /* } */, setItem: UInt8 = 0x73 /* s */, setItems: UInt8 = 0x75 /* u */
    static let emptyTuple: UInt8 = 0x29 /* ) */, tuple: UInt8 = 0x74 /* t */
    static let tuple1: UInt8 = 0x85, tuple2: UInt8 = 0x86, tuple3: UInt8 = 0x87
    static let emptySet: UInt8 = 0x8F, addItems: UInt8 = 0x90, frozenSet: UInt8 = 0x91
    static let frame: UInt8 = 0x95, memoize: UInt8 = 0x94, binGet: UInt8 = 0x68 /* h */,
        longBinGet: UInt8 = 0x6A /* j */
    static let binPut: UInt8 = 0x71 /* q */, longBinPut: UInt8 = 0x72 /* r */
    static let global: UInt8 = 0x63 /* c */, reduce: UInt8 = 0x52 /* R */
    static let build: UInt8 = 0x62 /* b */, newObj: UInt8 = 0x81, stackGlobal: UInt8 = 0x93
    static let binBytes: UInt8 = 0x42 /* B */, shortBinBytes: UInt8 = 0x43 /* C */, binBytes8: UInt8 = 0x8E
}

/// Python's array.array as pickled: its reconstructor and the machine format of doubles.
enum PickleArray {
    static let reconstructor = "array._array_reconstructor"
    static let doubleLittleEndian: UInt8 = 16
}

public enum Pickle {
    public static func encode(_ value: PyValue) -> [UInt8] {
        var whole = [UInt8]()
        write(value) { whole += $0 }
        return whole
    }

    /// The same bytes handed to `emit` a megabyte or so at a time; series as lists of floats,
    /// or as array.array('d').
    public static func write(_ value: PyValue, seriesAsArrays: Bool = false, to emit: ([UInt8]) -> Void) {
        withoutActuallyEscaping(emit) { emit in
            var writer = PickleWriter(emit: emit, arrays: seriesAsArrays)
            writer.out = [PickleOp.proto, 4]
            writer.write(value)
            writer.out.append(PickleOp.stop)
            emit(writer.out)
        }
    }
}

struct PickleWriter {
    /// Items per APPENDS/SETITEMS batch, as CPython batches them.
    static let batch = 1000
    /// Pieces are handed on once this long, between one batch of items and the next.
    static let piece = 1 << 20
    var out: [UInt8] = []
    let emit: ([UInt8]) -> Void
    let arrays: Bool

    mutating func handOn() {
        guard out.count >= Self.piece else { return }
        emit(out)
        out.removeAll(keepingCapacity: true)
    }

    mutating func write(_ value: PyValue) {
        switch value {
        case .none: out.append(PickleOp.none)
        case .bool(let b): out.append(b ? PickleOp.newTrue : PickleOp.newFalse)
        case .int(let i): writeInt(i)
        case .float(let d): writeFloat(d)
        case .string(let s):
            let utf8 = Array(s.utf8)
            if utf8.count < 256 {
                out.append(PickleOp.shortBinUnicode)
                out.append(UInt8(utf8.count))
            } else {
                out.append(PickleOp.binUnicode)
                appendLE(UInt32(utf8.count))
            }
            out.append(contentsOf: utf8)
        case .list(let items):
            writeBatched(items.count, empty: PickleOp.emptyList, add: PickleOp.appends) { $0.write(items[$1]) }
        case .floats(let values) where arrays:
            writeArray(values)
        case .floats(let values):
            var reader = values.makeIterator()
            writeBatched(values.count, empty: PickleOp.emptyList, add: PickleOp.appends) { writer, _ in
                let v = reader.next()!
                if v.isNaN { writer.out.append(PickleOp.none) } else { writer.writeFloat(v) }
            }
        case .foreign(let pickle, _):
            // Python's own opcodes, inlined: without PROTO and STOP; its memo indices are its
            // own, as this writer uses no memo.
            var body = pickle[...]
            if body.first == PickleOp.proto { body = body.dropFirst(2) }
            if body.last == PickleOp.stop { body = body.dropLast() }
            out.append(contentsOf: body)
        case .opaque:
            out.append(PickleOp.none)
        case .tuple(let items):
            if items.isEmpty {
                out.append(PickleOp.emptyTuple)
                return
            }
            out.append(PickleOp.mark)
            for item in items { write(item) }
            out.append(PickleOp.tuple)
        case .set(let items):
            writeBatched(items.count, empty: PickleOp.emptySet, add: PickleOp.addItems) { $0.write(items[$1]) }
        case .dict(let pairs):
            writeBatched(pairs.count, empty: PickleOp.emptyDict, add: PickleOp.setItems) { writer, i in
                writer.write(pairs[i].0)
                writer.write(pairs[i].1)
            }
        }
    }

    /// An empty container, then its items in batches: MARK, the batch's items, and the opcode that
    /// adds them. Pieces are handed on between batches.
    mutating func writeBatched(_ count: Int, empty: UInt8, add: UInt8, item: (inout PickleWriter, Int) -> Void) {
        out.append(empty)
        for chunk in batches(count) {
            out.append(PickleOp.mark)
            for i in chunk { item(&self, i) }
            out.append(add)
            handOn()
        }
    }

    /// array.array('d', values) as CPython pickles it (array.__reduce_ex__, protocol 3 and up):
    /// `array._array_reconstructor(array.array, 'd', 16, bytes)`, 16 being the machine format
    /// IEEE_754_DOUBLE_LE (CPython Modules/arraymodule.c).
    mutating func writeArray(_ values: Column) {
        out.append(PickleOp.global)
        out += Array("array\n_array_reconstructor\n".utf8)
        out.append(PickleOp.mark)
        out.append(PickleOp.global)
        out += Array("array\narray\n".utf8)
        out += [PickleOp.shortBinUnicode, 1, UInt8(ascii: "d"), PickleOp.binInt1, PickleArray.doubleLittleEndian]
        out.append(PickleOp.binBytes8)
        appendLE(UInt64(values.count * 8))
        values.withChunks { chunk in
            for v in chunk { appendLE(v.bitPattern) }
            handOn()
        }
        out.append(PickleOp.tuple)
        out.append(PickleOp.reduce)
    }

    func batches(_ count: Int) -> [Range<Int>] {
        stride(from: 0, to: count, by: Self.batch).map { $0..<min(count, $0 + Self.batch) }
    }

    mutating func writeInt(_ i: Int64) {
        if let small = Int32(exactly: i) {
            out.append(PickleOp.binInt)
            appendLE(UInt32(bitPattern: small))
        } else {
            out.append(PickleOp.long1)
            out.append(8)
            appendLE(UInt64(bitPattern: i))
        }
    }

    mutating func writeFloat(_ d: Double) {
        out.append(PickleOp.binFloat)
        appendLE(d.bitPattern.byteSwapped)
    }

    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        var v = v.littleEndian
        for _ in 0..<MemoryLayout<T>.size {
            out.append(UInt8(truncatingIfNeeded: v))
            v >>= 8
        }
    }
}
