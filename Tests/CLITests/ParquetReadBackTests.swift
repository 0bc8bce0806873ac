import Foundation
import Ingest
import TestSupport
import Sinks
import Testing

/// Our Parquet writer, read back by readers we did not write (pyarrow and DuckDB, through
/// Tests/Tools/parquet_read.py): every value, null, type, dictionary page, row group and
/// statistic as written.
@Suite struct ParquetReadBackTests {
    static func read(_ path: String, summary: Bool = false) throws -> [String: Any] {
        let r = try runProcess(URL(fileURLWithPath: "/usr/bin/env"),
                               ["python3", "Tests/Tools/parquet_read.py", path] + (summary ? ["--summary"] : []), timeout: 600)
        guard r.status == 0, let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            Issue.record("parquet_read.py failed (\(r.status)): \(r.stderr)")
            return [:]
        }
        return doc
    }

    static func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("wakala-parquet-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// Both readers' rows of a read-back equal `expected`, value for value, in order.
    static func expectRows(_ doc: [String: Any], _ expected: [[String: Any?]], sourceLocation: SourceLocation = #_sourceLocation) {
        for reader in ["pyarrow", "duckdb"] {
            let rows = doc[reader] as? [[String: Any]] ?? []
            #expect(rows.count == expected.count, "\(reader)", sourceLocation: sourceLocation)
            var mismatches = 0
            for (got, want) in zip(rows, expected) {
                for (k, v) in want {
                    let g = got[k]
                    let same: Bool
                    switch v {
                    case nil: same = g is NSNull
                    case let s as String: same = g as? String == s
                    case let b as Bool: same = (g as? Bool) == b
                    case let d as Double: same = (g as? NSNumber)?.doubleValue == d
                    case let n as Int64: same = (g as? NSNumber)?.int64Value == n
                    default: same = false
                    }
                    if !same { mismatches += 1; if mismatches < 5 { Issue.record("\(reader) \(k): got \(String(describing: g)), wrote \(String(describing: v))", sourceLocation: sourceLocation) } }
                }
            }
            #expect(mismatches == 0, "\(reader)", sourceLocation: sourceLocation)
        }
    }

    /// Files merged by copying their row groups, or by decoding their rows and encoding them again
    /// (the checkpointer's compaction of a day's part files), read back as the rows of the inputs
    /// one after another — nulls, dictionary pages, streamed pages, statistics and several row
    /// groups per input included; a file of other columns, or not Parquet at all, is refused.
    @Test func mergedFilesReadBackAsTheirInputsInOrder() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let columns = [
            ParquetColumn("id", .int64), ParquetColumn("tenant", .string), ParquetColumn("note", .string, optional: true),
            ParquetColumn("amount", .int64, optional: true), ParquetColumn("raw", .string, streamed: true), ParquetColumn("line", .int32),
        ]
        var expected: [[String: Any?]] = []
        var inputs: [String] = []
        var id: Int64 = 0
        for (f, count) in [700, 1, 2_300].enumerated() {
            let path = "\(dir)/in-\(f).parquet"
            let w = try ParquetWriter(path: path, columns: columns, rowGroupRows: 1_000, pageRows: 300, pageBytes: 4_000)
            for _ in 0..<count {
                let tenant = "t-\(id % 3)", note: String? = id % 4 == 0 ? nil : "n\(id)", amount: Int64? = id % 5 == 0 ? nil : id * 7
                let raw = "{\"id\":\(id)}"
                let line = id % 1_000 - 500
                w.put(0, id); w.put(1, tenant); w.put(2, note); w.put(3, amount); w.put(4, raw); w.put(5, line)
                try w.endRow()
                expected.append(["id": id, "tenant": tenant, "note": note, "amount": amount, "raw": raw, "line": line])
                id += 1
            }
            try w.close()
            inputs.append(path)
        }
        let merged = try ParquetWriter(path: dir + "/merged.parquet", columns: columns)
        for i in inputs { try merged.appendRowGroups(of: i) }
        #expect(merged.rows == 3_001)
        try merged.close()
        let doc = try Self.read(dir + "/merged.parquet")
        #expect(doc["row_groups"] as? Int == 1 + 1 + 3)
        Self.expectRows(doc, expected)
        let chunks = doc["chunks"] as? [[String: Any]] ?? []
        let id4 = chunks.first { ($0["column"] as? String) == "id" && $0["row_group"] as? Int == 4 }
        #expect(id4?["min"] as? String == "2701" && id4?["max"] as? String == "3000")
        #expect(chunks.filter { ($0["column"] as? String) == "tenant" }.allSatisfy { $0["dictionary"] as? Bool == true })

        // Decoded and encoded again into this file's row groups (small part files): the same
        // rows, in 1,000-row groups; after the copied row groups of a large file, too.
        let reencoded = try ParquetWriter(path: dir + "/reencoded.parquet", columns: columns, rowGroupRows: 1_000)
        for i in inputs { try reencoded.appendRows(of: i) }
        try reencoded.close()
        let docR = try Self.read(dir + "/reencoded.parquet")
        #expect(docR["row_groups"] as? Int == 4)
        Self.expectRows(docR, expected)
        let mixed = try ParquetWriter(path: dir + "/mixed.parquet", columns: columns, rowGroupRows: 1_000)
        try mixed.appendRowGroups(of: inputs[2])
        try mixed.appendRows(of: inputs[0])
        try mixed.appendRows(of: inputs[1])
        #expect(throws: ParquetError.self) { try mixed.appendRowGroups(of: inputs[1]) } // rows buffered: refused
        try mixed.close()
        Self.expectRows(try Self.read(dir + "/mixed.parquet"), Array(expected[701...]) + Array(expected[..<701]))

        // Other columns, or not Parquet: refused, the target untouched.
        let other = try ParquetWriter(path: dir + "/other.parquet", columns: [ParquetColumn("id", .int64), ParquetColumn("tenant", .int64)])
        other.put(0, Int64(1)); other.put(1, Int64(2))
        try other.endRow()
        try other.close()
        try Data("not parquet at all".utf8).write(to: URL(fileURLWithPath: dir + "/junk.parquet"))
        let target = try ParquetWriter(path: dir + "/target.parquet", columns: columns)
        #expect(throws: ParquetError.self) { try target.appendRowGroups(of: dir + "/other.parquet") }
        #expect(throws: ParquetError.self) { try target.appendRowGroups(of: dir + "/junk.parquet") }
        #expect(throws: ParquetError.self) { try target.appendRowGroups(of: dir + "/missing.parquet") }
        #expect(throws: ParquetError.self) { try target.appendRows(of: dir + "/other.parquet") }
        #expect(throws: ParquetError.self) { try target.appendRows(of: dir + "/junk.parquet") }
        try target.appendRowGroups(of: inputs[1])
        try target.close()
        Self.expectRows(try Self.read(dir + "/target.parquet"), [expected[700]])
    }

    /// A damaged input (seeded byte flips and truncations of a valid file) makes merging throw
    /// or succeed — never crash, never hang.
    @Test func damagedInputsNeverCrashAMerge() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let columns = [ParquetColumn("id", .int64), ParquetColumn("tenant", .string), ParquetColumn("note", .string, optional: true),
                       ParquetColumn("n", .int32, optional: true)]
        let good = dir + "/good.parquet"
        let w = try ParquetWriter(path: good, columns: columns, rowGroupRows: 40, pageRows: 15)
        for i in 0..<100 {
            w.put(0, Int64(i)); w.put(1, "t-\(i % 3)"); w.put(2, i % 4 == 0 ? nil : "n\(i)"); w.put(3, i % 5 == 0 ? nil : Int64(i - 50))
            try w.endRow()
        }
        try w.close()
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: good)))
        let seed = UInt64(ProcessInfo.processInfo.environment["WAKALA_TEST_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000)
        var rng = SplitMix64(seed: seed)
        var threw = 0, read = 0
        for round in 0..<300 {
            var damaged = bytes
            if round % 10 == 9 {
                damaged.removeLast(Int.random(in: 1..<damaged.count, using: &rng))
            } else {
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    damaged[Int.random(in: 0..<damaged.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            let path = dir + "/damaged.parquet"
            try Data(damaged).write(to: URL(fileURLWithPath: path))
            for reencode in [false, true] {
                let target = try ParquetWriter(path: dir + "/out.parquet", columns: columns, rowGroupRows: 40)
                do {
                    if reencode { try target.appendRows(of: path) } else { try target.appendRowGroups(of: path) }
                    read += 1
                } catch {
                    threw += 1
                }
                target.abandon()
            }
        }
        #expect(threw > 100, "seed \(seed): \(threw) damaged inputs refused, \(read) read")
    }

    @Test func everyTypeNullsDictionaryAndRowGroupsReadBack() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/t/date=2026-03-01/part-1-0.parquet"
        let columns = [
            ParquetColumn("id", .int64), ParquetColumn("n", .int32, optional: true), ParquetColumn("x", .double, optional: true),
            ParquetColumn("ok", .boolean), ParquetColumn("tenant", .string), ParquetColumn("note", .string, optional: true),
            ParquetColumn("at", .timestampMillis), ParquetColumn("raw", .string, streamed: true),
        ]
        // 2,500 rows in row groups of 1,000 (three groups), pages of 300 values. `raw` is streamed
        // (its pages compressed as they fill, at 2,000 bytes: ~90 rows each); the last group has
        // values over 256 bytes, so no statistics for that chunk.
        var expected: [[String: Any?]] = []
        let w = try ParquetWriter(path: path, columns: columns, rowGroupRows: 1_000, pageRows: 300, pageBytes: 2_000)
        for i in 0..<2_500 {
            let n: Int64? = i % 7 == 0 ? nil : Int64(i % 100) - 50
            let x: Double? = i % 11 == 0 ? nil : Double(i) / 8
            let tenant = "t-\(i % 5)"                                   // few distinct: dictionary
            let note: String? = i % 3 == 0 ? nil : "note \(i) ünïcødé \"q\"\n" // all distinct: PLAIN
            let at = Int64(1_772_323_200_000) + Int64(i) * 61_000
            let raw = "{\"i\":\(i),\"s\":\"ü\"}" + (i >= 2_000 && i % 97 == 0 ? String(repeating: "x", count: 300) : "")
            try w.append([.int(Int64(i) * 1_000_000_007), n.map { .int($0) } ?? .null, x.map { .double($0) } ?? .null,
                          .bool(i % 2 == 0), .string(tenant), note.map { .string($0) } ?? .null, .int(at), .string(raw)])
            expected.append(["id": Int64(i) * 1_000_000_007, "n": n, "x": x, "ok": i % 2 == 0, "tenant": tenant, "note": note, "at": at,
                             "raw": raw])
        }
        try w.close()
        #expect(!FileManager.default.fileExists(atPath: dir + "/t/date=2026-03-01/.tmp-part-1-0.parquet-\(getpid())"))
        let doc = try Self.read(path)
        #expect(doc["row_groups"] as? Int == 3)
        #expect(doc["schema"] as? [String] == ["id:int64:required", "n:int32:optional", "x:double:optional", "ok:bool:required",
                                               "tenant:string:required", "note:string:optional", "at:timestamp[ms, tz=UTC]:required",
                                               "raw:string:required"])
        #expect(doc["duckdb_types"] as? [String] == ["BIGINT", "INTEGER", "DOUBLE", "BOOLEAN", "VARCHAR", "VARCHAR", "TIMESTAMP WITH TIME ZONE",
                                                     "VARCHAR"])
        Self.expectRows(doc, expected)
        let chunks = doc["chunks"] as? [[String: Any]] ?? []
        #expect(chunks.count == 3 * columns.count)
        #expect(chunks.allSatisfy { $0["compression"] as? String == "ZSTD" })
        let tenant = chunks.filter { ($0["column"] as? String) == "tenant" }
        #expect(tenant.allSatisfy { $0["dictionary"] as? Bool == true })
        #expect(tenant.allSatisfy { ($0["encodings"] as? [String])?.contains("RLE_DICTIONARY") == true })
        #expect(chunks.filter { ($0["column"] as? String) == "note" }.allSatisfy { $0["dictionary"] as? Bool == false })
        // Statistics of the first row group: ids 0…999 × 1,000,000,007; n has nulls every 7th row.
        let id0 = chunks.first { ($0["column"] as? String) == "id" && $0["row_group"] as? Int == 0 }
        #expect(id0?["min"] as? String == "0")
        #expect(id0?["max"] as? String == "\(999 * 1_000_000_007)")
        let n0 = chunks.first { ($0["column"] as? String) == "n" && $0["row_group"] as? Int == 0 }
        #expect(n0?["nulls"] as? Int == (0..<1_000).filter { $0 % 7 == 0 }.count)
        #expect(n0?["min"] as? String == "-50" && n0?["max"] as? String == "49")
        let t0 = chunks.first { ($0["column"] as? String) == "tenant" && $0["row_group"] as? Int == 0 }
        #expect(t0?["min"] as? String == "t-0" && t0?["max"] as? String == "t-4")
        // The streamed column: PLAIN pages, statistics merged over its pages, none past 256 bytes.
        let raw = chunks.filter { ($0["column"] as? String) == "raw" }
        #expect(raw.count == 3 && raw.allSatisfy { $0["dictionary"] as? Bool == false })
        let raw0 = raw.first { $0["row_group"] as? Int == 0 }, raw2 = raw.first { $0["row_group"] as? Int == 2 }
        let firstGroup = (0..<1_000).map { "{\"i\":\($0),\"s\":\"ü\"}" }
        #expect(raw0?["min"] as? String == firstGroup.min(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }))
        #expect(raw0?["max"] as? String == firstGroup.max(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }))
        #expect(raw2?["min"] is NSNull && raw2?["max"] is NSNull)
    }

    @Test func onlyRequiredTextCanBeStreamed() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: ParquetError.self) { try ParquetWriter(path: dir + "/a.parquet", columns: [ParquetColumn("a", .int64, streamed: true)]) }
        #expect(throws: ParquetError.self) {
            try ParquetWriter(path: dir + "/b.parquet", columns: [ParquetColumn("b", .string, optional: true, streamed: true)])
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func aMillionRowFile() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/big.parquet"
        let w = try ParquetWriter(path: path, columns: [ParquetColumn("i", .int64), ParquetColumn("cents", .int64, optional: true),
                                                        ParquetColumn("tenant", .string), ParquetColumn("at", .timestampMillis)])
        var sum: Int64 = 0, nulls = 0
        for i in 0..<1_000_000 {
            let cents: Int64? = i % 10 == 0 ? nil : Int64(i % 9_973)
            if let cents { sum += cents } else { nulls += 1 }
            try w.append([.int(Int64(i)), cents.map { .int($0) } ?? .null, .string("t-\(i % 20)"), .int(1_772_323_200_000 + Int64(i))])
        }
        try w.close()
        let doc = try Self.read(path, summary: true)
        #expect(doc["row_groups"] as? Int == 10)
        for reader in ["pyarrow", "duckdb"] {
            let s = doc[reader] as? [String: Any] ?? [:]
            #expect(s["rows"] as? Int == 1_000_000, "\(reader)")
            #expect((s["i"] as? [String: Any])?["sum"] as? Int == 999_999 * 1_000_000 / 2, "\(reader)")
            #expect((s["cents"] as? [String: Any])?["sum"] as? Int == Int(sum), "\(reader)")
            #expect((s["cents"] as? [String: Any])?["nulls"] as? Int == nulls, "\(reader)")
            #expect((s["tenant"] as? [String: Any])?["distinct"] as? Int == 20, "\(reader)")
            #expect((s["at"] as? [String: Any])?["sum"] as? Int == 1_000_000 * 1_772_323_200_000 + 999_999 * 1_000_000 / 2, "\(reader)")
        }
    }

    /// A finished file's column buffers serve the next file of the same columns (a process-wide
    /// pool): the next file holds its own rows only, whatever the one before held.
    @Test func reusedColumnBuffersCarryNothingOver() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let columns = [ParquetColumn("id", .int64), ParquetColumn("s", .string, optional: true), ParquetColumn("raw", .string, streamed: true)]
        for (name, rows) in [("big", 30_000), ("small", 7), ("mid", 1_234)] {
            let w = try ParquetWriter(path: "\(dir)/\(name).parquet", columns: columns, rowGroupRows: 10_000, pageRows: 3_000)
            for i in 0..<rows {
                try w.append([.int(Int64(i)), i % 4 == 0 ? .null : .string("\(name)-\(i)"), .string("{\"\(name)\":\(i)}")])
            }
            try w.close()
        }
        for (name, rows) in [("small", 7), ("mid", 1_234)] {
            let got = try Self.read("\(dir)/\(name).parquet")["duckdb"] as? [[String: Any]] ?? []
            #expect(got.count == rows, "\(name)")
            let bad = got.enumerated().filter { i, r in
                (r["id"] as? NSNumber)?.intValue != i || r["raw"] as? String != "{\"\(name)\":\(i)}"
                    || (i % 4 == 0 ? !(r["s"] is NSNull) : r["s"] as? String != "\(name)-\(i)")
            }
            #expect(bad.isEmpty, "\(name): \(bad.prefix(3))")
        }
    }

    @Test func badRowsAreRefusedAndAnAbandonedFileLeavesNothing() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = try ParquetWriter(path: dir + "/x.parquet", columns: [ParquetColumn("a", .int64), ParquetColumn("b", .string, optional: true)])
        #expect(throws: ParquetError.self) { try w.append([.null, .null]) }          // required column
        #expect(throws: ParquetError.self) { try w.append([.int(1)]) }               // too few values
        #expect(throws: ParquetError.self) { try w.append([.string("1"), .null]) }   // wrong type
        w.abandon()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    /// Rows put column by column (the sinks' path) make the same file, byte for byte, as the
    /// same rows given as value arrays; a refused put-row leaves no trace. Seeded (the seed is
    /// in any failure's message).
    @Test func typedRowsWriteTheSameFileAndRefusedRowsLeaveNoTrace() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let seed: UInt64 = 20261201
        var rng = SplitMix64(seed: seed)
        let columns = [ParquetColumn("id", .int64), ParquetColumn("n", .int32, optional: true), ParquetColumn("s", .string),
                       ParquetColumn("o", .string, optional: true), ParquetColumn("at", .timestampMillis),
                       ParquetColumn("j", .string, streamed: true)]
        // Strings: empty ones, Unicode, a few hundred distinct values (the dictionary grows its
        // table), some over 256 bytes (no statistics for that row group).
        var rows: [[ParquetValue]] = []
        for i in 0..<3_000 {
            let pick = Int.random(in: 0..<400, using: &rng)
            let s = pick == 0 ? "" : pick == 1 ? String(repeating: "ž", count: 200) : "v-\(pick)-ü"
            let o: String? = i % 5 == 0 ? nil : (i % 7 == 0 ? "" : "raw \(i) \(Int.random(in: 0..<1_000_000, using: &rng))")
            let n: Int64? = i % 3 == 0 ? nil : Int64.random(in: -1_000...1_000, using: &rng)
            let j = "{\"j\":\(Int.random(in: 0..<1_000_000, using: &rng))}"
            rows.append([.int(Int64(i)), n.map { .int($0) } ?? .null, .string(s), o.map { .string($0) } ?? .null, .int(1_772_323_200_000 + Int64(i)),
                         .string(j)])
        }
        let a = try ParquetWriter(path: dir + "/a.parquet", columns: columns, rowGroupRows: 700, pageRows: 250)
        for r in rows { try a.append(r) }
        try a.close()
        let b = try ParquetWriter(path: dir + "/b.parquet", columns: columns, rowGroupRows: 700, pageRows: 250)
        for (i, r) in rows.enumerated() {
            if i % 97 == 0 { // a refused row first: each way of getting a row wrong
                b.put(0, Int64(1)); b.put(1, Int64(1)); b.put(2, "x"); b.put(3, "y"); b.put(5, "refused")
                switch (i / 97) % 4 {
                case 0: b.putNull(4)                       // required column given null
                case 1: b.put(4, "text")                   // wrong kind
                case 2: break                              // a column left out
                default: b.put(4, Int64(1)); b.put(4, Int64(2)) // a column given twice
                }
                #expect(throws: ParquetError.self, "seed \(seed), row \(i)") { try b.endRow() }
                b.put(0, Int64(1)); b.put(1, Int64(Int32.max) + 1); b.put(2, "x"); b.putNull(3); b.put(4, Int64(1)); b.put(5, "refused")
                #expect(throws: ParquetError.self, "seed \(seed), row \(i)") { try b.endRow() } // int32 out of range
            }
            for (c, v) in r.enumerated() {
                switch v {
                case .null: b.putNull(c)
                case .int(let x): b.put(c, x)
                case .string(let s): if c == 3 { Array(s.utf8).withUnsafeBytes { b.put(c, utf8: $0) } } else { b.put(c, s) }
                default: Issue.record("unexpected value")
                }
            }
            try b.endRow()
        }
        try b.close()
        let bytesA = try Data(contentsOf: URL(fileURLWithPath: dir + "/a.parquet"))
        let bytesB = try Data(contentsOf: URL(fileURLWithPath: dir + "/b.parquet"))
        #expect(bytesA == bytesB, "seed \(seed)")
        let doc = try Self.read(dir + "/b.parquet")
        let got = doc["pyarrow"] as? [[String: Any]] ?? []
        #expect(got.count == rows.count, "seed \(seed)")
        for (g, r) in zip(got, rows) where !(g["s"] as? String == { if case .string(let s) = r[2] { return s }; return nil }()) {
            Issue.record("seed \(seed): s \(String(describing: g["s"])) vs \(r[2])"); break
        }
        for (g, r) in zip(got, rows) where !(g["j"] as? String == { if case .string(let s) = r[5] { return s }; return nil }()) {
            Issue.record("seed \(seed): j \(String(describing: g["j"])) vs \(r[5])"); break
        }
        // String statistics are byte-ordered: "" sorts first; the 400-byte value leaves a row group without them.
        let chunks = (doc["chunks"] as? [[String: Any]] ?? []).filter { ($0["column"] as? String) == "s" }
        #expect(chunks.count == 5)
        for c in chunks where c["min"] != nil && !(c["min"] is NSNull) {
            #expect((c["max"] as? String ?? "") >= (c["min"] as? String ?? "~"), "seed \(seed)")
        }
    }
}
