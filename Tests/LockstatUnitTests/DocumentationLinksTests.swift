import Foundation
import XCTest
@testable import LockstatModules

/// README.md and docs/: every relative link and `#anchor` resolves, no page names a repository file that
/// is not there, the code's pointers into the docs name real pages and headings, and docs/samples-keys.md is what
/// `lockstat samples-keys` prints. The files are the repository's, found through #filePath, or a copy of
/// them at $LOCKSTAT_REPOSITORY (.ci/run's unit tier runs as nobody, who may not reach the clone).
final class DocumentationLinksTests: XCTestCase {
    static func repository() throws -> URL {
        let root = ProcessInfo.processInfo.environment["LOCKSTAT_REPOSITORY"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        guard FileManager.default.isReadableFile(atPath: root.appendingPathComponent("README.md").path) else {
            throw XCTSkip("SKIPPED: the repository's README.md is not readable at \(root.path) (LOCKSTAT_REPOSITORY)")
        }
        return root
    }

    /// README.md and every Markdown file under docs/, as paths relative to the repository.
    static func pages(_ root: URL) throws -> [String] {
        let docs = root.appendingPathComponent("docs")
        let found = FileManager.default.enumerator(atPath: docs.path)?.compactMap { $0 as? String } ?? []
        return ["README.md"] + found.filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
    }

    /// The lines of a Markdown text outside fenced code blocks, with their 1-based numbers.
    static func proseLines(_ text: String) -> [(number: Int, line: String)] {
        var fenced = false
        var lines = [(number: Int, line: String)]()
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.hasPrefix("```") {
                fenced.toggle()
                continue
            }
            if !fenced { lines.append((i + 1, String(line))) }
        }
        return lines
    }

    /// GitHub's anchor for a heading: lower case, links reduced to their text, every character but letters,
    /// digits, `_`, `-` and spaces dropped, spaces made `-`; a repeated one gets `-1`, `-2`, ...
    static func anchors(_ text: String) -> Set<String> {
        var seen = [String: Int]()
        var anchors = Set<String>()
        for (_, line) in proseLines(text) {
            guard let hashes = line.firstIndex(where: { $0 != "#" }), line.hasPrefix("#"),
                line.distance(from: line.startIndex, to: hashes) <= 6, line[hashes] == " "
            else { continue }
            let title = line[hashes...].replacingOccurrences(
                of: #"\[([^\]]*)\]\([^)]*\)"#, with: "$1", options: .regularExpression)
            let slug = String(
                title.trimmingCharacters(in: .whitespaces).lowercased()
                    .filter { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == " " }
                    .map { $0 == " " ? "-" : $0 })
            let count = seen[slug, default: 0]
            seen[slug] = count + 1
            anchors.insert(count == 0 ? slug : "\(slug)-\(count)")
        }
        return anchors
    }

    /// Inline links and images, `[text](target)`, and HTML's `href="target"` and `src="target"`, outside
    /// code: code spans are blanked first.
    static func links(_ text: String) -> [(line: Int, target: String)] {
        let regex = try! NSRegularExpression(pattern: #"\[[^\]]*\]\(([^)\s]+)\)|(?:href|src)="([^"]+)""#)
        var links = [(line: Int, target: String)]()
        for (number, line) in proseLines(text) {
            let prose = line.replacingOccurrences(of: "`[^`]*`", with: " ", options: .regularExpression)
            for match in regex.matches(in: prose, range: NSRange(prose.startIndex..., in: prose)) {
                let target = Range(match.range(at: 1), in: prose) ?? Range(match.range(at: 2), in: prose)!
                links.append((number, String(prose[target])))
            }
        }
        return links
    }

    /// Where a page's relative link leads, or why it does not: the file must exist inside the repository,
    /// and an anchor must be a heading of the Markdown file it names.
    static func brokenLink(_ target: String, from page: String, root: URL) -> String? {
        if target.range(of: "^[a-z][a-z0-9+.-]*:", options: .regularExpression) != nil { return nil }
        let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let base = root.appendingPathComponent(page).deletingLastPathComponent()
        let file = parts[0].isEmpty ? root.appendingPathComponent(page) : base.appendingPathComponent(parts[0])
        let path = file.standardizedFileURL.path
        guard path.hasPrefix(root.standardizedFileURL.path + "/") else { return "leads out of the repository" }
        guard FileManager.default.fileExists(atPath: path) else { return "no such file" }
        guard parts.count == 2 else { return nil }
        guard path.hasSuffix(".md"), let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            return "an anchor into a file that is not Markdown"
        }
        return anchors(text).contains(parts[1]) ? nil : "no heading has the anchor #\(parts[1])"
    }

    func testEveryRelativeLinkAndAnchorResolves() throws {
        let root = try Self.repository()
        var broken = [String]()
        var count = 0
        for page in try Self.pages(root) {
            let text = try String(contentsOf: root.appendingPathComponent(page), encoding: .utf8)
            for link in Self.links(text) {
                count += 1
                if let why = Self.brokenLink(link.target, from: page, root: root) {
                    broken.append("\(page):\(link.line): \(link.target): \(why)")
                }
            }
        }
        XCTAssertGreaterThan(count, 40, "README.md and docs/ link each other")
        XCTAssertEqual(broken, [], "links that do not resolve")
    }

    /// Every page under docs/ is linked from README.md or another page: none is left where no reader finds it.
    func testEveryDocsPageIsLinked() throws {
        let root = try Self.repository()
        let pages = try Self.pages(root)
        var linked = Set<String>()
        for page in pages {
            let text = try String(contentsOf: root.appendingPathComponent(page), encoding: .utf8)
            for link in Self.links(text) where !link.target.contains(":") {
                let file = link.target.split(separator: "#", omittingEmptySubsequences: false)[0]
                guard !file.isEmpty else { continue }
                linked.insert(
                    root.appendingPathComponent(page).deletingLastPathComponent().appendingPathComponent(String(file))
                        .standardizedFileURL.path)
            }
        }
        let unlinked = pages.dropFirst().filter {
            !linked.contains(root.appendingPathComponent($0).standardizedFileURL.path)
        }
        XCTAssertEqual(unlinked, [], "pages under docs/ that no page links to")
    }

    /// Paths the pages name in their text (`Sources/CLockstat/futex_bpf.c`, `Stat/CPUUtilization.swift`,
    /// `BENCHMARKS.md`) are files or folders of the repository: a path whose first folder is one at the
    /// repository's top or a source folder (under Sources/, Sources/LockstatModules/ or Tests/), and a bare
    /// Markdown name, must be a path of the repository or the end of one. Other projects' paths
    /// (`kernel/signal.c`), absolute ones and placeholders (`NAME.py`, `DIR/index.html`,
    /// `samples/<module>.log`) are not the repository's and are left alone.
    func testNoPageNamesAFileTheRepositoryLacks() throws {
        let root = try Self.repository()
        let manager = FileManager.default
        let all = (manager.enumerator(atPath: root.path)?.compactMap { $0 as? String } ?? [])
            .filter { !$0.hasPrefix(".build") && !$0.hasPrefix(".git/") }
        let paths = Set(all)
        var folders = Set(all.filter { !$0.contains("/") })
        for parent in ["Sources", "Sources/LockstatModules", "Tests"] {
            let folder = root.appendingPathComponent(parent).path
            folders.formUnion((try? manager.contentsOfDirectory(atPath: folder)) ?? [])
        }
        let token = try NSRegularExpression(pattern: #"(?<![\w./<>{}~-])([A-Za-z0-9_.+-]+(?:/[A-Za-z0-9_.+-]+)*/?)"#)
        var missing = [String]()
        var count = 0
        for page in try Self.pages(root) {
            let text = try String(contentsOf: root.appendingPathComponent(page), encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = String(line)
                for match in token.matches(in: line, range: NSRange(line.startIndex..., in: line)) {
                    let range = Range(match.range(at: 1), in: line)!
                    // A path pattern (`samples/<module>.log`, `diskstats_{util}.svg`) goes on past the match.
                    if range.upperBound < line.endIndex, "<{*…".contains(line[range.upperBound]) { continue }
                    var name = String(line[range])
                    while name.hasSuffix(".") { name.removeLast() }
                    let parts = name.split(separator: "/").map(String.init)
                    guard let first = parts.first else { continue }
                    let claimed = parts.count > 1 ? folders.contains(first) : name.hasSuffix(".md")
                    let placeholder = parts.contains { part in
                        part.count > 1 && part == part.uppercased() && part.contains(where: \.isLetter)
                            && !paths.contains(part)
                    }
                    guard claimed, !placeholder else { continue }
                    count += 1
                    let bare = name.hasSuffix("/") ? String(name.dropLast()) : name
                    if paths.contains(bare) || paths.contains(where: { $0.hasSuffix("/" + bare) }) { continue }
                    missing.append("\(page):\(number + 1): \(name)")
                }
            }
        }
        XCTAssertGreaterThan(count, 40, "the pages name the repository's files")
        XCTAssertEqual(missing, [], "paths named in README.md and docs/ that the repository does not have")
    }

    /// The code's pointers into the documentation — README or a page under docs/, then a colon and the
    /// start of a heading, in a message or a comment; or a page's path alone — name a page that exists and,
    /// where given, the start of one of its headings.
    func testTheCodesPointersIntoTheDocsResolve() throws {
        let root = try Self.repository()
        let pointer = try NSRegularExpression(pattern: #"(README|docs/[A-Za-z0-9_-]+\.md)(?::\s+([A-Z][^)"\n]*))?"#)
        var broken = [String]()
        var count = 0
        for folder in ["Sources", "Tests"] {
            let files = FileManager.default.enumerator(atPath: root.appendingPathComponent(folder).path)?
                .compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
            for file in files.sorted() {
                let text = try String(contentsOf: root.appendingPathComponent(folder + "/" + file), encoding: .utf8)
                for match in pointer.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                    let page = String(text[Range(match.range(at: 1), in: text)!])
                    let heading = Range(match.range(at: 2), in: text).map { String(text[$0]) }
                    guard page != "README" || heading != nil else { continue }
                    count += 1
                    let path = page == "README" ? "README.md" : page
                    let url = root.appendingPathComponent(path)
                    guard let target = try? String(contentsOf: url, encoding: .utf8) else {
                        broken.append("\(folder)/\(file): \(path): no such page")
                        continue
                    }
                    guard let heading else { continue }
                    let headings = Self.proseLines(target).map(\.line).filter { $0.hasPrefix("#") }
                        .map { $0.drop(while: { $0 == "#" }).trimmingCharacters(in: .whitespaces) }
                    if !headings.contains(where: { $0.hasPrefix(heading.trimmingCharacters(in: .whitespaces)) }) {
                        broken.append("\(folder)/\(file): \(path) has no heading '\(heading)'")
                    }
                }
            }
        }
        XCTAssertGreaterThan(count, 5, "the code points into the docs")
        XCTAssertEqual(broken, [], "pointers from the code into the docs that lead nowhere")
    }

    func testSamplesKeysReferenceIsWhatTheCodeNames() throws {
        let root = try Self.repository()
        let committed = try String(contentsOf: root.appendingPathComponent("docs/samples-keys.md"), encoding: .utf8)
        XCTAssertEqual(
            committed, SamplesKeysReference.markdown,
            "docs/samples-keys.md is not what the models name: `lockstat samples-keys > docs/samples-keys.md`")
        let documented = SamplesKeysReference.modules.map(\.name)
        XCTAssertEqual(
            documented, BuiltInModules.all.map(\.name), "every built-in module's keys, in the registry's order")
    }
}
