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
/// the top, so no CPU count can make the two meet (format 1's names, 999 and up, are read as today's).
public enum RawLogStream {
    public static func named(_ n: UInt16) -> UInt16 { UInt16.max - n }
    /// Numbered streams stay below this: 65,472 (32,736 CPUs with two events each).
    public static let firstNamed = UInt16.max - 63
}
