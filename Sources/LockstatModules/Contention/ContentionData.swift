import CLockstat
import LockstatCore

/// The contention entry of samples.pickle, from the raw log alone (events or kernel aggregates,
/// layout, kallsyms).
struct ContentionData {
    let mode: ContentionModule.Mode
    let analysis: ContentionAnalysis
    let lost: UInt64
    let undecodable: Int
    let times: [Double]
    let startTime: UInt64
    let comms: [UInt32: String]
    let top: Int
    /// bpf mode's counters, owners and cost; nil in ring mode.
    let aggregates: BPFAggregates?
    /// CPUs online when the run started (the BPF programs' time is a share of them all).
    let cpus: Int
    /// contention.wakers: waiter → waker rows; nil when the run did not record them.
    let wakers: ContentionWakers?
    let holds: ContentionHolds?
    /// bpf mode of a lockstat that keys waits by cgroup: the paths of the cgroup ids; else nil.
    let cgroupPaths: [UInt64: String]?

    /// `filter`: only the contentions it keeps count (contention.types, .locks, .stacks).
    /// `cgroups`: only the waits of those cgroups count (contention.cgroup; bpf mode).
    init(
        log: RawLog, top: Int, filter: ContentionFilter = ContentionFilter(), cgroups: CgroupFilter = CgroupFilter()
    ) throws {
        self.top = top
        let layoutRecords = log.sideRecords(stream: ContentionModule.layoutStream)
        let fields = KeyValueLines.fields(layoutRecords.map { log.text($0) + "\n" }.joined())
        let symbols = KernelSymbols(try KallsymsRecord.read(log, stream: ContentionModule.kallsymsStream))
        startTime = log.startTime
        // Interval ends: when each drain finished (every event it read happened before).
        times = log.sideRecords(stream: PerfRings.drainedStream).map { log.seconds($0) }
        cpus = max(1, Int(fields["cpus"] ?? "") ?? 1)
        if fields["mode"] == "bpf" {
            mode = .bpf
            let empty = ContentionAnalysis(groups: [], symbols: symbols)
            let aggregates = BPFAggregates(
                log: log, analysis: empty, wakers: fields["wakers"] == "yes", wakerTgids: fields["waker_key"] == "tgid")
            var analysis = ContentionAnalysis(groups: aggregates.groups, symbols: symbols)
            analysis.lockNames = aggregates.lockNames
            analysis.keep(filter)
            let paths = aggregates.cgroupPaths
            if aggregates.recordedCgroups, !cgroups.isEmpty {
                analysis.contentions = analysis.contentions.filter { cgroups.keeps(id: $0.cgroup, path: paths[$0.cgroup]) }
            }
            cgroupPaths = aggregates.recordedCgroups ? paths : nil
            self.analysis = analysis
            wakers = aggregates.wakers == nil ? nil : ContentionWakers(aggregates: aggregates, analysis: analysis)
            holds = aggregates.wakers == nil ? nil : ContentionHolds(aggregates: aggregates, analysis: analysis)
            lost = aggregates.lost
            undecodable = aggregates.damaged
            comms = aggregates.comms
            self.aggregates = aggregates
            return
        }
        mode = .ring
        aggregates = nil
        cgroupPaths = nil
        wakers = nil
        holds = nil
        guard let begin = fields["begin_id"].flatMap(UInt16.init), let end = fields["end_id"].flatMap(UInt16.init)
        else {
            throw LockstatError("\(log.path): no tracepoint layout record")
        }
        let layout = TracepointLayout(
            beginID: begin, endID: end,
            lockAddressOffset: fields["lock_addr_offset"].flatMap(TracepointLayout.offset)
                ?? TracepointFields.lockAddress,
            valueOffset: fields["flags_offset"].flatMap(TracepointLayout.offset) ?? TracepointFields.flags)
        var events = [ContentionEvent]()
        var lost: UInt64 = 0
        var bad = 0
        for r in log.records where r.kind == .snapshot && r.stream < RawLogStream.firstNamed {
            // Even streams are contention_begin rings (opened with a callchain), odd ones contention_end.
            PerfRecordReader.forEach(log.payloadBytes(r), layout: layout, hasCallchain: r.stream % 2 == 0) { record in
                switch record {
                case .sample(let e)?: events.append(e)
                case .lost(let n)?: lost += n
                case nil: bad += 1
                }
            }
        }
        events.sort { $0.time < $1.time }
        var analysis = ContentionAnalysis(events: events, layout: layout, symbols: symbols)
        analysis.keep(filter)
        self.analysis = analysis
        self.lost = lost
        undecodable = bad
        var comms = [UInt32: String]()
        for r in log.sideRecords(stream: ContentionModule.commStream) {
            for (key, name) in KeyValueLines.pairs(log.text(r)) {
                if let tid = UInt32(key) { comms[tid] = String(name) }
            }
        }
        self.comms = comms
    }

    /// d['contention']['cost']: what the kernel saw, what was kept and lost, what it cost.
    var cost: ContentionModel.Cost {
        var counters: [(name: String, value: Int64)] = [
            ("contentions", Int64(analysis.contentions.reduce(0) { $0 + $1.count })), ("lost", Int64(lost)),
        ]
        if let a = aggregates {
            func counter(_ c: ls_bpf_counter) -> Int64 { Int64(a.counters[Int(c.rawValue)]) }
            counters += [
                ("begins_seen", Int64(a.begins)), ("recorded", Int64(a.recorded)), ("nested", counter(LS_BPF_NESTED)),
                ("stack_failed", counter(LS_BPF_STACK_FAILED)), ("map_full", counter(LS_BPF_MAP_FULL)),
                ("start_failed", counter(LS_BPF_TSTAMP_FAILED)), ("filtered", counter(LS_BPF_FILTERED)),
                ("owners_full", counter(LS_BPF_OWNERS_FULL)), ("recursion_missed", counter(LS_BPF_RECURSION_MISSED)),
                ("path_hits", counter(LS_BPF_PATH_HITS)), ("path_conflicts", counter(LS_BPF_PATH_CONFLICTS)),
                ("bpf_ns", Int64(a.programNanoseconds)),
                ("lockstat_cpu_ns", Int64(a.lockstatNanoseconds)), ("wall_ns", Int64(a.wallNanoseconds)),
                ("cpus", Int64(cpus)),
            ]
            if wakers != nil {
                counters += [
                    ("waiter_wakes", counter(LS_BPF_WAITER_WAKES)), ("self_wakes", counter(LS_BPF_SELF_WAKES)),
                    ("wake_context_unknown", counter(LS_BPF_PC_UNKNOWN)), ("wakers_full", counter(LS_BPF_WAKERS_FULL)),
                    ("waker_stacks_reused", counter(LS_BPF_WAKER_STACKS_REUSED)),
                    ("wakes_in_flight", counter(LS_BPF_WAKES_IN_FLIGHT)),
                ]
            }
        }
        return ContentionModel.Cost(mode: mode.rawValue, counters: counters)
    }

    /// Per interval of the module's ticks: contentions/s and wait µs/s of the contentions that
    /// ended in it, measured Δt. The first interval runs from the program's start to the first
    /// drain (events are recorded from then on, unlike a snapshot, which needs one before it), so
    /// the rates integrate back to every contention however late the first drain came.
    func rates(_ filter: (ContentionAnalysis.Contention) -> Bool) -> (count: [Double?], wait: [Double?]) {
        var counts = [Double](repeating: 0, count: times.count)
        var waits = [Double](repeating: 0, count: times.count)
        for c in analysis.contentions where filter(c) {
            let t = Double(Int64(bitPattern: c.end &- startTime)) / 1e9
            var lo = 0
            var hi = times.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if times[mid] < t { lo = mid + 1 } else { hi = mid }
            }
            guard lo < times.count else { continue }
            counts[lo] += Double(c.count)
            waits[lo] += Double(c.total) / 1e3
        }
        let dt = times.indices.map { $0 > 0 ? times[$0] - times[$0 - 1] : times[0] }
        return (
            times.indices.map { dt[$0] > 0 ? counts[$0] / dt[$0] : nil },
            times.indices.map { dt[$0] > 0 ? waits[$0] / dt[$0] : nil }
        )
    }

    func rows(_ rows: [ContentionAnalysis.Row]) -> [ContentionModel.Row] {
        rows.map {
            ContentionModel.Row(
                key: $0.key, type: $0.type, contended: $0.contended, total: $0.total, max: $0.max,
                min: $0.min == .max ? 0 : $0.min, avg: $0.avg)
        }
    }

    func histogram(_ groups: [ContentionAnalysis.Contention]) -> [(lowerNanoseconds: UInt64, count: Int)] {
        ContentionAnalysis.histogram(groups).map { ($0.0, $0.1) }
    }

    /// Each caller's longest-waited lock, named as the owners table names it (by address).
    var callerLocks: [ContentionModel.CallerLock] {
        var waited = [String: [UInt64: UInt64]]()
        for c in analysis.contentions { waited[c.caller, default: [:]][c.lock, default: 0] += c.total }
        return waited.compactMap { caller, locks in
            locks.max { ($0.value, $1.key) < ($1.value, $0.key) }.map {
                ContentionModel.CallerLock(caller: caller, lock: analysis.lockName($0.key), total: $0.value)
            }
        }.sorted { ($0.total, $1.caller) > ($1.total, $0.caller) }
    }

    var model: ContentionModel {
        let callers = analysis.byCaller
        func doubles(_ r: (count: [Double?], wait: [Double?])) -> ContentionModel.Rates {
            .init(contentions: r.count.map { $0 ?? .nan }, waitMicroseconds: r.wait.map { $0 ?? .nan })
        }
        let top = callers.prefix(top)
        let owners = (aggregates?.owners ?? []).map { o in
            ContentionModel.Owner(
                owner: comms[o.tid].map { "\(o.tid) \($0)" } ?? String(o.tid), lock: analysis.lockName(o.lock),
                contended: Int(o.count), total: o.total)
        }
        return ContentionModel(
            time: times, all: doubles(rates { _ in true }),
            topCallers: top.map { row in (row.key, doubles(rates { $0.caller == row.key })) },
            callers: rows(callers), locks: rows(analysis.byLock), tasks: rows(analysis.byTask(comms)),
            cgroups: cgroupPaths.map { paths in rows(analysis.rows { CgroupHierarchy.name($0.cgroup, paths: paths) }) },
            owners: owners,
            histograms: [("all", histogram(analysis.contentions))]
                + top.map { row in (row.key, histogram(analysis.contentions.filter { $0.caller == row.key })) },
            folded: analysis.folded.map { ($0.0, $0.1) }, lost: Int(lost), cost: cost,
            unpaired: analysis.unpaired, unfinished: analysis.unfinished, wakers: wakers?.rows,
            holds: holds?.holds, handovers: holds?.handovers, ownerStacks: holds?.ownerStacks,
            callerLocks: owners.isEmpty ? nil : callerLocks)
    }
}
