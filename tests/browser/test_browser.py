"""Real-browser test of the hosted sign-in pages (SPEC §10), run by scripts/browser-test.sh.

Headless system Chromium, driven by Playwright, against a running portcullis (ISSUER) and the
openid-client relying party of rp.mjs (RP). The RP starts each flow (PKCE S256, state, nonce,
from discovery) and validates the result strictly; this script plays the user and checks what a
user's browser sees: pages, redirects, the SSO cookie, console errors, CSP, pages without
JavaScript. It writes screenshots (desktop 1280 px and mobile 390 px) and prints page weight and
render timings (measured, reported, never asserted).

Environment: ISSUER, RP, CHROMIUM, SHOTS, USER_EMAIL, USER_PASSWORD, CLIENT_CONSENT,
CLIENT_FIRST_PARTY. Exit status 0 only when every check passed.
"""

import json
import os
import re
import sys
import traceback
import urllib.request
from urllib.parse import parse_qs, urlencode, urlsplit

from playwright.sync_api import sync_playwright

ISSUER = os.environ["ISSUER"].rstrip("/")
RP = os.environ["RP"].rstrip("/")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ["SHOTS"]
EMAIL = os.environ["USER_EMAIL"]
PASSWORD = os.environ["USER_PASSWORD"]
CLIENT_CONSENT = os.environ["CLIENT_CONSENT"]
CLIENT_FIRST_PARTY = os.environ["CLIENT_FIRST_PARTY"]
COOKIE = "__Host-portcullis_session"
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000


class Abort(Exception):
    """A failed check that later steps depend on."""


passed, failed, notes, metrics = [], [], [], []


def check(name, cond, detail="", fatal=False):
    if cond:
        passed.append(name)
        print(f"ok   - {name}", flush=True)
    else:
        failed.append(name)
        print(f"FAIL - {name}{': ' + str(detail) if detail else ''}", flush=True)
        if fatal:
            raise Abort(name)
    return cond


def note(text):
    notes.append(text)
    print(f"note - {text}", flush=True)


def path_of(url):
    return urlsplit(url).path


def on_issuer(url):
    return url.startswith(ISSUER + "/")


def on_rp(url):
    return url.startswith(RP + "/")


def rp_result(page):
    """The JSON the RP answered on the page the browser landed on."""
    text = page.locator("body").inner_text(timeout=TIMEOUT_MS)
    try:
        return json.loads(text)
    except ValueError:
        return {"ok": False, "unparsed": text[:500]}


def wait_until_off_issuer(page):
    page.wait_for_url(lambda u: on_rp(u), timeout=TIMEOUT_MS)
    page.wait_for_load_state("load")


class Watch:
    """Records, for one page: documents navigated to, console errors, page errors, and the
    issuer's HTML responses (to check their security headers)."""

    def __init__(self, page):
        self.navigations, self.console_errors, self.page_errors, self.documents = [], [], [], []
        self.favicon_missing = False
        page.on("request", self._request)
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("response", self._response)

    def _request(self, req):
        if req.is_navigation_request() and req.frame.parent_frame is None:
            self.navigations.append(req.url)

    def _console(self, msg):
        if msg.type in ("error", "warning") and "Content Security Policy" in msg.text:
            self.console_errors.append(f"[{msg.type}] {msg.text} @ {msg.location.get('url')}")
        elif msg.type == "error":
            where = msg.location.get("url") or ""
            if on_rp(where):
                return  # the RP's own JSON answers; only the issuer's pages are under test
            if msg.text.startswith("Failed to load resource") and where in self.navigations:
                return  # a page served with an error status on purpose (error page, wrong password)
            if msg.text.startswith("Failed to load resource") and path_of(where) == "/favicon.ico":
                self.favicon_missing = True
                return
            self.console_errors.append(f"{msg.text} @ {where}")

    def _response(self, resp):
        if resp.request.resource_type == "document" and on_issuer(resp.url):
            self.documents.append(resp)

    def set_cookie_headers(self):
        """The Set-Cookie headers of the issuer's documents so far (for diagnostics)."""
        out = []
        for resp in self.documents:
            try:
                value = resp.header_value("set-cookie")
            except Exception:
                value = None
            if value:
                out.append(f"{resp.request.method} {path_of(resp.url)} -> {resp.status}: {value}")
        return out

    def reset_navigations(self):
        self.navigations.clear()


def measure(page, context, label):
    """Page weight (HTML + CSS bytes, uncompressed) and render timings of the loaded page."""
    data = page.evaluate(
        """async () => {
            // First paint is recorded after the first frame, which may trail the load event.
            await new Promise(done => {
                if (performance.getEntriesByName('first-contentful-paint').length) return done();
                new PerformanceObserver(() => done()).observe({type: 'paint', buffered: true});
                setTimeout(done, 3000);
            });
            const nav = performance.getEntriesByType('navigation')[0];
            const paint = Object.fromEntries(performance.getEntriesByType('paint').map(p => [p.name, p.startTime]));
            const css = [...document.querySelectorAll('link[rel~="stylesheet"]')].map(l => l.href);
            const res = performance.getEntriesByType('resource').map(r => ({name: r.name, type: r.initiatorType, size: r.decodedBodySize}));
            return {
                html: nav.decodedBodySize, transfer: nav.transferSize,
                redirect_ms: nav.redirectEnd - nav.redirectStart,
                ttfb_ms: nav.responseStart - nav.startTime,
                dcl_ms: nav.domContentLoadedEventEnd - nav.startTime,
                load_ms: nav.loadEventEnd - nav.startTime,
                fcp_ms: paint['first-contentful-paint'] ?? null,
                css, res, inline_styles: document.querySelectorAll('style').length,
            };
        }"""
    )
    css_bytes = 0
    for href in data["css"]:
        r = context.request.get(href, timeout=TIMEOUT_MS)
        css_bytes += len(r.body())
    other = sum(r["size"] for r in data["res"] if r["name"] not in data["css"])
    row = {
        "page": label,
        "html_bytes": data["html"],
        "css_bytes": css_bytes,
        "other_bytes": other,
        "requests": 1 + len(data["res"]),
        "ttfb_ms": round(data["ttfb_ms"], 1),
        "fcp_ms": None if data["fcp_ms"] is None else round(data["fcp_ms"], 1),
        "dcl_ms": round(data["dcl_ms"], 1),
        "load_ms": round(data["load_ms"], 1),
        "redirect_ms": round(data["redirect_ms"], 1),
    }
    metrics.append(row)
    return row


def accessibility(page, label):
    """Cheap, objective checks: labels, lang, title, viewport, text contrast (WCAG AA)."""
    found = page.evaluate(
        """() => {
            const out = {unlabelled: [], low_contrast: []};
            const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
            for (const el of document.querySelectorAll('input, select, textarea')) {
                if (el.type === 'hidden' || !visible(el)) continue;
                const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
                if (!named) out.unlabelled.push(el.name || el.id || el.outerHTML.slice(0, 80));
            }
            const rgb = s => { const m = s.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
                const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
            const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
            const background = el => { for (let e = el; e; e = e.parentElement) {
                    const c = rgb(getComputedStyle(e).backgroundColor); if (c && c.a > 0.5) return c; }
                return {r: 255, g: 255, b: 255, a: 1}; };
            const seen = new Set();
            for (const el of document.querySelectorAll('h1, h2, h3, p, label, a, button, li, span, small, dt, dd, td, th, legend')) {
                if (!visible(el) || !el.textContent.trim()) continue;
                const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
                if (!own) continue;
                const st = getComputedStyle(el);
                const fg = rgb(st.color), bg = background(el);
                if (!fg) continue;
                const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
                const ratio = (a + 0.05) / (b + 0.05);
                const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
                const large = size >= 24 || (bold && size >= 18.66);
                const need = large ? 3 : 4.5;
                if (ratio < need) {
                    const key = el.tagName + st.color + st.backgroundColor;
                    if (!seen.has(key)) { seen.add(key);
                        out.low_contrast.push(`${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 40)}" ${ratio.toFixed(2)}:1 (needs ${need}:1)`); }
                }
            }
            out.lang = document.documentElement.getAttribute('lang');
            out.title = document.title;
            out.viewport = !!document.querySelector('meta[name="viewport"]');
            out.h1 = document.querySelectorAll('h1').length;
            out.overflow_x = document.documentElement.scrollWidth > window.innerWidth + 1;
            return out;
        }"""
    )
    check(f"{label}: every visible form field has a label", not found["unlabelled"], found["unlabelled"])
    check(f"{label}: <html lang> and a <title>", bool(found["lang"]) and bool(found["title"]), found)
    check(f"{label}: viewport meta for mobile", found["viewport"])
    check(f"{label}: text contrast meets WCAG AA", not found["low_contrast"], found["low_contrast"])
    if found["h1"] != 1:
        note(f"{label}: {found['h1']} <h1> elements")
    return found


def shoot(page, name, label, context):
    """Desktop and mobile screenshots of the current page, plus its weight and timings."""
    row = measure(page, context, label)
    violations = csp_violations(page)
    check(f"{label}: no CSP violations reported by the page", not violations, violations)
    page.screenshot(path=os.path.join(SHOTS, f"{name}-desktop.png"), full_page=True)
    accessibility(page, f"{label} (desktop)")
    page.set_viewport_size(MOBILE)
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    check(f"{label}: no horizontal scrolling at 390 px", wide <= MOBILE["width"] + 1, f"scrollWidth {wide}")
    page.screenshot(path=os.path.join(SHOTS, f"{name}-mobile.png"), full_page=True)
    # WCAG 1.4.10 (reflow): content fits 320 CSS px without scrolling sideways.
    page.set_viewport_size({"width": 320, "height": 640})
    narrow = page.evaluate("() => document.documentElement.scrollWidth")
    check(f"{label}: no horizontal scrolling at 320 px (WCAG reflow)", narrow <= 321, f"scrollWidth {narrow}")
    page.set_viewport_size(DESKTOP)
    return row


def sign_in_form_present(page):
    return on_issuer(page.url) and page.locator('input[name="password"]').count() > 0


def submit_sign_in(page):
    page.fill('input[name="username"]', EMAIL)
    page.fill('input[name="password"]', PASSWORD)
    with page.expect_navigation(timeout=TIMEOUT_MS):
        page.locator('button[type="submit"]').first.click()


def check_security_headers(watch, label):
    bad = []
    for resp in watch.documents:
        csp = resp.headers.get("content-security-policy", "")
        directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
        script = directives.get("script-src", directives.get("default-src", ""))
        problems = []
        if not csp:
            problems.append("no CSP")
        if "frame-ancestors 'none'" not in csp:
            problems.append("no frame-ancestors 'none'")
        if "'unsafe-inline'" in script or "'unsafe-eval'" in script or not script:
            problems.append(f"script policy {script!r}")
        if problems and resp.status < 300:
            bad.append(f"{resp.status} {path_of(resp.url)}: {', '.join(problems)}")
    check(f"{label}: every issuer page has a strict CSP with frame-ancestors 'none'", not bad, bad)


def main():
    os.makedirs(SHOTS, exist_ok=True)
    with urllib.request.urlopen(ISSUER + "/.well-known/openid-configuration", timeout=10) as r:
        disco = json.load(r)
    for field in ("authorization_endpoint", "end_session_endpoint", "jwks_uri", "token_endpoint"):
        check(f"discovery has {field}", field in disco, fatal=field == "authorization_endpoint")
    check("discovery: response_types_supported is [code]", disco.get("response_types_supported") == ["code"], disco.get("response_types_supported"))
    check("discovery: code_challenge_methods_supported is [S256]", disco.get("code_challenge_methods_supported") == ["S256"])
    check("discovery: authorization_response_iss_parameter_supported", disco.get("authorization_response_iss_parameter_supported") is True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, timeout=30_000)
        try:
            run(browser)
        finally:
            browser.close()


def phase(name, fn, *args):
    """Runs one phase; a failure there is recorded and the next phase still runs."""
    print(f"-- {name}", flush=True)
    try:
        return fn(*args)
    except Abort as e:
        print(f"   (phase stopped: {e})", flush=True)
    except Exception as e:  # a timeout or a missing element is a failure of this phase
        failed.append(f"{name}: {type(e).__name__}")
        print(f"FAIL - {name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", flush=True)
    return None


CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(
    `${e.violatedDirective} blocked ${e.blockedURI || 'inline'} on ${location.pathname}`));
"""


def csp_violations(page):
    try:
        return page.evaluate("() => window.__cspViolations || []")
    except Exception:
        return []


def run(browser):
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    context.add_init_script(CSP_LISTENER)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watch = Watch(page)
    try:
        phase("error pages", errors_phase, page, context)
        signed_in = phase("sign-in, consent, code exchange", sign_in_phase, page, context, watch)
        if signed_in:
            phase("single sign-on", sso_phase, page, watch, signed_in)
            phase("single-page app", spa_phase, page, watch, signed_in)
            phase("account page", account_phase, page, context)
            phase("prompt=login", prompt_login_phase, page, signed_in)
            phase("RP-initiated logout", logout_phase, page, context, watch, signed_in)
            phase("logout confirmation", logout_confirm_phase, page, context)
        check("no console errors or CSP violations on the issuer's pages",
              not watch.console_errors and not watch.page_errors, watch.console_errors + watch.page_errors)
        check_security_headers(watch, "JS context")
        if watch.favicon_missing:
            note("the browser's automatic /favicon.ico request answers 404 (a console error in Chromium)")
    finally:
        context.close()
    phase("pages without JavaScript", nojs_phase, browser)
    phase("wrong password", wrong_password_phase, browser)


def errors_phase(page, context):
    # 1. Error page: an unknown client never redirects.
    bogus = ISSUER + "/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": "no-such-client", "redirect_uri": RP + "/cb",
        "scope": "openid", "state": "s", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    })
    resp = page.goto(bogus)
    check("unknown client_id: error page on the issuer, no redirect", on_issuer(page.url) and resp.status >= 400,
          f"{resp.status} {page.url}")
    shoot(page, "error", "error page", context)

    # An unregistered redirect_uri for a real client: also an error page, never a redirect.
    resp = page.goto(ISSUER + "/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": CLIENT_CONSENT, "redirect_uri": "http://127.0.0.1:9/elsewhere",
        "scope": "openid", "state": "s", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }))
    check("unregistered redirect_uri: error page, no redirect", on_issuer(page.url) and resp.status >= 400,
          f"{resp.status} {page.url}")



def sign_in_phase(page, context, watch):
    # 2. Sign in through the hosted page, consent, land on the RP's redirect URI.
    watch.reset_navigations()
    page.goto(RP + "/start?client=consent")
    check("authorization request shows the hosted sign-in page", sign_in_form_present(page), page.url, fatal=True)
    check("sign-in form has one submit button", page.locator('button[type="submit"]').count() == 1,
          page.locator('button[type="submit"]').count())
    shoot(page, "signin", "sign-in page", context)
    page.focus('input[name="username"]')
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement && document.activeElement.name")
    check("focus order: Tab from the username field goes to the password field", focused == "password", focused)
    page.keyboard.press("Tab")
    page.screenshot(path=os.path.join(SHOTS, "signin-focus-desktop.png"))
    submit_sign_in(page)
    # Chromium refuses a __Host- cookie that lacks Secure (even on http://127.0.0.1, where it
    # does accept Secure ones); say so plainly when the session cookie did not stick.
    check(f"the browser stored the {COOKIE} cookie after sign-in",
          any(c["name"] == COOKIE for c in context.cookies(ISSUER)),
          f"now at {page.url}; Set-Cookie seen: {watch.set_cookie_headers()}")
    check("after sign-in the consent page asks (client requires consent)", on_issuer(page.url) and path_of(page.url) == "/consent",
          page.url, fatal=True)
    allow = page.locator('button[name="decision"][value="allow"]')
    check("consent form has allow and deny buttons",
          allow.count() == 1 and page.locator('button[name="decision"][value="deny"]').count() == 1)
    shoot(page, "consent", "consent page", context)
    with page.expect_navigation(timeout=TIMEOUT_MS):
        allow.click()
    wait_until_off_issuer(page)
    check("consent lands on the RP's redirect URI", path_of(page.url) == "/cb", page.url, fatal=True)
    first = rp_result(page)
    check("openid-client completed the code exchange and validated the ID token", first.get("ok") is True,
          first.get("error") or first, fatal=True)
    claims = first["claims"]
    check("authorization response carried iss (RFC 9207)", first.get("iss_in_response") == ISSUER, first.get("iss_in_response"))
    check("ID token signed RS256 with a kid", first.get("id_token_alg") == "RS256" and bool(first.get("id_token_kid")))
    for claim in ("nonce", "auth_time", "amr", "sid"):
        check(f"ID token carries {claim}", claim in claims, sorted(claims))
    check("ID token email is the user's", claims.get("email") == EMAIL, claims.get("email"))
    check("access token is an at+jwt for the client", first["access_token_claims"].get("client_id") == CLIENT_CONSENT)
    check("userinfo answers for the same subject", first["userinfo"].get("sub") == claims["sub"])
    check("a refresh token was issued (refresh_token grant allowed)", first.get("has_refresh_token") is True)

    cookies = {c["name"]: c for c in context.cookies(ISSUER)}
    sso = cookies.get(COOKIE)
    check(f"{COOKIE} cookie is set in the browser", sso is not None, sorted(cookies), fatal=True)
    check("SSO cookie is HttpOnly, SameSite=Lax, Path=/", sso["httpOnly"] and sso["sameSite"] == "Lax" and sso["path"] == "/", sso)
    note(f"SSO cookie Secure={sso['secure']} on a plain-http loopback issuer")
    return {"claims": claims, "sso": sso}


def sso_phase(page, watch, signed_in):
    claims = signed_in["claims"]
    # 3. Single sign-on: the second client goes straight back, no password.
    watch.reset_navigations()
    page.goto(RP + "/start?client=first_party")
    wait_until_off_issuer(page)
    prompts = [u for u in watch.navigations if on_issuer(u) and path_of(u) in ("/login", "/consent")]
    check("SSO: second client authorized with no sign-in or consent page", not prompts, prompts)
    second = rp_result(page)
    check("SSO: openid-client validated the second client's tokens", second.get("ok") is True, second.get("error") or second, fatal=True)
    check("SSO: same subject", second["claims"]["sub"] == claims["sub"])
    # OIDC lets sid be per client ("a Session ... at an RP"); record which way the server goes.
    if second["claims"].get("sid") != claims.get("sid"):
        note("sid differs between the two clients of one browser session (per-client sid)")
    check("SSO: auth_time is the original sign-in's", second["claims"].get("auth_time") == claims.get("auth_time"))


def spa_phase(page, watch, signed_in):
    # The SPA of the guide: oauth4webapi in the page, cross-origin discovery, token request
    # and UserInfo (CORS), same browser session, so no password either.
    watch.reset_navigations()
    page.goto(RP + "/spa/")
    page.wait_for_function("() => document.title.startsWith('spa: ')", timeout=TIMEOUT_MS)
    result = json.loads(page.locator("#out").inner_text())
    check("SPA (oauth4webapi in the browser): code exchange, ID token and UserInfo over CORS",
          result.get("ok") is True, result)
    check("SPA: same user, no sign-in page (SSO)",
          result.get("sub") == signed_in["claims"]["sub"]
          and not [u for u in watch.navigations if on_issuer(u) and path_of(u) == "/login"], result)


def account_phase(page, context):
    # 4. The account page.
    page.goto(ISSUER + "/account")
    check("/account shows the signed-in user's page", on_issuer(page.url) and path_of(page.url) == "/account"
          and EMAIL in page.content(), page.url)
    shoot(page, "account", "account page", context)


def prompt_login_phase(page, signed_in):
    # prompt=login asks for the password again although a session exists.
    page.goto(RP + "/start?client=first_party&prompt=login")
    check("prompt=login shows the sign-in page despite the session", sign_in_form_present(page), page.url, fatal=True)
    submit_sign_in(page)
    wait_until_off_issuer(page)
    result = rp_result(page)
    check("prompt=login: flow completes after the password", result.get("ok") is True, result.get("error") or result)
    if result.get("ok"):
        check("prompt=login: auth_time is not older than the first sign-in",
              result["claims"]["auth_time"] >= signed_in["claims"]["auth_time"])


def logout_phase(page, context, watch, signed_in):
    claims, sso = signed_in["claims"], signed_in["sso"]
    # 5. RP-initiated logout ends the session.
    current = next((c for c in context.cookies(ISSUER) if c["name"] == COOKIE), None)
    check("SSO cookie still present before logout", current is not None, fatal=True)
    watch.reset_navigations()
    page.goto(RP + "/logout?client=first_party")
    if on_issuer(page.url):
        # A confirmation page: confirm with its first submit button.
        note(f"logout shows a confirmation page at {path_of(page.url)}")
        shoot(page, "logout", "logout confirmation page", context)
        buttons = page.locator('form button[type="submit"], form input[type="submit"]')
        confirm = buttons.filter(has_text=re.compile(r"sign.?out|log.?out|yes", re.I))
        with page.expect_navigation(timeout=TIMEOUT_MS):
            (confirm if confirm.count() else buttons).first.click()
    wait_until_off_issuer(page)
    bye = rp_result(page)
    check("logout returns to the registered post_logout_redirect_uri with our state",
          path_of(page.url) == "/bye" and bye.get("state_matches") is True, (page.url, bye))
    check("logout removed or emptied the SSO cookie",
          not [c for c in context.cookies(ISSUER) if c["name"] == COOKIE and c["value"] == current["value"]])

    # After logout: prompt=none must say login_required (iss checked by openid-client even here).
    page.goto(RP + "/start?client=first_party&prompt=none")
    wait_until_off_issuer(page)
    silent = rp_result(page)
    check("after logout, prompt=none answers login_required to the client",
          silent.get("ok") is False and (silent.get("error") or {}).get("error") == "login_required", silent)
    # The session cookie, replayed after logout, is dead too; so is the one from before the
    # prompt=login re-authentication, if that replaced it.
    def replay(cookie):
        context.clear_cookies()
        context.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path", "secure", "httpOnly", "sameSite")}])
        page.goto(RP + "/start?client=first_party")
        return sign_in_form_present(page)
    if current["value"] != sso["value"]:
        check("after logout, the session cookie from before prompt=login is dead too", replay(sso), page.url)
    check("after logout, a new authorization asks for the password again (even with the old cookie)",
          replay(current), page.url, fatal=True)
    submit_sign_in(page)
    wait_until_off_issuer(page)
    again = rp_result(page)
    check("signing in again completes the flow", again.get("ok") is True, again.get("error") or again)
    fresh = next((c for c in context.cookies(ISSUER) if c["name"] == COOKIE), None)
    check("the new sign-in set a new session cookie", fresh is not None and fresh["value"] not in (current["value"], sso["value"]))


def logout_confirm_phase(page, context):
    # A logout link without id_token_hint (what a gateway's sign-out link sends) must not sign
    # anyone out by itself: a confirmation page first, then the registered redirect with state.
    check("signed in before the logout-confirmation check",
          any(c["name"] == COOKIE for c in context.cookies(ISSUER)), fatal=True)
    page.goto(ISSUER + "/oauth/logout?" + urlencode({
        "client_id": CLIENT_FIRST_PARTY, "post_logout_redirect_uri": RP + "/bye", "state": "confirm-state",
    }))
    check("logout without id_token_hint shows a confirmation page", on_issuer(page.url)
          and page.locator('form[action="/oauth/logout"] button[type="submit"]').count() > 0, page.url, fatal=True)
    shoot(page, "logout", "logout confirmation page", context)
    button = page.locator('form[action="/oauth/logout"] button[type="submit"]').first
    with page.expect_navigation(timeout=TIMEOUT_MS):
        button.click()
    wait_until_off_issuer(page)
    query = parse_qs(urlsplit(page.url).query)
    check("confirmed logout returns to the registered URI with the state",
          path_of(page.url) == "/bye" and query.get("state") == ["confirm-state"], page.url)
    page.goto(RP + "/start?client=first_party")
    check("after the confirmed logout the password is asked again", sign_in_form_present(page), page.url)


def nojs_phase(browser):
    # 7. Without JavaScript: sign in and consent work as plain HTML forms.
    nojs = browser.new_context(viewport=DESKTOP, java_script_enabled=False, locale="en-US")
    nojs.set_default_timeout(TIMEOUT_MS)
    p2 = nojs.new_page()
    w2 = Watch(p2)
    p2.goto(RP + "/start?client=consent")
    check("no JS: sign-in page shown", sign_in_form_present(p2), p2.url, fatal=True)
    # Keyboard only: type, then Enter in the password field submits the form.
    p2.fill('input[name="username"]', EMAIL)
    p2.fill('input[name="password"]', PASSWORD)
    with p2.expect_navigation(timeout=TIMEOUT_MS):
        p2.press('input[name="password"]', "Enter")
    if on_issuer(p2.url) and path_of(p2.url) == "/consent":
        with p2.expect_navigation(timeout=TIMEOUT_MS):
            p2.locator('button[name="decision"][value="allow"]').click()
    wait_until_off_issuer(p2)
    nojs_result = rp_result(p2)
    check("no JS: sign-in completes and openid-client validates the tokens", nojs_result.get("ok") is True,
          nojs_result.get("error") or nojs_result)
    check("no JS: consent remembered for the same user, client and scopes",
          not [u for u in w2.navigations if on_issuer(u) and path_of(u) == "/consent"], w2.navigations)
    p2.goto(RP + "/start?client=first_party")
    wait_until_off_issuer(p2)
    check("no JS: SSO to the second client", rp_result(p2).get("ok") is True)
    check("no JS: no console errors", not w2.console_errors, w2.console_errors)
    check_security_headers(w2, "no-JS context")
    nojs.close()


def wrong_password_phase(browser):
    # 8. A wrong password shows an error on the page, not a crash.
    bad = browser.new_context(viewport=DESKTOP)
    bad.set_default_timeout(TIMEOUT_MS)
    p3 = bad.new_page()
    p3.goto(RP + "/start?client=consent")
    p3.fill('input[name="username"]', EMAIL)
    p3.fill('input[name="password"]', "not-the-password")
    with p3.expect_navigation(timeout=TIMEOUT_MS):
        p3.locator('button[type="submit"]').first.click()
    check("wrong password: the sign-in page again, on the issuer", sign_in_form_present(p3), p3.url)
    check("wrong password: the username is kept in the form", p3.input_value('input[name="username"]') == EMAIL)
    alert = p3.locator('[role="alert"], .error, .alert')
    check("wrong password: an error message is shown (role=alert or .error)", alert.count() > 0)
    p3.screenshot(path=os.path.join(SHOTS, "signin-error-desktop.png"), full_page=True)

    # The right password, then deny at a forced consent: the client gets access_denied.
    p3.goto(RP + "/start?client=consent&prompt=consent")
    if sign_in_form_present(p3):
        submit_sign_in(p3)
    check("prompt=consent shows the consent page although consent was given",
          on_issuer(p3.url) and path_of(p3.url) == "/consent", p3.url, fatal=True)
    with p3.expect_navigation(timeout=TIMEOUT_MS):
        p3.locator('button[name="decision"][value="deny"]').click()
    wait_until_off_issuer(p3)
    denied = rp_result(p3)
    check("deny: the client gets error=access_denied (with state and iss, checked by openid-client)",
          denied.get("ok") is False and (denied.get("error") or {}).get("error") == "access_denied", denied)
    bad.close()


def report():
    if metrics:
        print("\npage weight and render time (uncompressed bytes; ms from navigation start):")
        print(f"{'page':<26}{'HTML':>8}{'CSS':>8}{'HTML+CSS':>10}{'other':>8}{'reqs':>6}{'TTFB':>8}{'FCP':>8}{'DCL':>8}{'load':>8}")
        for m in metrics:
            print(f"{m['page']:<26}{m['html_bytes']:>8}{m['css_bytes']:>8}{m['html_bytes'] + m['css_bytes']:>10}"
                  f"{m['other_bytes']:>8}{m['requests']:>6}"
                  f"{m['ttfb_ms']:>8}{str(m['fcp_ms']):>8}{m['dcl_ms']:>8}{m['load_ms']:>8}")
        if os.environ.get("METRICS_FILE"):
            with open(os.environ["METRICS_FILE"], "w") as f:
                json.dump(metrics, f, indent=2)
    print(f"\nbrowser: {len(passed)} passed, {len(failed)} failed")


if __name__ == "__main__":
    code = 0
    try:
        main()
    except Abort as e:
        print(f"stopped: a step later checks depend on failed ({e})", flush=True)
    except Exception:
        failed.append("unexpected error")
        traceback.print_exc()
    finally:
        report()
    sys.exit(1 if failed else 0)
