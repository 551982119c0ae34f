import SkiffCore

/// Chooses the virtual host for a request's authority, in Envoy's order: exact domain, then the
/// longest `*.suffix` wildcard, then the longest `prefix.*` wildcard, then `*`.
public enum VirtualHostSelector {
    public static func select(in table: RouteTable, authority: String) -> VirtualHost? {
        let host = authority.lowercased()
        if let index = table.exactDomains[host] {
            return table.virtualHosts[index]
        }
        for entry in table.suffixDomains where host.hasSuffix(entry.suffix) && host.count > entry.suffix.count {
            return table.virtualHosts[entry.index]
        }
        for entry in table.prefixDomains where host.hasPrefix(entry.prefix) && host.count > entry.prefix.count {
            return table.virtualHosts[entry.index]
        }
        return table.defaultHost.map { table.virtualHosts[$0] }
    }
}
