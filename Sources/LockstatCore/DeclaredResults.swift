/// Tables and series a drop-in module declares as data in its parse value, under the key
/// `_lockstat_results` (docs/writing-a-module.md: Writing a module):
///
///     {"time": [0.1, 0.2, ...],
///      "tables": [{"name": "queues", "labels": ["queue"], "key": ["queue"], "sort": "depth",
///                  "columns": [{"name": "depth", "title": "queue depth", "unit": "1",
///                               "kind": "gauge", "worse": "higher"}],
///                  "rows": [{"queue": "q0", "depth": 5}, ...]}],
///      "series": [{"name": "depth q0", "unit": "1", "values": [3, 5, ...]}]}
///
/// Nothing in it is run: it is read as data, checked, and then shown like a built-in module's.
public enum DeclaredResults {
    public static let key = "_lockstat_results"

    /// nil when the value declares nothing; an error naming the first key that is wrong.
    public static func decode(_ value: PyValue) throws -> Results? {
        guard let declared = value[key] else { return nil }
        let time = try numbers(declared["time"] ?? .list([]), at: "\(key).time")
        let tables = try (declared["tables"]?.listItems ?? []).enumerated().map {
            try table($1, at: "\(key).tables[\($0)]")
        }
        let series = try (declared["series"]?.listItems ?? []).enumerated().map { k, s -> ResultSeries in
            let at = "\(key).series[\(k)]"
            let values = try numbers(s["values"], at: at + ".values")
            guard values.count == time.count else {
                throw LockstatError("\(at).values: \(values.count) values for \(time.count) times")
            }
            return ResultSeries(
                name: try text(s["name"], at: at + ".name"), unit: try text(s["unit"], at: at + ".unit"), values: values
            )
        }
        return Results(tables: tables, time: Column(time), series: series)
    }

    static func table(_ t: PyValue, at: String) throws -> ResultTable {
        let labels = try (t["labels"]?.listItems ?? []).enumerated().map { try text($1, at: "\(at).labels[\($0)]") }
        let columns = try (t["columns"]?.listItems ?? []).enumerated().map { k, c -> ResultColumn in
            let at = "\(at).columns[\(k)]"
            let name = try text(c["name"], at: at + ".name")
            guard let kind = ResultColumn.Kind(rawValue: try text(c["kind"], at: at + ".kind")) else {
                throw LockstatError(
                    "\(at).kind: one of " + ResultColumn.Kind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            let worse =
                try c["worse"].map { w -> ResultColumn.Worse in
                    guard let worse = ResultColumn.Worse(rawValue: try text(w, at: at + ".worse")) else {
                        throw LockstatError(
                            "\(at).worse: one of " + ResultColumn.Worse.allCases.map(\.rawValue).joined(separator: ", ")
                        )
                    }
                    return worse
                } ?? .higher
            return ResultColumn(
                name, c["title"]?.string ?? name, unit: try text(c["unit"], at: at + ".unit"), kind: kind, worse: worse)
        }
        guard !columns.isEmpty else { throw LockstatError("\(at).columns: at least one metric column") }
        let sort = t["sort"]?.string ?? columns[0].name
        guard columns.contains(where: { $0.name == sort }) else {
            throw LockstatError("\(at).sort: '\(sort)' is not one of its columns")
        }
        let rows = try (t["rows"]?.listItems ?? []).enumerated().map { k, r -> ResultRow in
            let at = "\(at).rows[\(k)]"
            return ResultRow(
                labels: try labels.map { try text(r[$0], at: "\(at).\($0)") },
                values: try columns.map { c in
                    guard let v = r[c.name] else { return .nan }
                    if v == .none { return .nan }
                    guard let n = v.number else { throw LockstatError("\(at).\(c.name): not a number") }
                    return n
                })
        }
        let key = try (t["key"]?.listItems ?? (labels.isEmpty ? [] : [.string(labels[0])])).enumerated().map {
            k, name -> Int in
            let label = try text(name, at: "\(at).key[\(k)]")
            guard let i = labels.firstIndex(of: label) else {
                throw LockstatError("\(at).key[\(k)]: '\(label)' is not one of its labels")
            }
            return i
        }
        return ResultTable(
            name: try text(t["name"], at: at + ".name"), metrics: columns, labels: labels, identity: key,
            defaultSort: sort, rows: rows)
    }

    static func text(_ v: PyValue?, at: String) throws -> String {
        guard let s = v?.string else { throw LockstatError("\(at): missing, or not a string") }
        return s
    }

    static func numbers(_ v: PyValue?, at: String) throws -> [Double] {
        guard let items = v?.listItems else { throw LockstatError("\(at): missing, or not a list") }
        return try items.map { item in
            if item == .none { return .nan }
            guard let n = item.number else { throw LockstatError("\(at): \(item) is not a number") }
            return n
        }
    }
}
