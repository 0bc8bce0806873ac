import Testing
@testable import Domain

@Suite struct MoneyTests {
    @Test(arguments: [
        ("249.9", 24990), ("249.90", 24990), ("249", 24900), ("0", 0), ("0.05", 5), ("007.5", 750),
        ("999999999.99", 99_999_999_999), ("0999999999.99", 99_999_999_999),
    ] as [(String, Int64)])
    func parsesExactCents(text: String, cents: Int64) {
        #expect(Money.parse(text) == .success(Money(cents: cents)))
    }

    @Test(arguments: [
        ("249.999", Money.ParseError.tooManyDecimals), ("1.000", .tooManyDecimals), ("-1", .negative),
        ("-0.5", .negative), ("1e3", .notANumber), ("", .notANumber), (".5", .notANumber), ("5.", .notANumber),
        (" 5", .notANumber), ("+5", .notANumber), ("5,00", .notANumber), ("1000000000000000", .tooLarge), ("1000000000", .tooLarge),
        ("999999999999999.99", .tooLarge),
    ])
    func rejectsBadAmounts(text: String, error: Money.ParseError) {
        #expect(Money.parse(text) == .failure(error))
    }

    @Test func describesWithTwoDecimals() {
        #expect(Money(cents: 24990).description == "249.90")
        #expect(Money(cents: 5).description == "0.05")
        #expect(Money(cents: 100).description == "1.00")
    }

    @Test func neverGoesThroughDoubles() {
        // 0.1 + 0.2 is not 0.3 in binary floating point; in cents it is.
        let a = try! Money.parse("0.1").get(), b = try! Money.parse("0.2").get()
        #expect(a + b == (try! Money.parse("0.3").get()))
        // 1.15 * 100 = 114.99999999999999 as a Double.
        #expect(Money.parse("1.15") == .success(Money(cents: 115)))
    }
}
