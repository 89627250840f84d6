import XCTest
@testable import LockstatCore

/// samples.pickle's series as arrays, read by pandas (pip-installed by .ci/run for root's python3: system tier).
final class PickleTests: XCTestCase {
    /// `samples.series arrays`: Python reads array.array('d') with NaN for None, pandas takes it
    /// as a column, and what Python pickles of it again (protocols 2, 4, 5) reads back as series.
    func testSeriesAsArraysLoadInPythonAndReadBack() throws {
        let n = Column.chunkLength + 5
        let long = (0..<n).map { $0 % 10 == 0 ? Double.nan : Double($0) / 4 }
        let value = PyValue.stringDict([("s", .series([1.5, nil, -0.25])), ("long", .floats(Column(long))), ("name", .string("x"))])
        let dir = temporaryDirectory()
        var bytes = [UInt8]()
        Pickle.write(value, seriesAsArrays: true) { bytes += $0 }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/a.pickle"))
        XCTAssertEqual(try Unpickler.decode(bytes), value)
        let script = """
        import array, math, pickle, sys
        import pandas as pd
        d = pickle.load(open(sys.argv[1], 'rb'))
        assert isinstance(d['s'], array.array) and d['s'].typecode == 'd', type(d['s'])
        assert d['s'][0] == 1.5 and math.isnan(d['s'][1]) and d['s'][2] == -0.25
        assert len(d['long']) == \(n) and d['long'][7] == 7 / 4 and math.isnan(d['long'][10])
        series = pd.Series(d['long'])
        assert series.isna().sum() == \((n + 9) / 10), series.isna().sum()
        for proto in (2, 4, 5):
            pickle.dump(d, open(sys.argv[1] + str(proto), 'wb'), protocol=proto)
        print('ok')
        """
        let r = try shell(["python3", "-c", script, dir + "/a.pickle"])
        XCTAssertEqual(r.out, "ok\n", r.err)
        for proto in [2, 4, 5] {
            guard case .success(let again) = FileReader.readAll(dir + "/a.pickle\(proto)") else { return XCTFail("python wrote nothing") }
            XCTAssertEqual(try Unpickler.decode(again), value, "protocol \(proto)")
        }
    }
}
