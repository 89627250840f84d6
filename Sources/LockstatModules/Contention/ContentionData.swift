import LockstatCore

/// The contention entry of samples.pickle, from the raw log alone (events, layout, kallsyms).
struct ContentionData {
    let analysis: ContentionAnalysis
    let lost: UInt64
    let undecodable: Int
    let times: [Double]
    let startTime: UInt64
    let comms: [UInt32: String]
    let top: Int

    init(log: RawLog, top: Int) throws {
        self.top = top
        var fields = [String: String]()
        for r in log.sideRecords(stream: ContentionModule.layoutStream) {
            for line in log.text(r).split(separator: "\n") {
                let kv = line.split(separator: " ", maxSplits: 1)
                if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
            }
        }
        guard let begin = fields["begin_id"].flatMap(UInt16.init), let end = fields["end_id"].flatMap(UInt16.init) else {
            throw LockstatError("\(log.path): no tracepoint layout record")
        }
        let layout = TracepointLayout(beginID: begin, endID: end, lockAddressOffset: fields["lock_addr_offset"].flatMap(TracepointLayout.offset) ?? 8,
                                      valueOffset: fields["flags_offset"].flatMap(TracepointLayout.offset) ?? 16)
        let kallsyms = try KallsymsRecord.read(log, stream: ContentionModule.kallsymsStream)
        var events = [ContentionEvent](), lost: UInt64 = 0, bad = 0
        for r in log.records where r.kind == .snapshot && r.stream < PerfRings.drainedStream {
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
        analysis = ContentionAnalysis(events: events, layout: layout, symbols: KernelSymbols(kallsyms))
        self.lost = lost
        undecodable = bad
        startTime = log.startTime
        // Interval ends: when each drain finished (every event it read happened before).
        times = log.sideRecords(stream: PerfRings.drainedStream).map { log.seconds($0) }
        var comms = [UInt32: String]()
        for r in log.sideRecords(stream: ContentionModule.commStream) {
            for line in log.text(r).split(separator: "\n") {
                let kv = line.split(separator: " ", maxSplits: 1)
                if kv.count == 2, let tid = UInt32(kv[0]) { comms[tid] = String(kv[1]) }
            }
        }
        self.comms = comms
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
            ("lost", .int(Int64(lost))),
            ("unpaired", .int(Int64(analysis.unpaired))),
            ("unfinished", .int(Int64(analysis.unfinished))),
        ])
    }
}
