//! The message catalog: every string the hosted pages show, by language. English ships;
//! another language is a second table with the same keys, picked through `ui_locales`.

/// English strings.
const EN: &[(&str, &str)] = &[
    ("skip", "Skip to the form"),
    ("sign_in_title", "Sign in"),
    ("sign_in_to", "to continue to"),
    ("login_label", "Email or username"),
    ("password_label", "Password"),
    ("sign_in_button", "Sign in"),
    ("forgot_link", "Forgot your password?"),
    ("no_account", "No account yet?"),
    ("sign_up_link", "Create one"),
    ("bad_credentials", "Wrong email, username or password."),
    (
        "locked",
        "Too many failed attempts. This account is locked for a while; try again later or reset your password.",
    ),
    ("disabled", "This account is disabled."),
    ("throttled", "Too many attempts. Wait a moment and try again."),
    ("sign_up_title", "Create your account"),
    ("email_label", "Email"),
    ("username_label", "Username (optional)"),
    ("new_password_label", "Password (at least 8 characters)"),
    ("sign_up_button", "Create account"),
    ("have_account", "Already have an account?"),
    ("sign_in_link", "Sign in"),
    ("email_taken", "An account with this email exists already."),
    ("username_taken", "This username is taken."),
    ("consent_title", "Allow access?"),
    ("consent_intro", "wants to access your account"),
    ("consent_as", "Signed in as"),
    ("consent_scopes", "It asks for:"),
    ("allow_button", "Allow"),
    ("deny_button", "Deny"),
    ("scope_openid", "Know who you are"),
    ("scope_profile", "Your name and profile"),
    ("scope_email", "Your email address"),
    ("scope_offline_access", "Stay connected while you are away"),
    ("scope_other", "Access to"),
    ("error_title", "Something went wrong"),
    ("error_back", "Go back to the application and try again."),
    ("forgot_title", "Reset your password"),
    (
        "forgot_intro",
        "Enter your email. If an account uses it, we send a link to choose a new password.",
    ),
    ("forgot_button", "Send the link"),
    (
        "forgot_sent",
        "If an account uses this email, a link is on its way. It works once and expires soon.",
    ),
    ("reset_title", "Choose a new password"),
    ("reset_button", "Set the password"),
    (
        "reset_done",
        "Your password is changed and every session was signed out. Sign in with the new password.",
    ),
    (
        "reset_invalid",
        "This link is invalid or has expired. Ask for a new one.",
    ),
    ("verify_title", "Verify your email"),
    ("verify_intro", "Confirm that this email address is yours."),
    ("verify_button", "Verify my email"),
    ("verify_done", "Thank you: your email address is verified."),
    ("verify_invalid", "This link is invalid or has expired."),
    ("logout_title", "Sign out?"),
    ("logout_intro", "Do you want to sign out of"),
    ("logout_button", "Sign out"),
    ("logout_cancel", "Stay signed in"),
    ("logged_out", "You are signed out."),
    ("account_title", "Your account"),
    ("profile_heading", "Profile"),
    ("first_name_label", "First name"),
    ("last_name_label", "Last name"),
    ("display_name_label", "Display name"),
    ("save_button", "Save"),
    ("saved", "Saved."),
    ("sessions_heading", "Sessions"),
    ("session_browser", "Browser sign-in"),
    ("session_current", "this browser"),
    ("session_started", "Started"),
    ("session_from", "from"),
    ("end_button", "End"),
    ("apps_heading", "Applications you allowed"),
    ("no_apps", "None yet."),
    ("revoke_button", "Revoke"),
    ("password_heading", "Password"),
    ("current_password_label", "Current password"),
    ("change_password_button", "Change password"),
    (
        "password_changed",
        "Password changed. Your other sessions were signed out.",
    ),
    ("wrong_password", "The current password is wrong."),
    ("security_heading", "Two-step sign-in"),
    (
        "security_soon",
        "A second factor (authenticator app or passkey) can be added here soon.",
    ),
    ("sign_out_button", "Sign out"),
    ("csrf_failed", "This form expired. Reload the page and try again."),
    ("signup_disabled", "Sign-up is turned off on this server."),
    (
        "unexpected",
        "An unexpected error happened on our side. Try again in a moment.",
    ),
    ("not_found", "There is no page here."),
];

/// Every language the pages speak, by BCP 47 primary tag; the first is the default.
const LANGUAGES: &[(&str, &[(&str, &str)])] = &[("en", EN)];

/// The language and strings for the first supported entry of `ui_locales` (a space-separated
/// list of BCP 47 tags, OIDC Core §3.1.2.1), or the default language.
pub fn catalog(ui_locales: Option<&str>) -> (&'static str, &'static [(&'static str, &'static str)]) {
    let wanted = ui_locales.unwrap_or_default().split(' ').filter(|t| !t.is_empty());
    for tag in wanted {
        let primary = tag.split('-').next().unwrap_or_default().to_ascii_lowercase();
        if let Some((lang, table)) = LANGUAGES.iter().find(|(l, _)| *l == primary) {
            return (lang, table);
        }
    }
    LANGUAGES[0]
}

/// One string of the English catalog (for texts built outside templates).
pub fn text(key: &str) -> &'static str {
    EN.iter().find(|(k, _)| *k == key).map_or("", |(_, v)| v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ui_locales_pick_a_supported_language_or_the_default() {
        assert_eq!(super::catalog(Some("de-CH en-GB")).0, "en");
        assert_eq!(super::catalog(Some("fr")).0, "en");
        assert_eq!(super::catalog(None).0, "en");
    }

    #[test]
    fn keys_are_unique() {
        let mut keys: Vec<&str> = super::EN.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(n, keys.len());
    }
}
