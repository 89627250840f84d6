import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// contention.holds: `contended` by default, `all` when asked; any other value is refused with
/// the file, line and the values it takes; the run's one line says what it gets instead.
final class ContentionHoldsSettingTests: XCTestCase {
    let catalog = ModuleCatalog(BuiltInModules.all)

    func testHoldsIsContendedUnlessAllIsAsked() throws {
        let plain = try ConfigParser.parse("modules contention\n", file: "c.config", catalog: catalog)
        XCTAssertEqual(ContentionSettings(plain).holds, .contended)
        let all = try ConfigParser.parse("modules contention\ncontention.holds all\n", file: "c.config", catalog: catalog)
        XCTAssertEqual(ContentionSettings(all).holds, .all)
        XCTAssertThrowsError(
            try ConfigParser.parse("modules contention\ncontention.holds every\n", file: "c.config", catalog: catalog)
        ) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("c.config:2:"), text)
            XCTAssertTrue(text.contains("contended") && text.contains("all"), text)
        }
    }

    func testTheNoticeSaysWhyAndWhatTheRunKeeps() {
        XCTAssertEqual(
            ContentionModule.holdsAllNotice(fentryRefusal: "a fentry program on mutex_lock: Operation not permitted", wakers: true),
            "contention: contention.holds all needs fentry programs, which do not load here (a fentry program on "
                + "mutex_lock: Operation not permitted): holds under contention only")
        XCTAssertTrue(
            ContentionModule.holdsAllNotice(fentryRefusal: "x", wakers: false)
                .hasSuffix("no hold times (contention.wakers yes gives holds under contention)"))
        XCTAssertTrue(ContentionModule.holdsAllNotice(fentryRefusal: nil, wakers: true).contains("not implemented yet"))
    }
}
