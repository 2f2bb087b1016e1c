//! Settings of the browser sign-in: hosted pages' branding, sign-up switch, SSO session lifetimes.

use std::time::Duration;

use super::ConfigError;
use super::parse::Source;

/// Hosted pages and browser sessions (SPEC §10).
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// Product name shown on the pages.
    pub name: String,
    /// Logo image URL (absolute `https://…`, or a path on this server).
    pub logo_url: Option<String>,
    /// Primary colour, `#rrggbb`.
    pub primary_color: String,
    /// Extra stylesheet URL loaded after ours.
    pub css_url: Option<String>,
    /// Whether `/signup` is offered.
    pub signup_enabled: bool,
    /// A browser session ends after this long without use.
    pub sso_idle_ttl: Duration,
    /// A browser session ends this long after sign-in, whatever happens.
    pub sso_max_ttl: Duration,
}

impl UiConfig {
    pub(super) fn from_source(s: &Source) -> Result<Self, ConfigError> {
        let sso_idle_ttl = s.duration_at_least("PORTCULLIS_SSO_IDLE_TTL", "8h", 60)?;
        let sso_max_ttl = s.duration_at_least("PORTCULLIS_SSO_MAX_TTL", "7d", 60)?;
        if sso_idle_ttl > sso_max_ttl {
            return Err(s.error("PORTCULLIS_SSO_IDLE_TTL", "must not exceed PORTCULLIS_SSO_MAX_TTL"));
        }
        Ok(UiConfig {
            name: s.parse("PORTCULLIS_UI_NAME", "portcullis", |v| {
                if v.chars().count() > 60 {
                    Err("must be at most 60 characters".to_string())
                } else {
                    Ok(v.to_string())
                }
            })?,
            logo_url: url_setting(s, "PORTCULLIS_UI_LOGO_URL")?,
            primary_color: s.parse("PORTCULLIS_UI_PRIMARY_COLOR", "#1f4fd1", |v| {
                let hex = v.strip_prefix('#').unwrap_or("");
                let rgb = u32::from_str_radix(hex, 16).ok().filter(|_| hex.len() == 6);
                let Some(rgb) = rgb else {
                    return Err("must look like #1f4fd1".to_string());
                };
                // White text sits on it and it colours links on white: WCAG AA asks 4.5:1.
                let ratio = contrast_with_white(rgb);
                if ratio < 4.5 {
                    return Err(format!(
                        "has a contrast of {ratio:.2}:1 against white; pick a darker colour (4.5:1 or more)"
                    ));
                }
                Ok(v.to_ascii_lowercase())
            })?,
            css_url: url_setting(s, "PORTCULLIS_UI_CSS_URL")?,
            signup_enabled: s.parse("PORTCULLIS_SIGNUP_ENABLED", "true", |v| match v {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err("must be true or false".to_string()),
            })?,
            sso_idle_ttl,
            sso_max_ttl,
        })
    }
}

/// WCAG 2 contrast ratio of an sRGB colour against white.
fn contrast_with_white(rgb: u32) -> f64 {
    let channel = |shift: u32| {
        let c = f64::from((rgb >> shift) & 0xff) / 255.0;
        if c <= 0.040_45 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * channel(16) + 0.7152 * channel(8) + 0.0722 * channel(0);
    1.05 / (luminance + 0.05)
}

/// An optional URL: `https://…` or a path on this server (`/…`), no quotes or spaces, so it
/// can go into a Content-Security-Policy and an HTML attribute as it is.
fn url_setting(s: &Source, name: &str) -> Result<Option<String>, ConfigError> {
    let Some(v) = s.string(name)? else {
        return Ok(None);
    };
    let plain = v.bytes().all(|b| b.is_ascii_graphic() && !b"\"'<>;,\\`".contains(&b));
    let path = v.starts_with('/') && !v.starts_with("//");
    let https = url::Url::parse(&v).is_ok_and(|u| u.scheme() == "https" && u.host().is_some());
    if plain && (path || https) {
        Ok(Some(v))
    } else {
        Err(s.error(name, "must be an https:// URL or a path starting with /"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn contrast_against_white() {
        assert!((super::contrast_with_white(0x000000) - 21.0).abs() < 0.01);
        assert!((super::contrast_with_white(0xffffff) - 1.0).abs() < 0.01);
        assert!(super::contrast_with_white(0x1f4fd1) >= 4.5, "the default passes");
        assert!(super::contrast_with_white(0xffcc00) < 4.5);
    }
}
