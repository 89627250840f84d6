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

    init(log: RawLog, top: Int) throws {
        self.top = top
        var fields = [String: String]()
        for r in log.sideRecords(stream: ContentionModule.layoutStream) {
            for line in log.text(r).split(separator: "\n") {
                let kv = line.split(separator: " ", maxSplits: 1)
                if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
            }
        }
        let symbols = KernelSymbols(try KallsymsRecord.read(log, stream: ContentionModule.kallsymsStream))
        startTime = log.startTime
        // Interval ends: when each drain finished (every event it read happened before).
        times = log.sideRecords(stream: PerfRings.drainedStream).map { log.seconds($0) }
        cpus = max(1, Int(fields["cpus"] ?? "") ?? 1)
        if fields["mode"] == "bpf" {
            mode = .bpf
            let empty = ContentionAnalysis(groups: [], symbols: symbols)
            let aggregates = BPFAggregates(log: log, analysis: empty)
            analysis = ContentionAnalysis(groups: aggregates.groups, symbols: symbols)
            lost = aggregates.lost
            undecodable = aggregates.damaged
            comms = aggregates.comms
            self.aggregates = aggregates
            return
        }
        mode = .ring
        aggregates = nil
        guard let begin = fields["begin_id"].flatMap(UInt16.init), let end = fields["end_id"].flatMap(UInt16.init) else {
            throw LockstatError("\(log.path): no tracepoint layout record")
        }
        let layout = TracepointLayout(beginID: begin, endID: end, lockAddressOffset: fields["lock_addr_offset"].flatMap(TracepointLayout.offset) ?? 8,
                                      valueOffset: fields["flags_offset"].flatMap(TracepointLayout.offset) ?? 16)
        var events = [ContentionEvent](), lost: UInt64 = 0, bad = 0
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
        analysis = ContentionAnalysis(events: events, layout: layout, symbols: symbols)
        self.lost = lost
        undecodable = bad
        var comms = [UInt32: String]()
        for r in log.sideRecords(stream: ContentionModule.commStream) {
            for line in log.text(r).split(separator: "\n") {
                let kv = line.split(separator: " ", maxSplits: 1)
                if kv.count == 2, let tid = UInt32(kv[0]) { comms[tid] = String(kv[1]) }
            }
        }
        self.comms = comms
    }

    /// What the module saw and cost, for the summary and the report: "contention (bpf): 2.31 M
    /// contentions, 0 lost, lockstat 0.9 % of one CPU, BPF 3.1 % of the CPUs".
    var costLine: String {
        let seen = analysis.contentions.reduce(0) { $0 + $1.count }
        var line = "contention (\(mode.rawValue)): \(Self.count(Double(seen))) contentions, \(lost) lost"
        if let a = aggregates, a.wallNanoseconds > 0 {
            let wall = Double(a.wallNanoseconds)
            line += String(format: ", lockstat %.1f %% of one CPU", Double(a.lockstatNanoseconds) / wall * 100)
            if a.programNanoseconds > 0 {
                line += String(format: ", BPF %.1f %% of the CPUs", Double(a.programNanoseconds) / wall / Double(cpus) * 100)
            }
        }
        return line
    }


    static func count(_ n: Double) -> String {
        n >= 1e6 ? String(format: "%.2f M", n / 1e6) : n >= 1e4 ? String(format: "%.1f k", n / 1e3) : String(Int(n))
    }

    /// d['contention']['cost']: what the kernel saw, what was kept and lost, what it cost.
    var costValue: PyValue {
        var items: [(String, PyValue)] = [("mode", .string(mode.rawValue)),
                                          ("contentions", .int(Int64(analysis.contentions.reduce(0) { $0 + $1.count }))),
                                          ("lost", .int(Int64(lost)))]
        if let a = aggregates {
            items += [("begins_seen", .int(Int64(a.begins))), ("recorded", .int(Int64(a.recorded))),
                      ("nested", .int(Int64(a.counters[Int(LS_BPF_NESTED.rawValue)]))),
                      ("stack_failed", .int(Int64(a.counters[Int(LS_BPF_STACK_FAILED.rawValue)]))),
                      ("map_full", .int(Int64(a.counters[Int(LS_BPF_MAP_FULL.rawValue)]))),
                      ("start_failed", .int(Int64(a.counters[Int(LS_BPF_TSTAMP_FAILED.rawValue)]))),
                      ("filtered", .int(Int64(a.counters[Int(LS_BPF_FILTERED.rawValue)]))),
                      ("owners_full", .int(Int64(a.counters[Int(LS_BPF_OWNERS_FULL.rawValue)]))),
                      ("bpf_ns", .int(Int64(a.programNanoseconds))), ("lockstat_cpu_ns", .int(Int64(a.lockstatNanoseconds))),
                      ("wall_ns", .int(Int64(a.wallNanoseconds)))]
        }
        return .stringDict(items)
    }

    /// d['contention']['owners']: who held the mutexes and rwsems waited for (bpf mode).
    var ownersValue: PyValue {
        .list((aggregates?.owners ?? []).map { o in
            .stringDict([("owner", .string(comms[o.tid].map { "\(o.tid) \($0)" } ?? String(o.tid))),
                         ("lock", .string(analysis.lockName(o.lock))), ("contended", .int(Int64(o.count))),
                         ("total_wait_ns", .int(Int64(o.total)))])
        })
    }

    /// Per interval of the module's ticks: contentions/s and wait µs/s of the contentions that
    /// ended in it, measured Δt. The first interval runs from the program's start to the first
    /// drain (events are recorded from then on, unlike a snapshot, which needs one before it), so
    /// the rates integrate back to every contention however late the first drain came.
    func rates(_ filter: (ContentionAnalysis.Contention) -> Bool) -> (count: [Double?], wait: [Double?]) {
        var counts = [Double](repeating: 0, count: times.count), waits = [Double](repeating: 0, count: times.count)
        for c in analysis.contentions where filter(c) {
            let t = Double(Int64(bitPattern: c.end &- startTime)) / 1e9
            var lo = 0, hi = times.count
            while lo < hi { let mid = (lo + hi) / 2; if times[mid] < t { lo = mid + 1 } else { hi = mid } }
            guard lo < times.count else { continue }
            counts[lo] += Double(c.count)
            waits[lo] += Double(c.total) / 1e3
        }
        let dt = times.indices.map { $0 > 0 ? times[$0] - times[$0 - 1] : times[0] }
        return (times.indices.map { dt[$0] > 0 ? counts[$0] / dt[$0] : nil },
                times.indices.map { dt[$0] > 0 ? waits[$0] / dt[$0] : nil })
    }

    func rowsValue(_ rows: [ContentionAnalysis.Row], key: String) -> PyValue {
        .list(rows.map { r in
            .stringDict([(key, .string(r.key)), ("type", .string(r.type)), ("contended", .int(Int64(r.contended))),
                         ("total_wait_ns", .int(Int64(r.total))), ("max_wait_ns", .int(Int64(r.max))),
                         ("min_wait_ns", .int(Int64(r.min == .max ? 0 : r.min))), ("avg_wait_ns", .int(Int64(r.avg)))])
        })
    }

    func histogramValue(_ groups: [ContentionAnalysis.Contention]) -> PyValue {
        .stringDict(ContentionAnalysis.histogram(groups).map { (String($0.0), PyValue.int(Int64($0.1))) })
    }

    var pyValue: PyValue {
        let callers = analysis.byCaller
        let all = rates { _ in true }
        let topCallers = callers.prefix(top).map { row -> (String, PyValue) in
            let r = rates { $0.caller == row.key }
            return (row.key, .stringDict([("contentions/s", .series(r.count)), ("wait us/s", .series(r.wait))]))
        }
        var histograms: [(String, PyValue)] = [("all", histogramValue(analysis.contentions))]
        for row in callers.prefix(top) {
            histograms.append((row.key, histogramValue(analysis.contentions.filter { $0.caller == row.key })))
        }
        return .stringDict([
            ("time", .series(times)),
            ("contentions/s", .series(all.count)),
            ("wait us/s", .series(all.wait)),
            ("top_callers", .stringDict(topCallers)),
            ("callers", rowsValue(callers, key: "caller")),
            ("locks", rowsValue(analysis.byLock, key: "lock")),
            ("tasks", rowsValue(analysis.byTask(comms), key: "task")),
            ("wait_histogram", .stringDict(histograms)),
            ("folded", .list(analysis.folded.map { .tuple([.string($0.0), .int(Int64($0.1))]) })),
            ("owners", ownersValue),
            ("lost", .int(Int64(lost))),
            ("cost", costValue),
            ("unpaired", .int(Int64(analysis.unpaired))),
            ("unfinished", .int(Int64(analysis.unfinished))),
        ])
    }
}
