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

    /// The primary REST API domain of this data center.
    pub const fn domain(self) -> &'static str {
        match self {
            Region::China => "console.tim.qq.com",
            Region::Singapore => "adminapisgp.im.qcloud.com",
            Region::Seoul => "adminapikr.im.qcloud.com",
            Region::Tokyo => "adminapijpn.im.qcloud.com",
            Region::Frankfurt => "adminapiger.im.qcloud.com",
            Region::Mumbai => "adminapiind.im.qcloud.com",
            Region::SiliconValley => "adminapiusa.im.qcloud.com",
            Region::Jakarta => "adminapiidn.im.qcloud.com",
        }
    }

    /// The standby domain, documented as the fallback when the primary name
    /// cannot be resolved (for example when an ISP hijacks its DNS).
    pub const fn standby_domain(self) -> &'static str {
        match self {
            Region::China => "adminapi.my-imcloud.com",
            Region::Singapore => "adminapisgp.my-imcloud.com",
            Region::Seoul => "adminapikr.my-imcloud.com",
            Region::Tokyo => "adminapijpn.my-imcloud.com",
            Region::Frankfurt => "adminapiger.my-imcloud.com",
            Region::Mumbai => "adminapiind.my-imcloud.com",
            Region::SiliconValley => "adminapiusa.my-imcloud.com",
            Region::Jakarta => "adminapiidn.my-imcloud.com",
        }
    }

    /// The human-readable name, as printed by `Display`.
    pub const fn name(self) -> &'static str {
        match self {
            Region::China => "China",
            Region::Singapore => "Singapore",
            Region::Seoul => "Seoul",
            Region::Tokyo => "Tokyo",
            Region::Frankfurt => "Frankfurt",
            Region::Mumbai => "Mumbai",
            Region::SiliconValley => "Silicon Valley",
            Region::Jakarta => "Jakarta",
        }
    }

    /// The short code used in the domain names (`cn` for China).
    pub const fn code(self) -> &'static str {
        match self {
            Region::China => "cn",
            Region::Singapore => "sgp",
            Region::Seoul => "kr",
            Region::Tokyo => "jpn",
            Region::Frankfurt => "ger",
            Region::Mumbai => "ind",
            Region::SiliconValley => "usa",
            Region::Jakarta => "idn",
        }
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
        write!(
            f,
            "unknown region {:?}; expected one of: china (cn), singapore (sgp), seoul (kr), \
             tokyo (jpn), frankfurt (ger), mumbai (ind), silicon-valley (usa), jakarta (idn)",
            self.input
        )
    }
}

impl std::error::Error for ParseRegionError {}

impl FromStr for Region {
    type Err = ParseRegionError;

    /// Accepts the names (`Singapore`, `silicon-valley`, `Silicon Valley`), the
    /// domain codes (`sgp`, `kr`, `jpn`, `ger`, `ind`, `usa`, `idn`, `cn`), the
    /// ISO country codes (`sg`, `jp`, `de`, `in`, `us`, `id`) and full domain
    /// names, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '_'))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let region = match norm.as_str() {
            "china" | "cn" | "mainland" | "chinesemainland" => Region::China,
            "singapore" | "sgp" | "sg" => Region::Singapore,
            "seoul" | "korea" | "kr" | "kor" => Region::Seoul,
            "tokyo" | "japan" | "jpn" | "jp" => Region::Tokyo,
            "frankfurt" | "germany" | "ger" | "de" | "fra" => Region::Frankfurt,
            "mumbai" | "india" | "ind" | "in" => Region::Mumbai,
            "siliconvalley" | "usa" | "us" | "america" => Region::SiliconValley,
            "jakarta" | "indonesia" | "idn" | "id" => Region::Jakarta,
            _ => {
                let host = s.trim();
                match Region::ALL.iter().find(|r| {
                    host.eq_ignore_ascii_case(r.domain())
                        || host.eq_ignore_ascii_case(r.standby_domain())
                }) {
                    Some(r) => *r,
                    None => {
                        return Err(ParseRegionError {
                            input: s.to_string(),
                        })
                    }
                }
            }
        };
        Ok(region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
