import SystemPackage
import CLockstat
import Glibc
import Synchronization

/// The raw sample log: one append-only file per module, `samples/<module>.log`, of framed records.
///
///     offset  size  field (little-endian)
///      0      4     magic "LKSR" (0x52534B4C)
///      4      4     payload length in bytes
///      8      8     tick index (the n-th tick of the module's interval)
///     16      8     CLOCK_MONOTONIC nanoseconds when the sample was taken
///     24      2     stream: which of the module's sources (0 = its main file)
///     26      2     kind, see `RawRecordKind`
///     28      4     CRC-32C of bytes 0..<28 followed by the payload
///     32      n     payload: the kernel's bytes, verbatim
///
/// A record is written with one write(2). A torn tail (kill -9, power loss, disk full) fails
/// its length or checksum, and the reader drops it and everything after it.
public enum RawRecordKind: UInt16, Sendable {
    /// Text `key value` lines: module, interval_ns, start_ns (the program's start, CLOCK_MONOTONIC).
    case header = 0
    /// A file snapshot taken on a tick.
    case snapshot = 1
    /// Ticks that could not be taken on time: payload is a UInt64 count starting at `tick`.
    case missed = 2
    /// Data taken outside the ticks (presampling, postsampling), e.g. a device list.
    case side = 3
    /// A snapshot as one zstd frame.
    case compressedSnapshot = 4
    /// A snapshot as one zstd frame made with the previous snapshot of its stream as reference:
    /// only what changed costs space (large files that change little, such as /proc/lock_stat).
    case compressedDelta = 5
    /// Records of up to a second, each framed as in the log (header, CRC, payload), in one zstd
    /// frame (`RawLogWriter.startBatching`: stat, diskstats). Read back as the records it holds.
    case compressedBatch = 6
    /// The same, made with the last `RawLogFormat.batchReference` bytes of the previous batch's
    /// records as reference (one snapshot is mostly the one before it).
    case compressedBatchDelta = 7
}

public enum RawLogFormat {
    public static let magic: UInt32 = 0x5253_4B4C
    public static let headerSize = 32
    /// The header record's `format`: 2 since named streams moved out of the per-CPU numbers; a
    /// log without one is format 1.
    public static let version = 2
    /// How much of a batch's end the next batch is made against (batch.c's LS_BATCH_TAIL).
    public static let batchReference = 64 * 1024
    /// A standalone batch every this many (so damage costs at most this many batches).
    public static let batchKeyframeEvery: UInt32 = 60
    /// The most one compressed snapshot (kinds 4, 5) may decode to: the largest file lockstat
    /// keeps this way is /proc/kallsyms or /proc/lock_stat, about 20 MB on a big machine (a
    /// distro kernel with every module; lockdep's 8,192 classes), with room to spare.
    /// A reader refuses a frame that declares more, or no size at all (lockstat's declare it).
    public static let maxSnapshot = 64 << 20
    /// The most one batch (kinds 6, 7) may decode to: a second of stat and diskstats at 10 Hz
    /// is about 5 MB on a 4,096-CPU machine; the writer cuts larger batches between records
    /// (batch.c), and a record larger than this is written as it is.
    public static let maxBatch = 16 << 20
}

/// Stream numbers of a module's raw log: numbered streams (a file, or one per CPU and event)
/// count up from 0, streams a module names (kallsyms, a layout, drain marks) count down from
/// the top, so no CPU count can make the two meet (format 1 put names at 999 and up: a
/// 500-CPU machine's rings ran into them).
public enum RawLogStream {
    public static func named(_ n: UInt16) -> UInt16 { UInt16.max - n }
    /// Numbered streams stay below this: 65,472 (32,736 CPUs with two events each).
    public static let firstNamed = UInt16.max - 63
}

/// Appends records. The sampling path (`appendSnapshot`) reads straight into a preallocated buffer
/// behind the header and writes once: no allocation, no formatting, no file creation per sample.
public final class RawLogWriter {
    public let path: String
    private let fd: Int32
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    /// Appends that failed (disk full, I/O error), the first one's errno; the run reports them.
    /// After a failure the log stays as it was before that append, and nothing more is appended.
    public private(set) var writeErrors = 0
    public private(set) var firstWriteError: Int32 = 0
    /// Bytes of whole records written.
    private var committed: off_t = 0
    /// While batching: where commits go instead of the file.
    private var batch: OpaquePointer?

    /// Appends to `path`, created when missing (the benchmark's scratch logs).
    public convenience init(path: String, initialCapacity: Int = 1 << 16) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LockstatError("\(path): cannot create raw sample log: \(SystemPackage.Errno(rawValue: errno).description)") }
        self.init(fd: fd, path: path, initialCapacity: initialCapacity)
    }

    /// Appends to the open `fd` (a test directory's, see TestDirectory.createFile); `path` names it in messages.
    public init(fd: Int32, path: String, initialCapacity: Int = 1 << 16) {
        self.path = path
        self.fd = fd
        committed = max(0, lseek(fd, 0, SEEK_END))
        capacity = initialCapacity
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
    }

    deinit {
        finish()
        close(fd)
        buffer.deallocate()
    }

    /// From now on, records are staged in memory and written at most every `period` seconds
    /// as one zstd record by a thread of the log's own (batch.c): the sampling thread copies
    /// each record once and makes no write(2); kill -9 loses at most the last `period`.
    public func startBatching(period: Double = 1, level: Int32 = 1) {
        guard batch == nil, writeErrors == 0 else { return }
        batch = ls_batch_start(fd, period, level, RawLogFormat.batchKeyframeEvery, RawLogFormat.maxBatch,
                               RawRecordKind.compressedBatch.rawValue, RawRecordKind.compressedBatchDelta.rawValue)
    }

    /// Writes what is staged and stops batching (after the last sample; a later record is written as it comes).
    public func finish() {
        guard let b = batch else { return }
        batch = nil
        var error: Int32 = 0
        let failed = ls_batch_finish(b, &error)
        committed = max(0, lseek(fd, 0, SEEK_END))
        if failed > 0 {
            if writeErrors == 0 { firstWriteError = error }
            writeErrors += Int(failed)
        }
    }

    /// Reads the whole of `source` (pread from offset 0 until EOF) as one snapshot record.
    /// Returns false when the read failed; nothing is appended then.
    @discardableResult
    public func appendSnapshot(of source: Int32, stream: UInt16, tick: UInt64, time: UInt64) -> Bool {
        // The sampler's hot path: pread(2) itself (a thrown error would box), retried on EINTR.
        var length = 0
        while true {
            if RawLogFormat.headerSize + length == capacity { grow() }
            let n = pread(source, buffer + RawLogFormat.headerSize + length,
                          capacity - RawLogFormat.headerSize - length, off_t(length))
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            if n == 0 { break }
            length += n
        }
        commit(kind: .snapshot, stream: stream, tick: tick, time: time, length: length)
        return true
    }

    /// Appends a record with the given payload (not for the per-tick path of file snapshots).
    public func append(kind: RawRecordKind, stream: UInt16 = 0, tick: UInt64, time: UInt64, payload: UnsafeRawBufferPointer) {
        while RawLogFormat.headerSize + payload.count > capacity { grow() }
        if payload.count > 0 { (buffer + RawLogFormat.headerSize).copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
        commit(kind: kind, stream: stream, tick: tick, time: time, length: payload.count)
    }

    public func append(kind: RawRecordKind, stream: UInt16 = 0, tick: UInt64, time: UInt64, text: String) {
        var text = text
        text.withUTF8 { append(kind: kind, stream: stream, tick: tick, time: time, payload: UnsafeRawBufferPointer($0)) }
    }

    /// Records `count` ticks from `firstTick` on as missed.
    public func appendMissed(firstTick: UInt64, count: UInt64, time: UInt64) {
        buffer.storeBytes(of: count.littleEndian, toByteOffset: RawLogFormat.headerSize, as: UInt64.self)
        commit(kind: .missed, stream: 0, tick: firstTick, time: time, length: 8)
    }

    private func grow() {
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 8)
        bigger.copyMemory(from: buffer, byteCount: capacity)
        buffer.deallocate()
        buffer = bigger
        capacity *= 2
    }

    private func commit(kind: RawRecordKind, stream: UInt16, tick: UInt64, time: UInt64, length: Int) {
        buffer.storeBytes(of: RawLogFormat.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        buffer.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 4, as: UInt32.self)
        buffer.storeBytes(of: tick.littleEndian, toByteOffset: 8, as: UInt64.self)
        buffer.storeBytes(of: time.littleEndian, toByteOffset: 16, as: UInt64.self)
        buffer.storeBytes(of: stream.littleEndian, toByteOffset: 24, as: UInt16.self)
        buffer.storeBytes(of: kind.rawValue.littleEndian, toByteOffset: 26, as: UInt16.self)
        var crc = ls_crc32c(0, buffer, 28)
        crc = ls_crc32c(crc, buffer + RawLogFormat.headerSize, length)
        buffer.storeBytes(of: crc.littleEndian, toByteOffset: 28, as: UInt32.self)
        guard writeErrors == 0 else { writeErrors += 1; return }
        let total = RawLogFormat.headerSize + length
        if let batch {
            // The header goes to the file at once: the log is readable from the first tick on,
            // whatever happens to the batches after it (a full disk, kill -9).
            // (A failed write is counted by the batch, and reported by `finish`.)
            if kind == .header {
                _ = ls_batch_write_now(batch, buffer, total)
            } else if ls_batch_stage(batch, buffer, total) != 0 {
                firstWriteError = ENOMEM
                writeErrors += 1
            }
            return
        }
        var done = 0
        while done < total {
            let n = write(fd, buffer + done, total - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                // Disk full or an I/O error: cut the half-written record off and stop, so the
                // log ends with its last whole record.
                firstWriteError = n < 0 ? errno : ENOSPC
                writeErrors += 1
                _ = ftruncate(fd, committed)
                return
            }
            done += n
        }
        committed += off_t(total)
    }
}

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

    public init(kind: RawRecordKind, stream: UInt16, tick: UInt64, time: UInt64, payload: Range<Int>, epoch: Int,
                chainBroken: Bool = false, batch: Int = -1) {
        self.kind = kind
        self.stream = stream
        self.tick = tick
        self.time = time
        payloadStart = payload.lowerBound
        payloadLength = UInt32(payload.count)   // a record's length field is 32 bits
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

/// The bytes of a raw log read back: the file mapped read-only (no copy of a long run into
/// memory), or bytes already in memory.
public final class RawLogBytes: @unchecked Sendable {
    public let buffer: UnsafeRawBufferPointer
    private let mapped: Bool

    init(mapping fd: Int32, size: Int) throws {
        guard size > 0 else {
            mapped = false
            buffer = UnsafeRawBufferPointer(UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 8))
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw LockstatError(SystemPackage.Errno(rawValue: errno).description)
        }
        mapped = true
        buffer = UnsafeRawBufferPointer(start: p, count: size)
    }

    /// How far readers have gone since the mapping's pages were last let go.
    private let readSinceDrop = Atomic<Int>(0)
    static let dropEvery = 8 << 20

    /// Called as a log is read in order with the bytes just read: every 8 MB, lets the kernel
    /// take back the mapping's pages (they read in again if used), so the process never holds
    /// more of a long log than it is reading. Bytes in memory are never touched.
    func read(_ bytes: Int) {
        guard mapped, readSinceDrop.add(bytes, ordering: .relaxed).newValue >= Self.dropEvery else { return }
        readSinceDrop.store(0, ordering: .relaxed)
        madvise(UnsafeMutableRawPointer(mutating: buffer.baseAddress), buffer.count, MADV_DONTNEED)
    }

    init(_ bytes: [UInt8]) {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
        copy.copyBytes(from: bytes)
        mapped = false
        buffer = UnsafeRawBufferPointer(copy)
    }

    deinit {
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: buffer.baseAddress), buffer.count)
        } else {
            UnsafeMutableRawBufferPointer(mutating: buffer).deallocate()
        }
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
        guard fd >= 0 else { throw LockstatError("\(path): cannot read raw samples: \(FileReader.failure(errno).reason)") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw LockstatError("\(path): cannot read raw samples: \(SystemPackage.Errno(rawValue: errno).description)") }
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
               (Zstd.declaredSize(UnsafeRawBufferPointer(rebasing: raw[record.payload])) ?? .max) > RawLogFormat.maxSnapshot {
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
        guard let header = expanded.header ?? records.first(where: { $0.kind == .header }).map({ String(decoding: UnsafeRawBufferPointer(rebasing: raw[$0.payload]), as: UTF8.self) }) else {
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
            throw LockstatError("\(path): written by a newer lockstat (raw log format \(formatVersion); this one reads 1 to \(RawLogFormat.version))")
        }
        // Format 1 named its streams 999, 1000, ...: read them as today's names.
        if formatVersion == 1 {
            self.records = self.records.map { r in
                guard (999...1003).contains(r.stream) else { return r }
                return RawRecord(kind: r.kind, stream: RawLogStream.named(r.stream - 999), tick: r.tick, time: r.time,
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
              let kind = RawRecordKind(rawValue: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 26, as: UInt16.self)))
        else { return nil }
        let start = offset + RawLogFormat.headerSize
        return RawRecord(kind: kind,
                         stream: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 24, as: UInt16.self)),
                         tick: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                         time: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
                         payload: start..<(start + length), epoch: epoch)
    }

    /// The records of every batch in place of the batch, each batch decoded once here to list
    /// them (`payloadBytes` decodes again as it is read); the header text when a batch held it.
    static func expandBatches(_ records: [RawRecord], _ storage: RawLogBytes)
        -> (records: [RawRecord], batches: [RawBatch], lost: Int, refused: [Int], header: String?) {
        let raw = storage.buffer
        guard records.contains(where: { $0.kind == .compressedBatch || $0.kind == .compressedBatchDelta }) else { return (records, [], 0, [], nil) }
        var out = [RawRecord](), batches = [RawBatch](), lost = 0, refused = [Int](), header: String?
        let zstd = Zstd()
        var previous: (bytes: [UInt8], epoch: Int)?, current = [UInt8]()
        for r in records {
            guard r.kind == .compressedBatch || r.kind == .compressedBatchDelta else { out.append(r); continue }
            let chained = r.kind == .compressedBatchDelta
            let frame = UnsafeRawBufferPointer(rebasing: raw[r.payload])
            guard (Zstd.declaredSize(frame) ?? .max) <= RawLogFormat.maxBatch else {
                refused.append(r.payload.lowerBound - RawLogFormat.headerSize)
                previous = nil
                continue
            }
            // A chained batch decodes only against the batch just before it, undamaged between.
            let reference = chained ? previous.flatMap { $0.epoch == r.epoch ? Array($0.bytes.suffix(RawLogFormat.batchReference)) : nil } : nil
            guard !chained || reference != nil,
                  zstd.decompress(frame, prefix: reference, limit: RawLogFormat.maxBatch, into: &current) else {
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
                    if record.kind == .header && header == nil { header = String(decoding: UnsafeRawBufferPointer(rebasing: inner[record.payload]), as: UTF8.self) }
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
            if UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt32.self)) == RawLogFormat.magic { n += 1 }
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
            let ranges = damaged.prefix(3).map { "\($0.lowerBound)–\($0.upperBound)" }.joined(separator: ", ") + (damaged.count > 3 ? ", …" : "")
            clauses.append("damaged \(damagedRecords) record\(damagedRecords == 1 ? "" : "s") at bytes \(ranges); \(recordsAfterDamage) after it recovered")
        }
        if !refused.isEmpty {
            let offsets = refused.prefix(3).map(String.init).joined(separator: ", ") + (refused.count > 3 ? ", …" : "")
            let s = refused.count == 1 ? "" : "s"
            clauses.append("refused \(refused.count) compressed record\(s) at byte\(s) \(offsets) (decoded, a snapshot holds at most "
                + "\(RawLogFormat.maxSnapshot >> 20) MiB and a batch \(RawLogFormat.maxBatch >> 20) MiB: \(refused.count == 1 ? "it claims more or does not say" : "they claim more or do not say")); "
                + "\(records.count) records read")
        }
        var text = "\(path): " + clauses.joined(separator: "; ")
        let lost = snapshotsLostToDamage
        if lost > 0 { text += ", \(lost) compressed snapshots after it lost up to the next standalone frame" }
        if batchesLost > 0 {
            text += clauses.isEmpty ? "\(batchesLost) batches of records do not decode (or were made against one that does not)"
                : ", \(batchesLost) batches of records after it lost up to the next standalone batch"
        }
        return text
    }

    /// The payload's bytes, viewed in place. A batched record's are in its decoded batch, valid
    /// until a record of another batch is read (parsers read each payload as they go).
    public func payloadBytes(_ record: RawRecord) -> UnsafeRawBufferPointer {
        guard record.batch >= 0 else {
            // Read in order: the mapping's pages are let go as parsers go (a plain log of a day is GBs).
            storage.read(record.payload.count)
            return UnsafeRawBufferPointer(rebasing: storage.buffer[record.payload])
        }
        return UnsafeRawBufferPointer(rebasing: batchCache.content(of: record.batch, batches: batches, storage: storage)[record.payload])
    }

    /// The payload as text.
    public func text(_ record: RawRecord) -> String { String(decoding: payloadBytes(record), as: UTF8.self) }

    /// Snapshot records of one stream, in order (plain or compressed).
    public func snapshots(stream: UInt16 = 0) -> [RawRecord] {
        records.filter { $0.stream == stream && [.snapshot, .compressedSnapshot, .compressedDelta].contains($0.kind) }
    }

    /// Calls `body` with each snapshot of a stream as the kernel's bytes, decompressing as it
    /// goes (each delta against the snapshot before it). Stops, and reports, at a snapshot that
    /// does not decode.
    public func forEachSnapshot(stream: UInt16 = 0, _ body: (RawRecord, UnsafeRawBufferPointer) throws -> Void) throws {
        let zstd = Zstd()
        var previous = [UInt8](), current = [UInt8]()
        for r in snapshots(stream: stream) where !r.chainBroken {
            switch r.kind {
            case .snapshot:
                try body(r, payloadBytes(r))
                continue
            case .compressedSnapshot:
                guard zstd.decompress(payloadBytes(r), prefix: nil, limit: RawLogFormat.maxSnapshot, into: &current) else {
                    throw LockstatError("\(path): tick \(r.tick): snapshot does not decompress")
                }
            default:
                guard zstd.decompress(payloadBytes(r), prefix: previous, limit: RawLogFormat.maxSnapshot, into: &current) else {
                    throw LockstatError("\(path): tick \(r.tick): difference from the previous snapshot does not decompress")
                }
            }
            try current.withUnsafeBytes { try body(r, $0) }
            swap(&previous, &current)
        }
    }

    /// Ticks that left a snapshot in any stream (a file read, a ring drain, a map read): the
    /// module's samples. Postsampling's last drain (tick UInt64.max) is not one.
    public var sampleCount: Int {
        Set(records.filter { [.snapshot, .compressedSnapshot, .compressedDelta].contains($0.kind) && $0.tick != .max }.map(\.tick)).count
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

/// A batch record: where its frame lies in the log, and whether it was made against the batch before it.
public struct RawBatch: Sendable {
    public let payload: Range<Int>
    public let chained: Bool
}

/// The one batch decoded last (parsers read a log in order, so each batch is decoded once
/// more after the listing, however long the run).
final class RawBatchCache: @unchecked Sendable {
    private var index = -1
    private var bytes: UnsafeMutableRawBufferPointer?
    private var lock = pthread_mutex_t()
    private let zstd = Zstd()

    init() { pthread_mutex_init(&lock, nil) }

    deinit {
        bytes?.deallocate()
        pthread_mutex_destroy(&lock)
    }

    func content(of k: Int, batches: [RawBatch], storage: RawLogBytes) -> UnsafeRawBufferPointer {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        if index == k, let bytes { return UnsafeRawBufferPointer(bytes) }
        let raw = storage.buffer
        storage.read(batches[k].payload.count)
        // Back to the batch after the cached one, or to the last standalone batch.
        var first = k
        while batches[first].chained && first > 0 && first - 1 != index { first -= 1 }
        var previous: [UInt8]? = batches[first].chained && first - 1 == index ? bytes.map { Array($0) } : nil
        var current = [UInt8]()
        for j in first...k {
            let reference = batches[j].chained ? previous.map { Array($0.suffix(RawLogFormat.batchReference)) } : nil
            // Decoded once already when the log was read: it decodes again.
            _ = zstd.decompress(UnsafeRawBufferPointer(rebasing: raw[batches[j].payload]), prefix: reference,
                                limit: RawLogFormat.maxBatch, into: &current)
            previous = current
        }
        bytes?.deallocate()
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: current.count, alignment: 8)
        current.withUnsafeBytes { copy.copyMemory(from: $0) }
        bytes = copy
        index = k
        return UnsafeRawBufferPointer(copy)
    }
}
