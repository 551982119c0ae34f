import EnvoyAPI
import SkiffCore

/// `stats_config` → `StatsConfig`: `stats_tags` (regex or fixed value; an empty regex picks
/// Envoy's default extractor of that name), `use_all_default_tags`, `histogram_bucket_settings`.
/// Errors follow Envoy's: a tag name given twice, an unknown name without a regex.
enum StatsConfigTranslator {
    static func translate(_ stats: Envoy_Config_Metrics_V3_StatsConfig, at path: FieldPath) throws -> StatsConfig {
        try SupportedFields.check(stats, allowed: ["stats_tags", "use_all_default_tags", "histogram_bucket_settings"], at: path)
        var config = StatsConfig()
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
}
