import NIOHTTP1
@testable import SkiffHTTP
import Testing

struct HTTPUpgradeTests {
    func head(_ headers: [(String, String)], method: HTTPMethod = .GET) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: "/", headers: HTTPHeaders(headers))
    }

    @Test func aWebSocketRequestAsksForAnUpgrade() {
        let request = head([("Connection", "keep-alive, Upgrade"), ("Upgrade", "WebSocket")])
        #expect(HTTPUpgrade.requestedType(request) == "websocket")
        #expect(HTTPUpgrade.endsHTTP(request))
    }

    @Test func upgradeWithoutConnectionUpgradeIsAPlainRequest() {
        let request = head([("Upgrade", "websocket")])
        #expect(HTTPUpgrade.requestedType(request) == nil)
        #expect(!HTTPUpgrade.endsHTTP(request), "llhttp only switches when Connection names upgrade")
    }

    @Test func h2cIsServedAsHTTP1ButStillEndsTheConnection() {
        let request = head([("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"), ("HTTP2-Settings", "AAMAAABkAAQAAP__")])
        #expect(HTTPUpgrade.requestedType(request) == nil)
        #expect(HTTPUpgrade.endsHTTP(request))
    }

    @Test func connectEndsTheConnectionWithoutAnUpgradeType() {
        let request = head([("Host", "example.com:443")], method: .CONNECT)
        #expect(HTTPUpgrade.requestedType(request) == nil)
        #expect(HTTPUpgrade.endsHTTP(request))
    }

    @Test func theRouteDecidesEitherWayElseTheConnectionManager() {
        #expect(HTTPUpgrade.isAllowed("websocket", connectionManager: ["websocket"], route: nil))
        #expect(!HTTPUpgrade.isAllowed("websocket", connectionManager: ["websocket"], route: ["websocket": false]))
        #expect(HTTPUpgrade.isAllowed("websocket", connectionManager: [], route: ["websocket": true]))
        #expect(!HTTPUpgrade.isAllowed("websocket", connectionManager: [], route: ["other": true]))
    }

    @Test func theSwitchHeadersSurviveAsThePeerWroteThem() {
        var stripped = HTTPHeaders([("host", "x")])
        HTTPUpgrade.restoreHeaders(&stripped, from: HTTPHeaders([("Connection", "Upgrade"), ("Upgrade", "websocket")]))
        #expect(stripped["connection"] == ["Upgrade"])
        #expect(stripped["upgrade"] == ["websocket"])
        var fallback = HTTPHeaders()
        HTTPUpgrade.restoreHeaders(&fallback, from: HTTPHeaders([("Connection", "close"), ("Upgrade", "websocket")]))
        #expect(fallback["connection"] == ["upgrade"])
    }
}
