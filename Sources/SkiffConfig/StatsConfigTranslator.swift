import EnvoyAPI
import SkiffCore

/// `stats_config` → `StatsConfig`: `stats_tags` (regex or fixed value; an empty regex picks
/// Envoy's default extractor of that name), `use_all_default_tags`, `histogram_bucket_settings`.
/// Errors follow Envoy's: a tag name given twice, an unknown name without a regex.
enum StatsConfigTranslator {
    static func translate(_ stats: Envoy_Config_Metrics_V3_StatsConfig, at path: FieldPath) throws -> StatsConfig {
        try SupportedFields.check(stats, allowed: ["stats_tags", "use_all_default_tags", "histogram_bucket_settings", "stats_matcher"], at: path)
        var config = StatsConfig()
        if stats.hasStatsMatcher {
            config.matcher = try matcher(stats.statsMatcher, at: path / "stats_matcher")
        }
        config.useDefaultTags = stats.hasUseAllDefaultTags ? stats.useAllDefaultTags.value : true
        var names = Set(config.useDefaultTags ? StatsConfig.defaultTags.map(\.name) : [])
        for (index, specifier) in stats.statsTags.enumerated() {
            let tagPath = path / "stats_tags" / index
            try SupportedFields.check(specifier, allowed: ["tag_name", "regex", "fixed_value"], at: tagPath)
            let name = specifier.tagName
            guard !name.isEmpty else { throw (tagPath / "tag_name").error("tag_name is required") }
            guard names.insert(name).inserted else {
                throw (tagPath / "tag_name").error("Tag name '\(name)' specified twice.")
            }
            switch specifier.tagValue {
            case .fixedValue(let value):
                config.tags.append(StatsConfig.Tag(name: name, value: .fixed(value)))
            case .regex(let pattern) where !pattern.isEmpty:
                let tag = StatsConfig.Tag(name: name, value: .regex(pattern))
                if let problem = tag.problem { throw (tagPath / "regex").error(problem) }
                config.tags.append(tag)
            case .regex, nil:
                let defaults = StatsConfig.defaultTags.filter { $0.name == name }
                guard !defaults.isEmpty else {
                    throw (tagPath / "regex").error("No regex specified for tag specifier and no default regex for name: '\(name)'")
                }
                config.tags += defaults
            }
        }
        for (index, setting) in stats.histogramBucketSettings.enumerated() {
            let settingPath = path / "histogram_bucket_settings" / index
            try SupportedFields.check(setting, allowed: ["match", "buckets"], at: settingPath)
            guard setting.hasMatch else { throw (settingPath / "match").error("match is required") }
            let match = try RouteTranslator.stringMatch(setting.match, at: settingPath / "match")
            guard !setting.buckets.isEmpty else { throw (settingPath / "buckets").error("at least one bucket is required") }
            guard setting.buckets.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw (settingPath / "buckets").error("buckets must be positive numbers")
            }
            guard Set(setting.buckets).count == setting.buckets.count else {
                throw (settingPath / "buckets").error("buckets must be unique")
            }
            config.bucketRules.append(StatsConfig.BucketRule(match: match, buckets: setting.buckets.sorted()))
        }
        return config
    }

    /// `stats_matcher`: `reject_all`, `inclusion_list` or `exclusion_list` of string matchers on
    /// the dotted stat name (Istio's bootstrap sends an inclusion list).
    static func matcher(_ matcher: Envoy_Config_Metrics_V3_StatsMatcher, at path: FieldPath) throws -> StatsConfig.Matcher {
        func rules(_ list: Envoy_Type_Matcher_V3_ListStringMatcher, at listPath: FieldPath) throws -> [HeaderMatcher.Rule] {
            try list.patterns.enumerated().map { index, pattern in
                try RouteTranslator.stringMatch(pattern, at: listPath / "patterns" / index)
            }
        }
        switch matcher.statsMatcher {
        case .rejectAll(let reject): return reject ? .rejectAll : .all
        case .inclusionList(let list): return .include(try rules(list, at: path / "inclusion_list"))
        case .exclusionList(let list): return .exclude(try rules(list, at: path / "exclusion_list"))
        case nil: throw path.error("one of reject_all, inclusion_list or exclusion_list is required")
        }
    }
}
