import LockstatCore

/// The graphs a module's plot writes into a folder, and their names in the order written.
struct PlotFiles {
    let directory: TestDirectory
    private(set) var names: [String] = []

    init(into directory: TestDirectory) { self.directory = directory }

    mutating func save(_ name: String, _ document: String) throws {
        try directory.write(name, document)
        names.append(name)
    }
}

/// A samples.pickle `folded` entry — a list of (`a;b;c`, weight) tuples — as a flame graph's stacks.
enum FoldedStacks {
    static func decode(_ value: PyValue?) -> [(frames: [String], weight: Double)] {
        (value?.listItems ?? []).compactMap { item in
            guard case .tuple(let t) = item, t.count == 2, let s = t[0].string, let w = t[1].number else { return nil }
            return (s.split(separator: ";").map(String.init), w)
        }
    }
}
