//! URLs as they may be shown: without the password a user put in them.

/// `url` with its userinfo (`user:password@`) and any `password=` query
/// value replaced by `***`, for errors and logs.
pub(crate) fn url(url: &str) -> String {
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    };
    let mut from = 0;
    while let Some(i) = out[from..].to_ascii_lowercase().find("password=") {
        let start = from + i + "password=".len();
        let end = out[start..]
            .find(['&', '#'])
            .map_or(out.len(), |e| start + e);
        out.replace_range(start..end, "***");
        from = start + 3;
    }
    out
}

/// The secrets `url` carries (the userinfo's parts, `password=` values),
/// to scrub from texts that may echo them, such as a library's error.
pub(crate) fn secrets(url: &str) -> Vec<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let mut secrets: Vec<String> = match authority.rfind('@') {
        Some(at) => authority[..at].split(':').map(str::to_string).collect(),
        None => Vec::new(),
    };
    let lower = url.to_ascii_lowercase();
    let mut pos = 0;
    while let Some(found) = lower[pos..].find("password=") {
        let start = pos + found + "password=".len();
        let len = url[start..].find(['&', '#']).unwrap_or(url.len() - start);
        secrets.push(url[start..start + len].to_string());
        pos = start + len;
    }
    secrets.retain(|s| !s.is_empty());
    secrets
}

/// `text` with every occurrence of each of `secrets` replaced by `***`.
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn userinfo_and_password_parameters_are_hidden() {
        assert_eq!(
            super::url("rediss://user:PASSWORD@cache.example:6380/0"),
            "rediss://***@cache.example:6380/0"
        );
        assert_eq!(
            super::url("redis://:p@ss@127.0.0.1/?db=1&password=PASSWORD&x=1"),
            "redis://***@127.0.0.1/?db=1&password=***&x=1"
        );
        assert_eq!(
            super::url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(
            super::url("unix:///s?PASSWORD=PASSWORD"),
            "unix:///s?PASSWORD=***"
        );
        assert_eq!(super::url("no scheme"), "no scheme");
        assert_eq!(super::url("redis://h/path@x"), "redis://h/path@x");
    }

    #[test]
    fn the_secrets_a_url_carries_are_scrubbed_from_other_texts() {
        let secrets = super::secrets("redis://user:PASSWORD@h/?Password=OTHER&x=1");
        assert_eq!(secrets, ["user", "PASSWORD", "OTHER"]);
        assert_eq!(
            super::scrub("auth failed for PASSWORD and OTHER", &secrets),
            "auth failed for *** and ***"
        );
        assert!(super::secrets("redis://127.0.0.1:6379/0").is_empty());
    }
}
