/// docs/samples-keys.md, made from the code: the samples.pickle (and samples.json) names each built-in
/// module's model declares in its `Key` enum, so the reference cannot drift from what parse writes.
/// `lockstat samples-keys` prints it; a unit test compares it with the committed file.
public enum SamplesKeysReference {
    /// Each module's name, its page in docs/ and its model's key names in the order the code declares them.
    static let modules: [(name: String, page: String, keys: [String])] = [
        (StatModule().name, "stat.md", StatModel.Key.allCases.map(\.rawValue)),
        (DiskstatsModule().name, "diskstats.md", DiskstatsModel.Key.allCases.map(\.rawValue)),
        (LockStatModule.moduleName, "lock_stat.md", LockStatModel.Key.allCases.map(\.rawValue)),
        (ContentionModule.moduleName, "contention.md", ContentionModel.Key.allCases.map(\.rawValue)),
        (FutexModule.moduleName, "futex.md", FutexModel.Key.allCases.map(\.rawValue)),
        (ProfileModule.moduleName, "profile.md", ProfileModel.Key.allCases.map(\.rawValue)),
    ]

    public static var markdown: String {
        var text = """
            # samples.json keys

            <!-- Made by `lockstat samples-keys > docs/samples-keys.md` from each module's model; a unit test
            (DocumentationLinksTests) checks that this file is what the command prints. -->

            The names each built-in module's model writes into samples.pickle and samples.json and reads back, at
            every depth (the module's own keys, its rows' keys, nested keys), in the order the code declares them
            (the `Key` enum of the module's model). Not here: names made from the data (CPU and device names,
            callers, lock classes) and those the code spells out where it builds them rather than in its `Key`
            enum (mpstat's and iostat's columns, the contention cost counters, the futex counters). The module's
            page has every key with its unit and meaning.

            """
        for module in modules {
            text += "\n## \(module.name)\n\n[\(module.name)](\(module.page)): "
            text += module.keys.map { "`\($0)`" }.joined(separator: ", ") + "\n"
        }
        return text
    }
}
