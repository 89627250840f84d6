import CLockstat
import Glibc
import SystemPackage

/// One record as read back: where its payload lies in the log's bytes. 48 bytes: a day-long
/// run lists a million of them.
public struct RawRecord: Sendable {
    public let tick: UInt64
    public let time: UInt64
    private let payloadStart: Int
    private let payloadLength: UInt32
    private var epochIndex: Int32
    private var batchIndex: Int32
    public let kind: RawRecordKind
    public let stream: UInt16
    /// A compressed difference whose reference was lost to damage: it cannot be decoded.
    public var chainBroken = false
    /// A compressed snapshot that would decode to more than `RawLogFormat.maxSnapshot` (or does
    /// not say how much): never decoded.
    public var refused = false

    public init(
        kind: RawRecordKind, stream: UInt16, tick: UInt64, time: UInt64, payload: Range<Int>, epoch: Int,
        chainBroken: Bool = false, batch: Int = -1
    ) {
        self.kind = kind
        self.stream = stream
        self.tick = tick
        self.time = time
        payloadStart = payload.lowerBound
        payloadLength = UInt32(payload.count)  // a record's length field is 32 bits
        epochIndex = Int32(clamping: epoch)
        batchIndex = Int32(batch)
        self.chainBroken = chainBroken
    }

    public var payload: Range<Int> { payloadStart..<(payloadStart + Int(payloadLength)) }
    /// How many damaged ranges of the log lie before this record.
    public var epoch: Int { Int(epochIndex) }
    /// The batch holding it (an index into the log's batches; `payload` is then within the
    /// batch's decoded bytes), or -1.
    public var batch: Int {
        get { Int(batchIndex) }
        set { batchIndex = Int32(newValue) }
    }
}

/// A module's raw log read back, every whole record up to the first torn or corrupt one.
public struct RawLog: Sendable {
    public let path: String
    public let storage: RawLogBytes
    public private(set) var records: [RawRecord]
    /// Bytes after the last whole record (a torn tail), dropped.
    public let droppedBytes: Int
    /// Byte ranges between whole records that held no whole record (damage inside the log).
    public let damaged: [Range<Int>]
    /// Records the damaged ranges held, as far as their headers still say (at least one each).
    public let damagedRecords: Int
    /// From the header record: the program's start (CLOCK_MONOTONIC ns) and the interval.
    public let startTime: UInt64
    /// The same instant by CLOCK_REALTIME (ns since the epoch); nil in logs written before it was recorded.
    public let startRealtime: UInt64?
    public let intervalNanoseconds: UInt64
    /// The header's `format` (1 when it has none).
    public let formatVersion: Int
    /// The batch records (`compressedBatch`, `compressedBatchDelta`) whose records `records` holds.
    public let batches: [RawBatch]
    /// Batches that did not decode (damaged, or made against a batch lost to damage): their records are lost.
    public let batchesLost: Int
    /// Offsets of compressed records refused for what they would decode to (see
    /// `RawLogFormat.maxSnapshot`, `maxBatch`): never decoded, and what was made against them is lost.
    public let refused: [Int]
    private let batchCache = RawBatchCache()

    public static func read(path: String) throws -> RawLog {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw LockstatError("\(path): cannot read raw samples: \(FileReader.failure(errno).reason)")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw LockstatError("\(path): cannot read raw samples: \(SystemPackage.Errno(rawValue: errno).description)")
        }
        do {
            return try RawLog(path: path, storage: try RawLogBytes(mapping: fd, size: Int(st.st_size)))
        } catch let e as LockstatError {
            throw e.message.hasPrefix(path) ? e : LockstatError("\(path): cannot map raw samples: \(e.message)")
        }
    }

    /// `samples/<module>.log` of a test directory, opened through its descriptor: never a
    /// symlink followed, a FIFO opened (O_NONBLOCK) or anything but a regular file read.
    public static func read(_ dir: TestDirectory, module: String) throws -> RawLog {
        let path = dir.rawLog(module)
        let read = try dir.withFile(logName(module)) { fd -> Result<RawLog, FileReader.Failure> in
            var st = stat()
            guard fstat(fd, &st) == 0 else { return .failure(.from(errno)) }
            do {
                return .success(try RawLog(path: path, storage: try RawLogBytes(mapping: fd, size: Int(st.st_size))))
            } catch let e as LockstatError {
                throw e.message.hasPrefix(path) ? e : LockstatError("\(path): cannot map raw samples: \(e.message)")
            }
        }
        switch read {
        case .success(let log): return log
        case .failure(let f): throw LockstatError("\(path): cannot read raw samples: \(f.reason)")
        }
    }

    /// Whether a test directory has no raw log of `module` (a module its run skipped has none).
    public static func isMissing(_ dir: TestDirectory, module: String) -> Bool {
        if case .failure(.missing) = dir.withFile(logName(module), { _ in .success(()) }) { return true }
        return false
    }

    static func logName(_ module: String) -> String { TestDirectory.samplesName + "/" + module + ".log" }

    public init(path: String, bytes: [UInt8]) throws {
        try self.init(path: path, storage: RawLogBytes(bytes))
    }

    init(path: String, storage: RawLogBytes) throws {
        self.path = path
        self.storage = storage
        var records = [RawRecord]()
        var damaged = [Range<Int>]()
        var refused = [Int]()
        var damageStart: Int?
        var offset = 0
        let raw = storage.buffer
        while offset + RawLogFormat.headerSize <= raw.count {
            guard let record = Self.record(at: offset, in: raw, epoch: damaged.count) else {
                // Not a whole record: damage from here to the next offset that holds one (a
                // flipped bit loses that record, not the rest of the run).
                if damageStart == nil { damageStart = offset }
                offset += 1
                continue
            }
            if let start = damageStart {
                damaged.append(start..<offset)
                damageStart = nil
                records.append(Self.record(at: offset, in: raw, epoch: damaged.count)!)
            } else {
                records.append(record)
            }
            if records.last!.kind == .compressedSnapshot || records.last!.kind == .compressedDelta,
                (Zstd.declaredSize(UnsafeRawBufferPointer(rebasing: raw[record.payload])) ?? .max)
                    > RawLogFormat.maxSnapshot
            {
                records[records.count - 1].refused = true
                refused.append(offset)
            }
            storage.read(records.last!.payload.upperBound - offset)
            offset = records.last!.payload.upperBound
        }
        let expanded = Self.expandBatches(records, storage)
        self.records = Self.markBrokenChains(expanded.records)
        batches = expanded.batches
        batchesLost = expanded.lost
        self.refused = (refused + expanded.refused).sorted()
        self.damaged = damaged
        self.damagedRecords = damaged.reduce(0) { $0 + max(1, Self.magicCount(in: raw, $1)) }
        droppedBytes = raw.count - (damageStart ?? offset)
        guard
            let header = expanded.header
                ?? records.first(where: { $0.kind == .header }).map({
                    String(decoding: UnsafeRawBufferPointer(rebasing: raw[$0.payload]), as: UTF8.self)
                })
        else {
            throw LockstatError("\(path): not a lockstat raw sample log (no header record)")
        }
        var fields = [String: UInt64]()
        for line in header.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let v = UInt64(parts[1]) { fields[String(parts[0])] = v }
        }
        startTime = fields["start_ns"] ?? (self.records.first { $0.kind == .header }?.time ?? 0)
        startRealtime = fields["start_realtime_ns"]
        intervalNanoseconds = fields["interval_ns"] ?? 0
        formatVersion = Int(fields["format"] ?? 1)
        guard formatVersion <= RawLogFormat.version else {
            throw LockstatError(
                "\(path): written by a newer lockstat (raw log format \(formatVersion); this one reads 1 to \(RawLogFormat.version))"
            )
        }
        // Format 1 named its streams 999, 1000, ...: read them as today's names.
        if formatVersion == 1 {
            self.records = self.records.map { r in
                guard (999...1003).contains(r.stream) else { return r }
                return RawRecord(
                    kind: r.kind, stream: RawLogStream.named(r.stream - 999), tick: r.tick, time: r.time,
                    payload: r.payload, epoch: r.epoch, chainBroken: r.chainBroken, batch: r.batch)
            }
        }
    }

    /// The whole, checksummed record at `offset`, or nil.
    static func record(at offset: Int, in raw: UnsafeRawBufferPointer, epoch: Int) -> RawRecord? {
        guard offset + RawLogFormat.headerSize <= raw.count else { return nil }
        let base = raw.baseAddress! + offset
        guard UInt32(littleEndian: base.loadUnaligned(as: UInt32.self)) == RawLogFormat.magic else { return nil }
        let length = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        guard length <= raw.count - offset - RawLogFormat.headerSize else { return nil }
        var crc = ls_crc32c(0, base, 28)
        crc = ls_crc32c(crc, base + RawLogFormat.headerSize, length)
        guard crc == UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 28, as: UInt32.self)),
            let kind = RawRecordKind(
                rawValue: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 26, as: UInt16.self)))
        else { return nil }
        let start = offset + RawLogFormat.headerSize
        return RawRecord(
            kind: kind,
            stream: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 24, as: UInt16.self)),
            tick: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            time: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
            payload: start..<(start + length), epoch: epoch)
    }

    /// The records of every batch in place of the batch, each batch decoded once here to list
    /// them (`payloadBytes` decodes again as it is read); the header text when a batch held it.
    static func expandBatches(
        _ records: [RawRecord], _ storage: RawLogBytes
    )
        -> (records: [RawRecord], batches: [RawBatch], lost: Int, refused: [Int], header: String?)
    {
        let raw = storage.buffer
        guard records.contains(where: { $0.kind == .compressedBatch || $0.kind == .compressedBatchDelta }) else {
            return (records, [], 0, [], nil)
        }
        var out = [RawRecord]()
        var batches = [RawBatch]()
        var lost = 0
        var refused = [Int]()
        var header: String?
        let zstd = Zstd()
        var previous: (bytes: [UInt8], epoch: Int)?
        var current = [UInt8]()
        for r in records {
            guard r.kind == .compressedBatch || r.kind == .compressedBatchDelta else {
                out.append(r)
                continue
            }
            let chained = r.kind == .compressedBatchDelta
            let frame = UnsafeRawBufferPointer(rebasing: raw[r.payload])
            guard (Zstd.declaredSize(frame) ?? .max) <= RawLogFormat.maxBatch else {
                refused.append(r.payload.lowerBound - RawLogFormat.headerSize)
                previous = nil
                continue
            }
            // A chained batch decodes only against the batch just before it, undamaged between.
            let reference =
                chained
                ? previous.flatMap { $0.epoch == r.epoch ? Array($0.bytes.suffix(RawLogFormat.batchReference)) : nil }
                : nil
            guard !chained || reference != nil,
                zstd.decompress(frame, prefix: reference, limit: RawLogFormat.maxBatch, into: &current)
            else {
                lost += 1
                previous = nil
                continue
            }
            batches.append(RawBatch(payload: r.payload, chained: chained))
            storage.read(r.payload.count)
            current.withUnsafeBytes { inner in
                var offset = 0
                while var record = Self.record(at: offset, in: inner, epoch: r.epoch) {
                    record.batch = batches.count - 1
                    if record.kind == .header && header == nil {
                        header = String(
                            decoding: UnsafeRawBufferPointer(rebasing: inner[record.payload]), as: UTF8.self)
                    }
                    out.append(record)
                    offset = record.payload.upperBound
                }
            }
            previous = (current, r.epoch)
        }
        return (out, batches, lost, refused, header)
    }

    /// Record headers (the magic) inside a damaged range.
    static func magicCount(in raw: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int {
        var n = 0
        var i = range.lowerBound
        while i + 4 <= range.upperBound {
            if UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt32.self)) == RawLogFormat.magic {
                n += 1
            }
            i += 1
        }
        return n
    }

    /// A difference from the previous snapshot of its stream cannot be decoded when damage lies
    /// between them: it and the differences after it are lost, up to the next standalone frame.
    static func markBrokenChains(_ records: [RawRecord]) -> [RawRecord] {
        var lastEpoch = [UInt16: Int]()
        var broken = Set<UInt16>()
        return records.map { r in
            var r = r
            switch r.kind {
            case .snapshot, .compressedSnapshot:
                // A refused snapshot breaks the chain as damage does.
                if r.refused { broken.insert(r.stream) } else { broken.remove(r.stream) }
                r.chainBroken = r.refused
            case .compressedDelta:
                if lastEpoch[r.stream].map({ $0 != r.epoch }) ?? true || r.refused { broken.insert(r.stream) }
                r.chainBroken = broken.contains(r.stream)
            default:
                return r
            }
            lastEpoch[r.stream] = r.epoch
            return r
        }
    }

    /// Snapshots that could not be decoded for damage before them (see `markBrokenChains`).
    public var snapshotsLostToDamage: Int { records.filter { $0.chainBroken && !$0.refused }.count }

    /// Records read after the first damaged range.
    public var recordsAfterDamage: Int { records.filter { $0.epoch > 0 }.count }

    /// One line for the user about damage inside the log and records refused, or nil.
    public var damageReport: String? {
        guard !damaged.isEmpty || !refused.isEmpty || batchesLost > 0 else { return nil }
        var clauses = [String]()
        if !damaged.isEmpty {
            let ranges =
                damaged.prefix(3).map { "\($0.lowerBound)–\($0.upperBound)" }.joined(separator: ", ")
                + (damaged.count > 3 ? ", …" : "")
            clauses.append(
                "damaged \(damagedRecords) record\(damagedRecords == 1 ? "" : "s") at bytes \(ranges); \(recordsAfterDamage) after it recovered"
            )
        }
        if !refused.isEmpty {
            let offsets = refused.prefix(3).map(String.init).joined(separator: ", ") + (refused.count > 3 ? ", …" : "")
            let s = refused.count == 1 ? "" : "s"
            clauses.append(
                "refused \(refused.count) compressed record\(s) at byte\(s) \(offsets) (decoded, a snapshot holds at most "
                    + "\(RawLogFormat.maxSnapshot >> 20) MiB and a batch \(RawLogFormat.maxBatch >> 20) MiB: \(refused.count == 1 ? "it claims more or does not say" : "they claim more or do not say")); "
                    + "\(records.count) records read")
        }
        var text = "\(path): " + clauses.joined(separator: "; ")
        let lost = snapshotsLostToDamage
        if lost > 0 { text += ", \(lost) compressed snapshots after it lost up to the next standalone frame" }
        if batchesLost > 0 {
            text +=
                clauses.isEmpty
                ? "\(batchesLost) batches of records do not decode (or were made against one that does not)"
                : ", \(batchesLost) batches of records after it lost up to the next standalone batch"
        }
        return text
    }

    /// The payload's bytes, viewed in place. A batched record's are in its decoded batch, valid
    /// until a record of another batch is read (parsers read each payload as they go). A
    /// compressed snapshot's are its zstd frame: snapshots are read with `snapshots().read`.
    public func payloadBytes(_ record: RawRecord) -> UnsafeRawBufferPointer {
        guard record.batch >= 0 else {
            // Read in order: the mapping's pages are let go as parsers go (a plain log of a day is GBs).
            storage.read(record.payload.count)
            return UnsafeRawBufferPointer(rebasing: storage.buffer[record.payload])
        }
        return UnsafeRawBufferPointer(
            rebasing: batchCache.content(of: record.batch, batches: batches, storage: storage)[record.payload])
    }

    /// The payload as text.
    public func text(_ record: RawRecord) -> String { String(decoding: payloadBytes(record), as: UTF8.self) }

    /// The snapshots of one stream, in order (plain or compressed); `read` hands each to a parser decoded.
    public func snapshots(stream: UInt16 = 0) -> RawSnapshots {
        RawSnapshots(
            log: self,
            records: records.filter {
                $0.stream == stream && [.snapshot, .compressedSnapshot, .compressedDelta].contains($0.kind)
            })
    }

    /// Ticks that left a snapshot in any stream (a file read, a ring drain, a map read): the
    /// module's samples. Postsampling's last drain (tick UInt64.max) is not one.
    public var sampleCount: Int {
        Set(
            records.filter { [.snapshot, .compressedSnapshot, .compressedDelta].contains($0.kind) && $0.tick != .max }
                .map(\.tick)
        ).count
    }

    public func sideRecords(stream: UInt16) -> [RawRecord] {
        records.filter { $0.kind == .side && $0.stream == stream }
    }

    /// Ticks recorded as missed.
    public var missedTicks: UInt64 {
        records.reduce(0) { sum, r in
            guard r.kind == .missed, r.payload.count == 8 else { return sum }
            return sum + UInt64(littleEndian: payloadBytes(r).loadUnaligned(as: UInt64.self))
        }
    }

    /// The test directory the log belongs to (DIR of DIR/samples/NAME.log).
    public var testDirectory: String {
        let samples = path[..<(path.lastIndex(of: "/") ?? path.startIndex)]
        return String(samples[..<(samples.lastIndex(of: "/") ?? samples.endIndex)])
    }

    /// Seconds since the program started, measured.
    public func seconds(_ record: RawRecord) -> Double {
        Double(Int64(bitPattern: record.time &- startTime)) / 1e9
    }
}

/// A stream's snapshot records, in order: what they are (tick, time, kind, stored size) to count
/// and time them. Their bytes are read with `read`, the one way a parser walks a stream.
public struct RawSnapshots: RandomAccessCollection, Sendable {
    private let log: RawLog
    private let records: [RawRecord]

    init(log: RawLog, records: [RawRecord]) {
        self.log = log
        self.records = records
    }

    public var startIndex: Int { records.startIndex }
    public var endIndex: Int { records.endIndex }
    public subscript(position: Int) -> RawRecord { records[position] }

    /// Calls `body` with each snapshot as the kernel's bytes, decompressing as it goes (each
    /// delta against the snapshot before it); the bytes are valid during the call. Stops, and
    /// reports, at a snapshot that does not decode; skips those lost to damage before them.
    public func read(_ body: (RawRecord, UnsafeRawBufferPointer) throws -> Void) throws {
        let zstd = Zstd()
        var previous = [UInt8]()
        var current = [UInt8]()
        for r in records where !r.chainBroken {
            switch r.kind {
            case .snapshot:
                try body(r, log.payloadBytes(r))
                continue
            case .compressedSnapshot:
                guard
                    zstd.decompress(
                        log.payloadBytes(r), prefix: nil, limit: RawLogFormat.maxSnapshot,
                        into: &current)
                else {
                    throw LockstatError("\(log.path): tick \(r.tick): snapshot does not decompress")
                }
            default:
                guard
                    zstd.decompress(
                        log.payloadBytes(r), prefix: previous, limit: RawLogFormat.maxSnapshot,
                        into: &current)
                else {
                    throw LockstatError(
                        "\(log.path): tick \(r.tick): difference from the previous snapshot "
                            + "does not decompress")
                }
            }
            try current.withUnsafeBytes { try body(r, $0) }
            swap(&previous, &current)
        }
    }
}
