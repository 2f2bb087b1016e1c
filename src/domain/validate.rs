//! Input rules shared by sign-up, profile updates and admin edits.

use crate::domain::error::FieldError;

/// Shortest accepted password, in characters.
pub const PASSWORD_MIN: usize = 8;
/// Longest accepted password, in characters.
pub const PASSWORD_MAX: usize = 128;

/// Checks an email address's shape (one `@`, a dotted domain, no spaces, at most 254 bytes).
pub fn email(field: &str, v: &str, errors: &mut Vec<FieldError>) {
    let v = v.trim();
    let ok = v.len() <= 254
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        && match v.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && local.len() <= 64
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
            }
            None => false,
        };
    if !ok {
        errors.push(FieldError::new(field, "invalid_email", "must be a valid email address"));
    }
}

/// Checks a username: 3–64 characters of letters, digits, `.`, `_`, `-`, not shaped like an email.
pub fn username(field: &str, v: &str, errors: &mut Vec<FieldError>) {
    let v = v.trim();
    let n = v.chars().count();
    if !(3..=64).contains(&n) {
        errors.push(FieldError::new(field, "invalid_length", "must be 3 to 64 characters"));
    } else if !v.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        errors.push(FieldError::new(
            field,
            "invalid_characters",
            "may hold letters, digits, '.', '_' and '-' only",
        ));
    }
}

/// Checks a password against the policy: 8–128 characters and not the email.
pub fn password(field: &str, v: &str, email: Option<&str>, errors: &mut Vec<FieldError>) {
    let n = v.chars().count();
    if n < PASSWORD_MIN {
        errors.push(FieldError::new(
            field,
            "too_short",
            format!("must be at least {PASSWORD_MIN} characters"),
        ));
    } else if n > PASSWORD_MAX {
        errors.push(FieldError::new(
            field,
            "too_long",
            format!("must be at most {PASSWORD_MAX} characters"),
        ));
    } else if email.is_some_and(|e| e.trim().eq_ignore_ascii_case(v.trim())) {
        errors.push(FieldError::new(field, "same_as_email", "must not be the email address"));
    }
}

/// Checks a free-text name field: at most `max` characters, no control characters.
pub fn text(field: &str, v: &str, max: usize, errors: &mut Vec<FieldError>) {
    if v.chars().count() > max {
        errors.push(FieldError::new(
            field,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    } else if v.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "invalid_characters",
            "must not hold control characters",
        ));
    }
}

/// Checks a locale tag like `en` or `pt-BR`.
pub fn locale(field: &str, v: &str, errors: &mut Vec<FieldError>) {
    let ok = !v.is_empty()
        && v.len() <= 35
        && v.split('-')
            .all(|p| !p.is_empty() && p.len() <= 8 && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if !ok {
        errors.push(FieldError::new(
            field,
            "invalid_locale",
            "must be a language tag like en or pt-BR",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(f: impl Fn(&mut Vec<FieldError>)) -> Vec<String> {
        let mut e = Vec::new();
        f(&mut e);
        e.into_iter().map(|e| e.code).collect()
    }

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@example.org", "  x@y.z  "] {
            assert!(errs(|e| email("email", ok, e)).is_empty(), "{ok}");
        }
        for bad in [
            "", "plain", "@x.y", "a@", "a@b", "a@@b.c", "a b@c.d", "a@.b.c", "a@b..c", "a@b.c.",
        ] {
            assert_eq!(errs(|e| email("email", bad, e)), ["invalid_email"], "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert_eq!(errs(|e| password("p", "short", None, e)), ["too_short"]);
        assert_eq!(errs(|e| password("p", &"x".repeat(129), None, e)), ["too_long"]);
        assert!(errs(|e| password("p", &"x".repeat(128), None, e)).is_empty());
        assert_eq!(
            errs(|e| password("p", "Me@Example.com", Some("me@example.com"), e)),
            ["same_as_email"]
        );
        // Characters, not bytes: eight multi-byte characters pass.
        assert!(errs(|e| password("p", "ééééééééé", None, e)).is_empty());
    }

    #[test]
    fn usernames_and_locales() {
        assert!(errs(|e| username("u", "jane_doe-1", e)).is_empty());
        assert_eq!(errs(|e| username("u", "ab", e)), ["invalid_length"]);
        assert_eq!(
            errs(|e| username("u", "a'; DROP TABLE users;--", e)),
            ["invalid_characters"]
        );
        assert_eq!(errs(|e| username("u", "jane@example.com", e)), ["invalid_characters"]);
        assert!(errs(|e| locale("l", "pt-BR", e)).is_empty());
        assert_eq!(errs(|e| locale("l", "pt_BR", e)), ["invalid_locale"]);
    }
}
