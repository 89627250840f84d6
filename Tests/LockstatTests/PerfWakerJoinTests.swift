import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// Waker sites against perf on the same run: `perf lock record` gives each sleeping wait's
/// begin and end per task, `perf record -e sched:sched_waking -g -a` every wake with the waker's
/// call chain; the last wake of the waiter inside its wait (allowing for the probes' order on
/// sched_waking, below) names the waker, as lockstat does.
final class PerfWakerJoinTests: XCTestCase {
    /// One perf event as `perf script -F comm,tid,time,event,trace,ip,sym,symoff` prints it.
    struct Event {
        var time: UInt64, tid: Int, event: String, trace: String, frames: [String]
    }

    static func script(_ data: String) throws -> [Event] {
        let r = try shell(["perf", "script", "--ns", "-i", data, "-F", "comm,tid,time,event,trace,ip,sym,symoff"])
        XCTAssertEqual(r.status, 0, r.err)
        var events = [Event]()
        var current: Event?
        // "mkdir-storm 29886 22766.105146236: lock:contention_begin: 0xffff8881b2fe1c18 (flags=WRITE)"
        let head = try NSRegularExpression(pattern: #"^\s*.+?\s+(\d+)\s+(\d+)\.(\d{9}):\s+(\S+):\s*(.*)$"#)
        for line in r.out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.trimmingCharacters(in: .whitespaces).isEmpty {
                if let e = current { events.append(e) }
                current = nil
                continue
            }
            if current == nil,
                let m = head.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)),
                m.numberOfRanges == 6
            {
                func group(_ i: Int) -> String { String(line[Range(m.range(at: i), in: line)!]) }
                current = Event(
                    time: UInt64(group(2))! * 1_000_000_000 + UInt64(group(3))!, tid: Int(group(1))!,
                    event: group(4), trace: group(5), frames: [])
            } else if current != nil {
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                if parts.count >= 2 { current!.frames.append(String(parts[1])) }
            }
        }
        if let e = current { events.append(e) }
        return events
    }

    /// The releasing site in perf's waker chain (innermost first): lockstat's rule on names.
    static func site(_ frames: [String]) -> String {
        for f in frames {
            let name = String(f.split(separator: "+").first ?? "")
            if ContentionWakers.wakeMachinery.contains(name)
                || ContentionWakers.wakeMachineryPrefixes.contains(where: name.hasPrefix)
                || name.hasPrefix("bpf_") || name.hasPrefix("__bpf") || name.hasPrefix("perf_")
            {
                continue
            }
            return f
        }
        return "[no stack]"
    }

    func testWakerSitesMatchPerfsSchedWakingOnTheSameRun() throws {
        try requireContentionBPF()
        guard (try? shell(["perf", "--version"]))?.status == 0 else { throw XCTSkip("SKIPPED: no perf") }
        let dir = temporaryDirectory(), exe = try compileContentionStorm("mkdir-storm.c")
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: false)
        try "modules contention\ncontention.mode bpf\ncontention.scope program\ncontention.wakers yes\n"
            .write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        // Probes on one tracepoint run in the order they attached, each delaying the next. perf's
        // recorder starts inside the workload, after lockstat's programs: lockstat's sched_waking
        // runs first, as it does without perf, and perf's wake timestamps come after its walks
        // (the join allows for that below). perf writes the file's header once its events are open.
        try """
            perf record -q -e sched:sched_waking -g -a -o "$1/waking.data" >/dev/null 2>&1 &
            recorder=$!
            deadline=$(($(date +%s) + 20))
            while [ ! -s "$1/waking.data" ]; do
                if [ "$(date +%s)" -ge "$deadline" ]; then kill $recorder; exit 3; fi
                sleep 0.05
            done
            perf lock record -o "$1/lock.data" -- "$2" "$1/storm" 2 4 >/dev/null
            status=$?
            kill -INT $recorder
            wait $recorder
            exit $status

            """.write(toFile: dir + "/workload.sh", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "sh", dir + "/workload.sh", dir, exe])
        XCTAssertEqual(r.status, 0, r.err)

        // perf: sleeping waits per (tid, lock) from begin to end, the last wake of the tid inside.
        var begins = [Int: (time: UInt64, lock: String)]()
        var waits = [(tid: Int, begin: UInt64, end: UInt64, lock: String)]()
        for e in try Self.script(dir + "/lock.data") {
            let lock = String(e.trace.split(separator: " ").first ?? "")
            if e.event == "lock:contention_begin" {
                if e.trace.contains("SPIN") && !e.trace.contains("MUTEX") { continue }
                if begins[e.tid] == nil { begins[e.tid] = (e.time, lock) }
            } else if e.event == "lock:contention_end", let b = begins[e.tid], b.lock == lock {
                waits.append((e.tid, b.time, e.time, lock))
                begins[e.tid] = nil
            }
        }
        var wakes = [Int: [(time: UInt64, site: String)]]()
        for e in try Self.script(dir + "/waking.data") {
            guard let pid = e.trace.range(of: #"pid=(\d+)"#, options: .regularExpression) else { continue }
            let tid = Int(e.trace[pid].dropFirst(4))!
            wakes[tid, default: []].append((e.time, Self.site(e.frames)))
        }
        // A sched_waking event of a task fires only while it sleeps, and the waiter runs from its
        // contention_end until it next sleeps: a wake of it stamped just after the end passed that
        // check before the end, stamped late by the probes before perf's (lockstat's stack walks).
        // So a wait's wakes are those stamped from its begin to 20 µs past its end, at most until
        // the task's next begin.
        var nextBegin = [Int: UInt64](), until = [UInt64](repeating: 0, count: waits.count)
        for (i, w) in waits.enumerated().reversed() {
            until[i] = min(w.end + 20_000, nextBegin[w.tid] ?? .max)
            nextBegin[w.tid] = w.begin
        }
        // lock → site → ns, by each wait's last wake (`slack`: up to 20 µs past its end, as above).
        func perfWait(slack: Bool) -> [String: [String: Double]] {
            var byLock = [String: [String: Double]]()
            for (i, w) in waits.enumerated() {
                let last = (wakes[w.tid] ?? []).last { $0.time >= w.begin && $0.time <= (slack ? until[i] : w.end) }
                byLock[w.lock, default: [:]][last?.site ?? "no waker", default: 0] += Double(w.end - w.begin)
            }
            return byLock
        }
        let perfLock = try XCTUnwrap(
            perfWait(slack: true).max { $0.value.values.reduce(0, +) < $1.value.values.reduce(0, +) })
        let strict = perfWait(slack: false)[perfLock.key] ?? [:], strictTotal = strict.values.reduce(0, +)
        print("perf, wakes up to the end only: \(strict.mapValues { ($0 / strictTotal * 1000).rounded() / 10 }) %")

        // lockstat: the same lock's wait by waker site.
        let d = try Lockstat.samples(dir + "/run")["contention"]!
        print("lockstat: waits ended with a wake of theirs in flight:", d["cost"]?["wakes_in_flight"]?.number ?? -1)
        // Locks are named (the directory's inode rwsem as `&ext4_inode_cache`, say), not by address:
        // perf's busiest lock is lockstat's busiest sleeping one.
        let sleeping = (d["wakers"]?.listItems ?? []).filter { $0["class"]?.string != "spinning" }
        var byLock = [String: Double]()
        for w in sleeping { byLock[w["lock"]?.string ?? "", default: 0] += w["total_wait_ns"]?.number ?? 0 }
        let busiest = byLock.max { $0.value < $1.value }?.key
        let rows = sleeping.filter { $0["lock"]?.string == busiest }
        var ours = [String: Double]()
        for w in rows { ours[w["waker"]?.string ?? "", default: 0] += w["total_wait_ns"]?.number ?? 0 }
        let perfTotal = perfLock.value.values.reduce(0, +), ourTotal = ours.values.reduce(0, +)
        XCTAssertGreaterThan(ourTotal, 0, "lockstat has no waker rows for perf's lock \(perfLock.key)")
        let describe = "perf \(perfLock.key) \(perfLock.value) vs lockstat \(busiest ?? "-") \(ours)"
        print(describe)
        // Every site with at least 1 % of either side's wait has the same share within 2 points.
        var compared = 0.0
        for site in Set(perfLock.value.keys).union(ours.keys) where site.contains("+0x") {
            let p = (perfLock.value[site] ?? 0) / perfTotal, o = (ours[site] ?? 0) / max(1, ourTotal)
            guard max(p, o) >= 0.01 else { continue }
            XCTAssertEqual(o, p, accuracy: 0.02, "\(site): \(describe)")
            compared += p
        }
        // The storm's releases are nearly all of perf's wait on the lock: the join found its wakes.
        XCTAssertGreaterThan(compared, 0.95, describe)
    }
}
