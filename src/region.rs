//! The data centers of Tencent Cloud Chat and their REST API domains.

use std::fmt;
use std::str::FromStr;

/// A Tencent Cloud Chat data center.
///
/// An SDKAppID lives in exactly one data center, and REST calls must go to that
/// center's domain: a mismatch is answered with error 70016 or 70020.
///
/// ```
/// use tim_follow::Region;
///
/// let region: Region = "sgp".parse().unwrap();
/// assert_eq!(region, Region::Singapore);
/// assert_eq!(region.domain(), "adminapisgp.im.qcloud.com");
/// assert_eq!(region.standby_domain(), "adminapisgp.my-imcloud.com");
/// assert_eq!(region.to_string(), "Singapore");
/// ```
///
/// The follow pages of Tencent's documentation list every region but Jakarta;
/// whether the follow feature is served there is not documented, so the crate
/// lets you call it and reports whatever the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Region {
    /// Mainland China (`console.tim.qq.com`). The default.
    #[default]
    China,
    /// Singapore (`adminapisgp.im.qcloud.com`).
    Singapore,
    /// Seoul (`adminapikr.im.qcloud.com`).
    Seoul,
    /// Tokyo (`adminapijpn.im.qcloud.com`).
    Tokyo,
    /// Frankfurt (`adminapiger.im.qcloud.com`).
    Frankfurt,
    /// Mumbai (`adminapiind.im.qcloud.com`).
    Mumbai,
    /// Silicon Valley, USA (`adminapiusa.im.qcloud.com`).
    SiliconValley,
    /// Jakarta (`adminapiidn.im.qcloud.com`).
    Jakarta,
}

/// One data center, declared once: everything the crate knows of it.
struct Info {
    name: &'static str,
    code: &'static str,
    domain: &'static str,
    standby_domain: &'static str,
    /// Other spellings `FromStr` accepts (lower case, without spaces, `-` or `_`).
    aliases: &'static [&'static str],
}

/// The data centers, in the order of [`Region::ALL`].
const TABLE: [Info; 8] = [
    Info {
        name: "China",
        code: "cn",
        domain: "console.tim.qq.com",
        standby_domain: "adminapi.my-imcloud.com",
        aliases: &[
            "china",
            "mainland",
            "chinesemainland",
            "apguangzhou",
            "apshanghai",
            "apbeijing",
        ],
    },
    Info {
        name: "Singapore",
        code: "sgp",
        domain: "adminapisgp.im.qcloud.com",
        standby_domain: "adminapisgp.my-imcloud.com",
        aliases: &["singapore", "sg", "apsingapore"],
    },
    Info {
        name: "Seoul",
        code: "kr",
        domain: "adminapikr.im.qcloud.com",
        standby_domain: "adminapikr.my-imcloud.com",
        aliases: &["seoul", "korea", "kor", "apseoul"],
    },
    Info {
        name: "Tokyo",
        code: "jpn",
        domain: "adminapijpn.im.qcloud.com",
        standby_domain: "adminapijpn.my-imcloud.com",
        aliases: &["tokyo", "japan", "jp", "aptokyo"],
    },
    Info {
        name: "Frankfurt",
        code: "ger",
        domain: "adminapiger.im.qcloud.com",
        standby_domain: "adminapiger.my-imcloud.com",
        aliases: &["frankfurt", "germany", "de", "fra", "eufrankfurt"],
    },
    Info {
        name: "Mumbai",
        code: "ind",
        domain: "adminapiind.im.qcloud.com",
        standby_domain: "adminapiind.my-imcloud.com",
        aliases: &["mumbai", "india", "in", "apmumbai"],
    },
    Info {
        name: "Silicon Valley",
        code: "usa",
        domain: "adminapiusa.im.qcloud.com",
        standby_domain: "adminapiusa.my-imcloud.com",
        aliases: &["siliconvalley", "us", "america", "nasiliconvalley"],
    },
    Info {
        name: "Jakarta",
        code: "idn",
        domain: "adminapiidn.im.qcloud.com",
        standby_domain: "adminapiidn.my-imcloud.com",
        aliases: &["jakarta", "indonesia", "id", "apjakarta"],
    },
];

impl Region {
    /// Every data center, in the order of Tencent's documentation.
    pub const ALL: [Region; 8] = [
        Region::China,
        Region::Singapore,
        Region::Seoul,
        Region::Tokyo,
        Region::Frankfurt,
        Region::Mumbai,
        Region::SiliconValley,
        Region::Jakarta,
    ];

    const fn info(self) -> &'static Info {
        &TABLE[self as usize]
    }

    /// The primary REST API domain of this data center.
    pub const fn domain(self) -> &'static str {
        self.info().domain
    }

    /// The standby domain, documented as the fallback when the primary name
    /// cannot be resolved (for example when an ISP hijacks its DNS).
    pub const fn standby_domain(self) -> &'static str {
        self.info().standby_domain
    }

    /// The human-readable name, as printed by `Display`.
    pub const fn name(self) -> &'static str {
        self.info().name
    }

    /// The short code used in the domain names (`cn` for China).
    pub const fn code(self) -> &'static str {
        self.info().code
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing an unknown region name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseRegionError {
    input: String,
}

impl fmt::Display for ParseRegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown region {:?}; expected one of: ", self.input)?;
        for (i, r) in TABLE.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let name = r.name.to_ascii_lowercase().replace(' ', "-");
            write!(f, "{sep}{name} ({})", r.code)?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseRegionError {}

impl FromStr for Region {
    type Err = ParseRegionError;

    /// Accepts the names (`Singapore`, `silicon-valley`, `Silicon Valley`), the
    /// domain codes (`sgp`, `kr`, `jpn`, `ger`, `ind`, `usa`, `idn`, `cn`), the
    /// ISO country codes (`sg`, `jp`, `de`, `in`, `us`, `id`), Tencent Cloud's
    /// region names (`ap-singapore`, `ap-seoul`, `ap-tokyo`, `eu-frankfurt`,
    /// `ap-mumbai`, `na-siliconvalley`, `ap-jakarta`; the mainland's
    /// `ap-guangzhou`, `ap-shanghai` and `ap-beijing` are the one China data
    /// center) and full domain names, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '_'))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let host = s.trim();
        Region::ALL
            .into_iter()
            .find(|r| {
                let i = r.info();
                norm == i.code
                    || i.aliases.contains(&norm.as_str())
                    || host.eq_ignore_ascii_case(i.domain)
                    || host.eq_ignore_ascii_case(i.standby_domain)
            })
            .ok_or_else(|| ParseRegionError {
                input: s.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tencent_cloud_region_names_are_accepted() {
        for (name, region) in [
            ("ap-singapore", Region::Singapore),
            ("ap-seoul", Region::Seoul),
            ("ap-tokyo", Region::Tokyo),
            ("eu-frankfurt", Region::Frankfurt),
            ("ap-mumbai", Region::Mumbai),
            ("na-siliconvalley", Region::SiliconValley),
            ("ap-jakarta", Region::Jakarta),
            ("ap-guangzhou", Region::China),
            ("ap-shanghai", Region::China),
            ("AP-Beijing", Region::China),
        ] {
            assert_eq!(name.parse::<Region>(), Ok(region), "{name}");
        }
        assert!("ap-mars".parse::<Region>().is_err());
    }

    #[test]
    fn six_domains_of_the_follow_delete_page_are_exact() {
        assert_eq!(Region::China.domain(), "console.tim.qq.com");
        assert_eq!(Region::Singapore.domain(), "adminapisgp.im.qcloud.com");
        assert_eq!(Region::Seoul.domain(), "adminapikr.im.qcloud.com");
        assert_eq!(Region::Frankfurt.domain(), "adminapiger.im.qcloud.com");
        assert_eq!(Region::Mumbai.domain(), "adminapiind.im.qcloud.com");
        assert_eq!(Region::SiliconValley.domain(), "adminapiusa.im.qcloud.com");
        assert_eq!(Region::Tokyo.domain(), "adminapijpn.im.qcloud.com");
        assert_eq!(Region::Jakarta.domain(), "adminapiidn.im.qcloud.com");
    }

    #[test]
    fn every_region_round_trips_through_display_code_and_domains() {
        for r in Region::ALL {
            assert_eq!(r.to_string().parse::<Region>(), Ok(r));
            assert_eq!(r.code().parse::<Region>(), Ok(r));
            assert_eq!(r.code().to_uppercase().parse::<Region>(), Ok(r));
            assert_eq!(r.domain().parse::<Region>(), Ok(r));
            assert_eq!(r.standby_domain().parse::<Region>(), Ok(r));
            assert!(r.standby_domain().ends_with(".my-imcloud.com"));
        }
    }

    #[test]
    fn short_forms_and_spellings_parse() {
        for (s, r) in [
            ("sgp", Region::Singapore),
            ("KR", Region::Seoul),
            ("jpn", Region::Tokyo),
            ("ger", Region::Frankfurt),
            ("ind", Region::Mumbai),
            ("usa", Region::SiliconValley),
            ("silicon_valley", Region::SiliconValley),
            ("Silicon Valley", Region::SiliconValley),
            ("idn", Region::Jakarta),
            (" china ", Region::China),
        ] {
            assert_eq!(s.parse::<Region>(), Ok(r), "{s}");
        }
    }

    #[test]
    fn unknown_region_is_a_clear_error() {
        let err = "mars".parse::<Region>().unwrap_err();
        assert!(err.to_string().contains("\"mars\""));
        assert!(err.to_string().contains("singapore (sgp)"));
    }
}
