import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// The unit tier: no root, no network, nothing outside the test bundle; it runs as any user
/// from a copy of the built bundle (`.ci/run` runs it as nobody).

/// The /proc captures in Fixtures/ (see its README), copied beside the test bundle as its resources.
enum Fixtures {
    static var directory: URL { Bundle.module.bundleURL.appendingPathComponent("Fixtures") }

    static func bytes(_ relative: String) throws -> [UInt8] {
        let path = directory.appendingPathComponent(relative).path
        guard case .success(let b) = FileReader.readAll(path) else { throw LockstatError("fixture missing: \(path)") }
        return b
    }

    static func files(in sub: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent(sub).path)
            .filter { $0.hasSuffix(".txt") }.sorted().map { sub + "/" + $0 }
    }
}

/// This test process's directory under $TMPDIR (or /tmp), mode 0700, removed when it exits.
private let temporaryRoot: String = {
    var template = Array((NSTemporaryDirectory() + "/lockstat-unit-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else { fatalError("mkdtemp in \(NSTemporaryDirectory()): errno \(errno)") }
    atexit { removeTemporaryRoot() }
    return String(cString: made)
}()

private func removeTemporaryRoot() { try? FileManager.default.removeItem(atPath: temporaryRoot) }

/// A fresh directory in this test process's own.
func temporaryDirectory(_ name: String = #function) -> String {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    var template = Array((temporaryRoot + "/\(safe)-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else { fatalError("mkdtemp in \(temporaryRoot): errno \(errno)") }
    return String(cString: made)
}

/// A RawLog built from snapshots, as the sampler would have written them.
func rawLog(snapshots: [[UInt8]], times: [Double], stream: UInt16 = 0, side: [(UInt16, String)] = []) throws -> RawLog {
    let path = temporaryDirectory("rawlog") + "/m.log"
    let writer = try RawLogWriter(path: path)
    let start: UInt64 = 1_000_000_000
    writer.append(kind: .header, tick: 0, time: start, text: "module m\ninterval_ns 100000000\nstart_ns \(start)\n")
    for (stream, text) in side { writer.append(kind: .side, stream: stream, tick: 0, time: 0, text: text) }
    for (i, s) in snapshots.enumerated() {
        s.withUnsafeBytes { writer.append(kind: .snapshot, stream: stream, tick: UInt64(i), time: start + UInt64(times[i] * 1e9), payload: $0) }
    }
    return try RawLog.read(path: path)
}

/// Runs a command found on PATH (python3 and node here), returns (exit status, stdout, stderr).
@discardableResult
func shell(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    let r = try ScriptProcess.run("/usr/bin/env", arguments)
    return (r.status, String(decoding: r.stdout, as: UTF8.self), r.stderr)
}

func assertClose(_ a: Double?, _ b: Double, accuracy: Double = 1e-9, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard let a else { XCTFail("nil, expected \(b) \(message)", file: file, line: line); return }
    XCTAssertEqual(a, b, accuracy: accuracy, message, file: file, line: line)
}

/// A futex module's raw log begun as its recorder begins one for this process (as `pid`): the
/// header, this process's maps and its code files' build IDs (`replacing`: a file recorded with
/// another build ID, as if replaced since the run). The writer, to append the rest, and its path.
func futexLogOfThisProcess(pid: UInt32, replacing: String? = nil, name: String = #function) throws -> (
    writer: RawLogWriter, path: String
) {
    let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
    var ids = ""
    for line in maps.split(separator: "\n") {
        let f = line.split(separator: " ", omittingEmptySubsequences: true)
        guard f.count >= 6, f[1].contains("x"), f[5].hasPrefix("/") else { continue }
        let path = String(line[f[5].startIndex...])
        let id = path == replacing ? String(repeating: "ab", count: 20) : UserMapping.buildID(ofFile: path)
        if !id.isEmpty { ids += id + " " + path + "\n" }
    }
    let path = temporaryDirectory(name) + "/futex.log"
    let writer = try RawLogWriter(path: path)
    writer.append(kind: .header, tick: 0, time: 1, text: "module futex\ninterval_ns 500000000\nstart_ns 1\n")
    writer.append(kind: .side, stream: FutexRecorder.mapsStream, tick: 0, time: 0, text: "= \(pid) self\n" + maps)
    writer.append(kind: .side, stream: FutexRecorder.buildIDsStream, tick: 0, time: 0, text: ids)
    return (writer, path)
}
