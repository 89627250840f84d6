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
