import Testing
@testable import Domain

@Suite struct RFC3339Tests {
    // 2024-01-01T00:00:00Z is 19723 days after the epoch: 19723 × 86400 s = 1 704 067 200 s.
    static let newYear2024: Int64 = 1_704_067_200_000

    @Test func parsesUTC() {
        #expect(RFC3339.parse("2024-01-01T00:00:00Z") == Self.newYear2024)
        #expect(RFC3339.parse("2024-01-01T12:00:00Z") == Self.newYear2024 + 12 * 3_600_000)
        #expect(RFC3339.parse("1970-01-01T00:00:00Z") == 0)
    }

    @Test func convertsAnyOffsetToUTC() {
        #expect(RFC3339.parse("2024-01-01T02:00:00+02:00") == Self.newYear2024)
        #expect(RFC3339.parse("2023-12-31T19:00:00-05:00") == Self.newYear2024)
        #expect(RFC3339.parse("2024-01-01T05:45:00+05:45") == Self.newYear2024)
        #expect(RFC3339.parse("2024-01-01t00:00:00z") == Self.newYear2024)
        #expect(RFC3339.parse("2024-01-01 00:00:00Z") == Self.newYear2024)
    }

    @Test func keepsMillisecondsAndTruncatesFiner() {
        #expect(RFC3339.parse("2024-01-01T00:00:00.5Z") == Self.newYear2024 + 500)
        #expect(RFC3339.parse("2024-01-01T00:00:00.123Z") == Self.newYear2024 + 123)
        #expect(RFC3339.parse("2024-01-01T00:00:00.123999999Z") == Self.newYear2024 + 123)
    }

    @Test func leapDayAndLeapSecond() {
        #expect(RFC3339.parse("2024-02-29T00:00:00Z") == Self.newYear2024 + 59 * 86_400_000)
        #expect(RFC3339.parse("2016-12-31T23:59:60Z") == RFC3339.parse("2016-12-31T23:59:59.999Z"))
    }

    @Test(arguments: ["2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-32T00:00:00Z", "2024-01-01T24:00:00Z",
                      "2024-01-01T00:60:00Z", "2024-01-01T00:00:00", "2024-01-01", "2024-01-01T00:00:00+2:00",
                      "2024-01-01T00:00:00.Z", "yesterday", "", "2024-01-01T00:00:00Zjunk", "2024-1-01T00:00:00Z"])
    func rejects(text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test func formatsRoundTrip() {
        let ms = RFC3339.parse("2026-03-01T07:22:17.101Z")!
        #expect(RFC3339.format(ms) == "2026-03-01T07:22:17.101Z")
        #expect(RFC3339.format(ms, offsetSeconds: 7200) == "2026-03-01T09:22:17.101+02:00")
        #expect(RFC3339.parse(RFC3339.format(ms, offsetSeconds: -16200)) == ms)
    }
}

@Suite struct TenantZoneTests {
    func ms(_ s: String) -> Int64 { RFC3339.parse(s)! }

    @Test func johannesburgDaysStartAt2200UTC() {
        var z = TenantZone.johannesburg
        #expect(z.dayStart(ms("2026-03-01T10:00:00Z")) == ms("2026-02-28T22:00:00Z"))
        #expect(z.dayStart(ms("2026-03-01T21:59:59.999Z")) == ms("2026-02-28T22:00:00Z"))
        #expect(z.dayStart(ms("2026-03-01T22:00:00Z")) == ms("2026-03-01T22:00:00Z"))
        #expect(z.hourStart(ms("2026-03-01T10:59:00Z")) == ms("2026-03-01T10:00:00Z"))
    }

    @Test func monthBoundaryInJohannesburg() {
        var z = TenantZone.johannesburg
        // 31 March 23:30 UTC is already 1 April 01:30 in Johannesburg.
        #expect(z.monthStart(ms("2026-03-31T23:30:00Z")) == ms("2026-03-31T22:00:00Z"))
        #expect(z.monthStart(ms("2026-03-31T21:30:00Z")) == ms("2026-02-28T22:00:00Z"))
        #expect(z.nextMonthStart(ms("2026-12-15T12:00:00Z")) == ms("2026-12-31T22:00:00Z"))
        #expect(z.localDate(ms("2026-03-31T22:00:00Z")) == Civil.Date(year: 2026, month: 4, day: 1))
    }

    @Test func otherZones() {
        var nairobi = TenantZone(identifier: "Africa/Nairobi")!
        #expect(nairobi.dayStart(ms("2026-03-01T10:00:00Z")) == ms("2026-02-28T21:00:00Z"))
        var kathmandu = TenantZone(identifier: "Asia/Kathmandu")! // UTC+05:45
        #expect(kathmandu.hourStart(ms("2026-03-01T10:20:00Z")) == ms("2026-03-01T10:15:00Z"))
        // London springs forward on 29 March 2026 at 01:00 UTC: that local day has 23 hours.
        var london = TenantZone(identifier: "Europe/London")!
        #expect(london.dayStart(ms("2026-03-29T12:00:00Z")) == ms("2026-03-29T00:00:00Z"))
        #expect(london.dayStart(ms("2026-03-30T12:00:00Z")) == ms("2026-03-29T23:00:00Z"))
        #expect(london.dayStart(ms("2026-03-28T12:00:00Z")) == ms("2026-03-28T00:00:00Z"))
        #expect(TenantZone(identifier: "Mars/Olympus_Mons") == nil)
    }
}

@Suite struct DurationTextTests {
    @Test func parses() {
        #expect(DurationText.parseMillis("20s") == 20_000)
        #expect(DurationText.parseMillis("500ms") == 500)
        #expect(DurationText.parseMillis("1h30m") == 5_400_000)
        #expect(DurationText.parseMillis("1d") == 86_400_000)
        #expect(DurationText.parseMillis("0") == 0)
        for bad in ["", "s", "20", "20x", "-5s", "1.5s", "5 s"] { #expect(DurationText.parseMillis(bad) == nil, "\(bad)") }
        #expect(DurationText.format(5_400_000) == "1h30m")
    }
}
