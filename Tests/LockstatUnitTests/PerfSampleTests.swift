import XCTest
@testable import LockstatModules

/// The one perf sample decoder (PerfSample) on records built here by the layout of
/// include/uapi/linux/perf_event.h, for each sample_type lockstat opens its events with.
final class PerfSampleTests: XCTestCase {
    /// Little-endian fields appended in order, as the kernel writes a record after its header.
    struct Record {
        var bytes = [UInt8]()
        mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        /// perf_event_header + body, the way a ring holds it.
        func framed(type: UInt32, misc: UInt16 = 0) -> [UInt8] {
            var h = Record()
            h.u32(type)
            h.u16(misc)
            h.u16(UInt16(8 + bytes.count))
            return h.bytes + bytes
        }
    }

    /// contention_begin's raw data: common_type u16 (+ 6 bytes of common fields), lock_addr at 8, flags at 16.
    func tracepointRaw(type: UInt16, lock: UInt64, flags: UInt32) -> [UInt8] {
        var raw = Record()
        raw.u16(type)
        raw.bytes += [UInt8](repeating: 0, count: 6)
        raw.u64(lock)
        raw.u32(flags)
        raw.u32(0)
        return raw.bytes
    }

    func tracepointSample(callchain: [UInt64]?) -> [UInt8] {
        var r = Record()
        r.u32(100); r.u32(101)          // TID: pid, tid
        r.u64(5_000)                    // TIME
        r.u32(1); r.u32(0)              // CPU, res
        if let callchain {              // CALLCHAIN
            r.u64(UInt64(callchain.count))
            callchain.forEach { r.u64($0) }
        }
        let raw = tracepointRaw(type: 7, lock: 0xdead_beef, flags: 0x20)
        r.u32(UInt32(raw.count))        // RAW
        r.bytes += raw
        return r.bytes
    }

    func testTracepointWithCallchain() throws {
        let chain: [UInt64] = [PerfABI.contextKernel, 0xffff_1, 0xffff_2]
        let bytes = tracepointSample(callchain: chain)
        try bytes.withUnsafeBytes { b in
            let s = try XCTUnwrap(PerfSample(b, format: .tracepoint(callchain: true)))
            XCTAssertEqual([s.pid, s.tid, s.cpu], [100, 101, 1])
            XCTAssertEqual(s.time, 5_000)
            XCTAssertEqual(Array(s.callchain), chain)
            XCTAssertEqual(s.raw.count, 24)
            XCTAssertEqual(s.ip, 0, "no IP bit, no IP")
            let layout = TracepointLayout(beginID: 7, endID: 8)
            let e = try XCTUnwrap(PerfRecordReader.sample(b, layout: layout, hasCallchain: true))
            XCTAssertEqual(e.type, 7)
            XCTAssertEqual(e.lockAddress, 0xdead_beef)
            XCTAssertEqual(e.value, 0x20)
            XCTAssertEqual(e.callchain, [0xffff_1, 0xffff_2], "the context marker is not a frame")
        }
    }

    func testTracepointWithoutCallchain() throws {
        let bytes = tracepointSample(callchain: nil)
        try bytes.withUnsafeBytes { b in
            let s = try XCTUnwrap(PerfSample(b, format: .tracepoint(callchain: false)))
            XCTAssertTrue(s.callchain.isEmpty)
            XCTAssertEqual(s.raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self), 0xdead_beef)
            // Read as if it had a call chain, the raw size would be taken for the count: it does not fit.
            XCTAssertNil(PerfSample(b, format: .tracepoint(callchain: true)))
        }
    }

    func testSamplerRecord() throws {
        var r = Record()
        r.u64(0x4000)                   // IP
        r.u32(10); r.u32(11)            // TID
        r.u64(77)                       // TIME
        r.u32(3); r.u32(0)              // CPU
        r.u64(1_000_000)                // PERIOD
        let chain = [PerfABI.contextKernel, 0xffff_8000, PerfABI.contextUser, 0x4000, 0x4100]
        r.u64(UInt64(chain.count))
        chain.forEach { r.u64($0) }
        try r.bytes.withUnsafeBytes { b in
            let s = try XCTUnwrap(PerfSample(b, format: .sampler))
            XCTAssertEqual(s.ip, 0x4000)
            XCTAssertEqual([s.pid, s.tid, s.cpu], [10, 11, 3])
            XCTAssertEqual(s.time, 77)
            XCTAssertEqual(s.period, 1_000_000)
            XCTAssertEqual(Array(s.callchain), chain)
            let p = try XCTUnwrap(ProfileRecordReader.decodeSample(b))
            XCTAssertEqual(p.frames.map(\.address), [0xffff_8000, 0x4000, 0x4100])
            XCTAssertEqual(p.frames.map(\.kernel), [true, false, false])
        }
        // No frame in the chain: the sample's IP stands for it.
        var empty = Record()
        empty.bytes = Array(r.bytes[0..<40])
        empty.u64(0)
        try empty.bytes.withUnsafeBytes { b in
            XCTAssertEqual(try XCTUnwrap(ProfileRecordReader.decodeSample(b)).frames.map(\.address), [0x4000])
        }
    }

    /// The bits lockstat does not set today still land each field where perf_event.h puts it.
    func testEveryDecodedBitInOrder() throws {
        var r = Record()
        for v: UInt64 in [1, 2] { r.u64(v) }        // IDENTIFIER, IP
        r.u32(3); r.u32(4)                          // TID
        for v: UInt64 in [5, 6, 7, 8] { r.u64(v) }  // TIME, ADDR, ID, STREAM_ID
        r.u32(9); r.u32(0)                          // CPU
        r.u64(10)                                   // PERIOD
        r.u64(1); r.u64(11)                         // CALLCHAIN
        r.u32(2); r.u16(12)                         // RAW
        r.u64(99)                                   // a field after RAW, left unread
        let all: PerfSample.Format = [.identifier, .ip, .tid, .time, .addr, .id, .streamID, .cpu, .period,
                                      .callchain, .raw]
        try r.bytes.withUnsafeBytes { b in
            let s = try XCTUnwrap(PerfSample(b, format: all))
            XCTAssertEqual([s.identifier, s.ip, UInt64(s.pid), UInt64(s.tid), s.time, s.addr, s.id, s.streamID,
                            UInt64(s.cpu), s.period] + Array(s.callchain), Array(1...11))
            XCTAssertEqual(Array(s.raw), [12, 0])
        }
    }

    /// A record shorter than its fields claim, at every length, is refused and does not trap.
    func testTruncatedRecordsAreRefused() {
        let bytes = tracepointSample(callchain: [1, 2, 3])
        for n in 0..<bytes.count {
            let cut = bytes[0..<n].withUnsafeBytes { PerfSample($0, format: .tracepoint(callchain: true)) }
            XCTAssertNil(cut, "\(n) bytes")
        }
        XCTAssertNotNil(bytes.withUnsafeBytes { PerfSample($0, format: .tracepoint(callchain: true)) })
        // A count no record can hold (a damaged log) is refused before any arithmetic on it.
        var huge = Array(bytes)
        huge.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(1) << 63, toByteOffset: 24, as: UInt64.self) }
        XCTAssertNil(huge.withUnsafeBytes { PerfSample($0, format: .tracepoint(callchain: true)) })
        // A raw size past the record's end.
        var raw = Array(bytes)
        raw.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(1000), toByteOffset: 24 + 8 + 24, as: UInt32.self) }
        XCTAssertNil(raw.withUnsafeBytes { PerfSample($0, format: .tracepoint(callchain: true)) })
    }

    /// The sample_id_all trailer of a COMM record: TID, TIME, CPU after the name.
    func testSideRecordTrailer() throws {
        var r = Record()
        r.u32(20); r.u32(21)
        r.bytes += Array("worker\0\0".utf8)
        r.u32(20); r.u32(21)                    // TID
        r.u64(4242)                             // TIME
        r.u32(1); r.u32(0)                      // CPU
        XCTAssertEqual(PerfSample.Format.sampler.sampleIDSize, 24)
        try r.bytes.withUnsafeBytes { b in
            let t = try XCTUnwrap(PerfSample.trailer(b, format: .sampler))
            XCTAssertEqual(t.body, 16)
            XCTAssertEqual(t.sample.time, 4242)
            XCTAssertEqual(t.sample.cpu, 1)
        }
        var records = [ProfileRecord?]()
        r.framed(type: PerfABI.recordComm, misc: PerfABI.miscCommExec).withUnsafeBytes { b in
            ProfileRecordReader.forEach(b) { records.append($0) }
        }
        guard case .comm(20, 21, "worker", true, 4242)? = records.first else { return XCTFail("\(records)") }
        let short = Array(r.bytes[0..<20]).withUnsafeBytes { PerfSample.trailer($0, format: .sampler) }
        XCTAssertNil(short, "shorter than its trailer")
    }
}
