import Foundation
import SkiffTelemetry
import Testing

/// `docs/STATS.md` is the catalogue operators read: every counter, gauge and histogram a family
/// declares must be listed there.
struct StatsCatalogueTests {
    static let catalogue: Set<String> = {
        let path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/STATS.md").path
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        var names = Set<String>()
        for token in text.split(separator: "`").enumerated().filter({ $0.offset % 2 == 1 }).map({ String($0.element) }) {
            names.formUnion(expand(token))
        }
        return names
    }()

    /// `a_{b,c}_d` → `a_b_d`, `a_c_d` (every brace group).
    static func expand(_ token: String) -> [String] {
        guard let open = token.firstIndex(of: "{"), let close = token[open...].firstIndex(of: "}") else { return [token] }
        let head = token[..<open], tail = String(token[token.index(after: close)...])
        return token[token.index(after: open)..<close].split(separator: ",").flatMap { option in
            expand(tail).map { head + option + $0 }
        }
    }

    @Test(arguments: StatFamily.allCases)
    func everyDeclaredStatIsCatalogued(_ family: StatFamily) {
        #expect(!Self.catalogue.isEmpty, "docs/STATS.md not found")
        for name in family.counterNames + family.gaugeNames + family.histogramNames {
            #expect(Self.catalogue.contains(name), "\(family.rawValue): \(name) is missing from docs/STATS.md")
        }
    }
}
