import Glibc
import SystemPackage

/// Reads pickles back: every opcode `Pickle` writes, and those CPython's protocol 2–5 pickler
/// emits for None, bools, ints, floats, strings, lists, tuples, sets and dicts.
public struct Unpickler {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Deeper values are refused: a pickle nested a million deep would exhaust the stack of
    /// every recursive walk over it (==, JSON, plots). lockstat's own data is 6 deep.
    public static let maxDepth = 100

    /// A value on the stack and how deep its containers nest (0 for a scalar).
    private typealias Entry = (value: PyValue, depth: Int)

    private var input: PickleInput
    private var stack: [Entry] = []
    private var marks: [Int] = []
    private var memo: [Int: Entry] = [:]

    public static func decode(_ bytes: [UInt8]) throws -> PyValue {
        var u = Unpickler(input: PickleInput(bytes: bytes))
        return try u.run()
    }

    /// From an open file, read a megabyte at a time: a day-long run's samples.pickle is never
    /// in memory whole (its series become columns as they are read).
    public static func decode(file fd: Int32) throws -> PyValue {
        var u = Unpickler(input: try PickleInput(file: fd))
        return try u.run()
    }

    private init(input: PickleInput) { self.input = input }

    private mutating func push(_ value: PyValue, depth: Int = 0) throws {
        guard depth <= Self.maxDepth else { throw Self.fail("nested deeper than \(Self.maxDepth) levels") }
        stack.append((value, depth))
    }

    private mutating func run() throws -> PyValue {
        while true {
            let op = try byte()
            switch op {
            case PickleOp.proto: _ = try byte()
            case PickleOp.frame: _ = try take(8)
            case PickleOp.stop:
                guard let top = stack.last else { throw Self.fail("empty stack at STOP") }
                return top.value
            case PickleOp.mark: marks.append(stack.count)
            case PickleOp.none: try push(.none)
            case PickleOp.newTrue: try push(.bool(true))
            case PickleOp.newFalse: try push(.bool(false))
            case PickleOp.binInt: try push(.int(Int64(Int32(bitPattern: UInt32(le: try take(4))))))
            case PickleOp.binInt1: try push(.int(Int64(try byte())))
            case PickleOp.binInt2: try push(.int(Int64(UInt16(le: try take(2)))))
            case PickleOp.long1:
                let n = Int(try byte())
                let raw = try take(n)
                guard n <= 8 else { throw Self.fail("integer wider than 64 bits") }
                var v: UInt64 = 0
                for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
                if n > 0 && n < 8 && raw.last! & 0x80 != 0 { v |= ~0 << (8 * UInt64(n)) }
                try push(.int(Int64(bitPattern: v)))
            case PickleOp.binFloat:
                try push(.float(Double(bitPattern: try take(8).reduce(0) { $0 << 8 | UInt64($1) })))
            case PickleOp.shortBinUnicode: try push(.string(try text(Int(try byte()))))
            case PickleOp.binUnicode: try push(.string(try text(Int(UInt32(le: try take(4))))))
            case PickleOp.binUnicode8: try push(.string(try text(try length8())))
            case PickleOp.emptyList: try push(.list([]), depth: 1)
            case PickleOp.emptyDict: try push(.dict([]), depth: 1)
            case PickleOp.emptyTuple: try push(.tuple([]), depth: 1)
            case PickleOp.emptySet: try push(.set([]), depth: 1)
            case PickleOp.append:
                let item = try pop()
                try modifyTop(adding: item.depth) { try Self.append([item.value], to: &$0, op: "APPEND") }
            case PickleOp.appends:
                let (items, depth) = try popMark()
                try modifyTop(adding: depth) { try Self.append(items, to: &$0, op: "APPENDS") }
            case PickleOp.addItems:
                let (items, depth) = try popMark()
                try modifyTop(adding: depth) {
                    if case .set(var s) = $0 {
                        $0 = .none
                        s += items
                        $0 = .set(s)
                    } else {
                        throw Self.fail("ADDITEMS to a non-set")
                    }
                }
            case PickleOp.setItem:
                let v = try pop()
                let k = try pop()
                try modifyTop(adding: max(k.depth, v.depth)) {
                    if case .dict(var d) = $0 {
                        $0 = .none
                        d.append((k.value, v.value))
                        $0 = .dict(d)
                    } else {
                        throw Self.fail("SETITEM to a non-dict")
                    }
                }
            case PickleOp.setItems:
                let (items, depth) = try popMark()
                guard items.count % 2 == 0 else { throw Self.fail("odd SETITEMS") }
                try modifyTop(adding: depth) {
                    guard case .dict(var d) = $0 else { throw Self.fail("SETITEMS to a non-dict") }
                    $0 = .none  // d is then the only reference: appended in place
                    for i in stride(from: 0, to: items.count, by: 2) { d.append((items[i], items[i + 1])) }
                    $0 = .dict(d)
                }
            case PickleOp.tuple:
                let (items, depth) = try popMark()
                try push(.tuple(items), depth: depth + 1)
            case PickleOp.frozenSet:
                let (items, depth) = try popMark()
                try push(.set(items), depth: depth + 1)
            case PickleOp.tuple1, PickleOp.tuple2, PickleOp.tuple3:
                let n = Int(op - PickleOp.tuple1) + 1
                guard stack.count >= n else { throw Self.fail("stack underflow") }
                let items = Array(stack.suffix(n))
                stack.removeLast(n)
                try push(.tuple(items.map(\.value)), depth: (items.map(\.depth).max() ?? 0) + 1)
            case PickleOp.memoize:
                guard let top = stack.last else { throw Self.fail("MEMOIZE on empty stack") }
                memo[memo.count] = top
            case PickleOp.global:
                // Protocols 2 and 3 build sets as `builtins.set(list)`; any other class or
                // function (numpy, a user's own) is opaque to lockstat, and never called.
                try push(Self.known(try line() + "." + (try line())))
            case PickleOp.stackGlobal:
                let name = try pop().value
                let module = try pop().value
                try push(Self.known((module.string ?? "") + "." + (name.string ?? "")))
            case PickleOp.reduce:
                let args = try pop()
                let callable = try pop()
                if callable.value == .string(Self.setMarker), case .tuple(let a) = args.value {
                    try push(.set(a.first?.listItems ?? []), depth: args.depth)
                } else if callable.value == .string(Self.arrayMarker), case .tuple(let a) = args.value, a.count == 4,
                    a[1] == .string("d"), a[2] == .int(Int64(PickleArray.doubleLittleEndian)), case .floats = a[3]
                {
                    try push(a[3])
                } else if callable.value == .string(Self.arrayClassMarker), case .tuple(let a) = args.value,
                    a.count == 2,
                    a[0] == .string("d"), let values = a[1].column
                {
                    // Protocol 2 pickles array.array('d', [floats]).
                    try push(.floats(values))
                } else {
                    try push(.opaque)
                }
            case PickleOp.newObj:
                _ = try pop()
                _ = try pop()
                try push(.opaque)
            case PickleOp.build:
                _ = try pop()  // the state of an opaque object
            case PickleOp.shortBinBytes: try bytes(Int(try byte()))
            case PickleOp.binBytes: try bytes(Int(UInt32(le: try take(4))))
            case PickleOp.binBytes8: try bytes(try length8())
            case PickleOp.binPut: try put(Int(try byte()))
            case PickleOp.longBinPut: try put(Int(UInt32(le: try take(4))))
            case PickleOp.binGet: stack.append(try memoValue(Int(try byte())))
            case PickleOp.longBinGet: stack.append(try memoValue(Int(UInt32(le: try take(4)))))
            default:
                throw Self.fail("unsupported opcode 0x\(String(op, radix: 16)) at byte \(input.offset - 1)")
            }
        }
    }

    /// An 8-byte length, which no file of this size can hold when it does not fit an Int.
    private mutating func length8() throws -> Int {
        guard let n = Int(exactly: UInt64(le: try take(8))) else {
            throw Self.fail("length beyond the end of the file")
        }
        return n
    }

    private static func fail(_ message: String) -> Failure { Failure(description: "pickle: \(message)") }

    private mutating func byte() throws -> UInt8 {
        guard try input.ensure(1) else { throw Self.fail("truncated") }
        defer { input.pos += 1 }
        return input.buffer[input.pos]
    }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, try input.ensure(n) else { throw Self.fail("truncated") }
        defer { input.pos += n }
        return input.buffer[input.pos..<(input.pos + n)]
    }

    /// Bytes are opaque, except as the values of an array.array('d') being rebuilt (its
    /// reconstructor is on the stack): those are read as its doubles.
    private mutating func bytes(_ n: Int) throws {
        let raw = try take(n)
        guard n % 8 == 0, stack.contains(where: { $0.value == .string(Self.arrayMarker) }) else {
            return try push(.opaque)
        }
        var column = Column()
        raw.withUnsafeBytes { b in
            for i in 0..<(n / 8) {
                column.append(
                    Double(bitPattern: UInt64(littleEndian: b.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))))
            }
        }
        try push(.floats(column))
    }

    /// The marker of a class or function lockstat rebuilds (set, frozenset, array's
    /// reconstructor); anything else is opaque and never called.
    static func known(_ name: String) -> PyValue {
        if setConstructors.contains(name) { return .string(setMarker) }
        if name == PickleArray.reconstructor { return .string(arrayMarker) }
        if name == "array.array" { return .string(arrayClassMarker) }
        return .opaque
    }

    static let arrayMarker = "\u{0}array reconstructor", arrayClassMarker = "\u{0}array class"

    static let setConstructors: Set<String> = [
        "builtins.set", "__builtin__.set", "builtins.frozenset", "__builtin__.frozenset",
    ]
    static let setMarker = "\u{0}set constructor"

    /// GLOBAL's module and name lines; a longer line than any Python name is refused.
    private mutating func line() throws -> String {
        var searched = 0
        while true {
            let available = input.buffer[(input.pos + searched)...]
            if let end = available.firstIndex(of: 0x0A) {
                defer { input.pos = end + 1 }
                return String(decoding: input.buffer[input.pos..<end], as: UTF8.self)
            }
            searched = input.buffer.count - input.pos
            guard searched < 65536, try input.ensure(searched + 1) else { throw Self.fail("truncated") }
        }
    }

    private mutating func text(_ n: Int) throws -> String { String(decoding: try take(n), as: UTF8.self) }

    private mutating func pop() throws -> Entry {
        guard let v = stack.popLast() else { throw Self.fail("stack underflow") }
        return v
    }

    /// The items above the last MARK, and the deepest of them.
    private mutating func popMark() throws -> ([PyValue], Int) {
        guard let m = marks.popLast(), m <= stack.count else { throw Self.fail("missing MARK") }
        var values = [PyValue]()
        var depth = 0
        values.reserveCapacity(stack.count - m)
        for entry in stack[m...] {
            values.append(entry.value)
            depth = max(depth, entry.depth)
        }
        // After the slice is gone, so the stack is cut in place, not copied.
        stack.removeSubrange(m...)
        return (values, depth)
    }

    /// Adds to the container on top; `depth` is that of what is added.
    /// A list that holds floats and Nones only is kept as `.floats` (NaN for None, as lockstat
    /// writes its series): 8 bytes a value instead of a boxed value each, so a long run's
    /// samples.pickle reads back in a ninth of the memory. Anything else makes it a list.
    static func append(_ items: [PyValue], to top: inout PyValue, op: String) throws {
        switch top {
        case .floats(var values):
            if let more = compactFloats(items) {
                top = .none  // values is then the only reference: appended in place
                values.append(contentsOf: more)
                top = .floats(values)
            } else {
                top = .list((top.listItems ?? []) + items)
            }
        case .list(var list):
            if list.isEmpty, let floats = compactFloats(items) {
                top = .floats(Column(floats))
                return
            }
            top = .none
            list += items
            top = .list(list)
        default:
            throw fail("\(op) to a non-list")
        }
    }

    /// The items as floats (None as NaN), or nil when one is anything else (or a NaN float,
    /// which would read back as None).
    static func compactFloats(_ items: [PyValue]) -> [Double]? {
        var out = [Double]()
        out.reserveCapacity(items.count)
        for item in items {
            switch item {
            case .float(let d) where !d.isNaN: out.append(d)
            case .none: out.append(.nan)
            default: return nil
            }
        }
        return out
    }

    private mutating func modifyTop(adding depth: Int, _ body: (inout PyValue) throws -> Void) throws {
        guard !stack.isEmpty else { throw Self.fail("stack underflow") }
        // Items added to an object lockstat cannot represent stay with it, unseen.
        if stack[stack.count - 1].value == .opaque { return }
        let nested = max(stack[stack.count - 1].depth, depth + 1)
        guard nested <= Self.maxDepth else { throw Self.fail("nested deeper than \(Self.maxDepth) levels") }
        try body(&stack[stack.count - 1].value)
        stack[stack.count - 1].depth = nested
    }

    /// Memo entries are copies: a value filled after it was memoized reads back as it was then,
    /// which matters only for objects a pickle shares between two places (ours never do).
    private mutating func put(_ i: Int) throws {
        guard let top = stack.last else { throw Self.fail("PUT on empty stack") }
        memo[i] = top
    }

    private func memoValue(_ i: Int) throws -> Entry {
        guard let v = memo[i] else { throw Self.fail("unknown memo \(i)") }
        return v
    }
}

/// A pickle's bytes: all in memory, or a window of a file read as the unpickler goes.
private struct PickleInput {
    var buffer: [UInt8]
    var pos = 0
    /// Bytes of the file before `buffer`.
    private var consumed = 0
    private let fd: Int32
    /// Bytes of the file after `buffer`.
    private var remaining = 0
    static let readSize = 1 << 20

    init(bytes: [UInt8]) {
        buffer = bytes
        fd = -1
    }

    init(file fd: Int32) throws {
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw Unpickler.Failure(description: "pickle: \(SystemPackage.Errno(rawValue: errno))")
        }
        buffer = []
        self.fd = fd
        remaining = Int(st.st_size)
    }

    /// Where the next byte is in the pickle.
    var offset: Int { consumed + pos }

    /// Whether `n` bytes follow `pos`, reading more of the file when they are not in the buffer.
    /// A length beyond the file's end is refused without reading.
    mutating func ensure(_ n: Int) throws -> Bool {
        if buffer.count - pos >= n { return true }
        guard fd >= 0, n - (buffer.count - pos) <= remaining else { return false }
        buffer.removeSubrange(0..<pos)
        consumed += pos
        pos = 0
        let want = min(remaining, max(n - buffer.count, Self.readSize))
        let old = buffer.count
        var failure: Int32 = 0
        buffer.append(contentsOf: repeatElement(0, count: want))
        let got = buffer.withUnsafeMutableBytes { bytes -> Int in
            var done = 0
            while done < want {
                let r = read(fd, bytes.baseAddress! + old + done, want - done)
                if r < 0 && errno == EINTR { continue }
                if r < 0 { failure = errno }
                guard r > 0 else { break }
                done += r
            }
            return done
        }
        buffer.removeSubrange((old + got)...)
        remaining -= got
        if failure != 0 { throw Unpickler.Failure(description: "pickle: \(SystemPackage.Errno(rawValue: failure))") }
        if got < want { remaining = 0 }  // the file shrank while it was read
        return buffer.count - pos >= n
    }
}

extension FixedWidthInteger {
    fileprivate init(le bytes: ArraySlice<UInt8>) {
        var v: Self = 0
        for (i, b) in bytes.enumerated() { v |= Self(b) << (8 * i) }
        self = v
    }
}
