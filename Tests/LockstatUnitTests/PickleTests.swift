import XCTest
@testable import LockstatCore

final class PickleTests: XCTestCase {
    let sample: PyValue = .stringDict([
        ("none", .none), ("true", .bool(true)), ("false", .bool(false)),
        ("ints", .list([.int(0), .int(-1), .int(255), .int(65536), .int(-2_147_483_648), .int(Int64.max), .int(Int64.min)])),
        ("floats", .series([1.5, nil, -0.25, 1e300])),
        ("column", .floats(Column([2.5, .nan]))),
        ("text", .string("&mm->mmap_lock <ü> 🔒")), ("long", .string(String(repeating: "x", count: 300))),
        ("tuple", .tuple([.int(1), .string("a")])), ("empty tuple", .tuple([])),
        ("set", .set([.int(3)])), ("nested", .stringDict([("l", .list((0..<2500).map { .int(Int64($0)) }))])),
    ])

    func testRoundTrip() throws {
        XCTAssertEqual(try Unpickler.decode(Pickle.encode(sample)), sample)
    }

    /// Python 3 loads it with types intact, and re-pickles it to something we read back equal.
    func testPythonLoadsItAndWeLoadPythons() throws {
        let dir = temporaryDirectory()
        let ours = dir + "/ours.pickle", theirs = dir + "/theirs.pickle"
        try Data(Pickle.encode(sample)).write(to: URL(fileURLWithPath: ours))
        let script = """
        import pickle, sys
        d = pickle.load(open(sys.argv[1], 'rb'))
        assert d['none'] is None and d['true'] is True and d['false'] is False
        assert d['ints'] == [0, -1, 255, 65536, -2147483648, 2**63 - 1, -2**63], d['ints']
        assert d['floats'] == [1.5, None, -0.25, 1e300]
        assert d['column'] == [2.5, None]
        assert d['text'] == '&mm->mmap_lock <ü> 🔒' and d['long'] == 'x' * 300
        assert d['tuple'] == (1, 'a') and d['empty tuple'] == () and d['set'] == {3}
        assert d['nested']['l'] == list(range(2500))
        assert list(d.keys())[:3] == ['none', 'true', 'false']
        for proto in (2, 4, 5):
            pickle.dump(d, open(sys.argv[2] + str(proto), 'wb'), protocol=proto)
        print('ok')
        """
        let r = try shell(["python3", "-c", script, ours, theirs])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "ok\n")
        for proto in [2, 4, 5] {
            guard case .success(let bytes) = FileReader.readAll(theirs + "\(proto)") else { return XCTFail("python wrote nothing") }
            XCTAssertEqual(try Unpickler.decode(bytes), sample, "protocol \(proto)")
        }
    }

    func testJSONTwin() throws {
        let json = JSON.encode(.stringDict([("a", .series([1, nil, .infinity])), ("b", .string("q\"\n")), ("c", .tuple([.int(2)]))]))
        XCTAssertEqual(json, "{\"a\": [1.0, null, null], \"b\": \"q\\\"\\n\", \"c\": [2]}\n")
    }

    func testTruncatedPickleIsAnError() {
        let bytes = Pickle.encode(sample)
        XCTAssertThrowsError(try Unpickler.decode(Array(bytes.prefix(bytes.count / 2))))
    }
}

/// samples.pickle and samples.json of a long run are written a piece at a time: what Python
/// reads back of several megabytes made so is what was given.
final class StreamedSamplesTests: XCTestCase {
    func testPicklesAndJSONWrittenInPiecesReadBackWhole() throws {
        let dir = TestDirectory(temporaryDirectory())
        try dir.open(create: true)
        let a = (0..<300_000).map { Double($0) * 0.5 }, b = (0..<200_000).map { $0 % 7 == 0 ? Double.nan : Double($0) }
        let value = PyValue.stringDict([("a", .floats(Column(a))), ("b", .stringDict([("x", .floats(Column(b))), ("n", .int(3))]))])
        var pieces = 0
        try dir.write("s.pickle") { emit in Pickle.write(value) { pieces += 1; emit($0) } }
        try dir.write("s.json") { emit in JSON.write(value, to: emit) }
        XCTAssertGreaterThan(pieces, 2, "handed on in pieces")
        let check = try shell(["python3", "-c", """
            import json, math, pickle, sys
            p = pickle.load(open(sys.argv[1] + '/s.pickle', 'rb'))
            j = json.load(open(sys.argv[1] + '/s.json'))
            for d in (p, j):
                assert len(d['a']) == 300000 and d['a'][-1] == 149999.5, d['a'][-1]
                x = d['b']['x']
                assert len(x) == 200000 and x[7] is None and x[8] == 8.0 and d['b']['n'] == 3
            print('ok')
            """, dir.path])
        XCTAssertEqual(check.out, "ok\n", check.err)
    }
}
