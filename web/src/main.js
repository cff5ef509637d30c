// The single-page app: a tiny History API router, the app shell and the session state.
import { get, post, setUnauthorizedHandler } from "./api.js";
import { clear, h, toast } from "./dom.js";
import { forgetOrgs, loadOrgs, orgSwitcher } from "./orgs.js";
import * as auth from "./pages/auth.js";
import { billingPage } from "./pages/billing.js";
import { chatPage } from "./pages/chat.js";
import { keysPage } from "./pages/keys.js";
import { acceptInvitationPage } from "./pages/invitation.js";
import { libraryPage } from "./pages/library.js";
import { orgsPage } from "./pages/orgs.js";
import { settingsPage } from "./pages/settings.js";
import { usagePage } from "./pages/usage.js";

export const state = { user: null };

const PUBLIC = {
  "/login": auth.loginPage,
  "/register": auth.registerPage,
  "/verify-email": auth.verifyEmailPage,
  "/forgot-password": auth.forgotPasswordPage,
  "/reset-password": auth.resetPasswordPage,
  "/accept-invitation": acceptInvitationPage,
};
const PRIVATE = [
  ["/chat", "Chat", chatPage],
  ["/keys", "API keys", keysPage],
  ["/orgs", "Organizations", orgsPage],
  ["/usage", "Usage", usagePage],
  ["/billing", "Billing", billingPage],
  ["/library", "Library", libraryPage],
  ["/settings", "Settings", settingsPage],
];

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render();
}

// Remembers that this browser signed in, so a signed-out visit makes no request that must fail.
const SIGNED_IN = "llmportal.signedIn";

async function loadUser() {
  if (!localStorage.getItem(SIGNED_IN)) {
    state.user = null;
    return;
  }
  try {
    state.user = await get("/api/user/profile");
  } catch {
    state.user = null;
    localStorage.removeItem(SIGNED_IN);
    return;
  }
  await loadOrgs();
}

let cleanup = null;

async function render() {
  cleanup?.();
  cleanup = null;
  const root = document.getElementById("app");
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const ctx = { navigate, state, params: new URLSearchParams(location.search), path, refresh: render };
  if (PUBLIC[path]) {
    if (state.user && (path === "/login" || path === "/register")) return navigate("/chat", { replace: true });
    const main = h("main", { id: "main", class: "auth-main", tabindex: "-1" });
    clear(root, h("div", { class: "auth-shell" }, h("div", { class: "brand big" }, "LLM Portal"), main));
    document.title = "LLM Portal";
    cleanup = (await PUBLIC[path](main, ctx)) || null;
    return;
  }
  if (!state.user) {
    const next = path === "/" ? "" : `?next=${encodeURIComponent(location.pathname + location.search)}`;
    return navigate(`/login${next}`, { replace: true });
  }
  const entry = PRIVATE.find(([p]) => path === p || path.startsWith(`${p}/`));
  if (!entry) return navigate("/chat", { replace: true });
  const [base, title, page] = entry;
  const main = h("main", { id: "main", tabindex: "-1" });
  clear(root, shell(base), main);
  document.title = `${title} · LLM Portal`;
  ctx.rest = path.slice(base.length + 1);
  cleanup = (await page(main, ctx)) || null;
}

function shell(active) {
  const menu = h("button", {
    type: "button",
    class: "menu-toggle ghost",
    "aria-expanded": "false",
    "aria-controls": "nav-links",
    "aria-label": "Menu",
    onClick: (e) => {
      const open = nav.classList.toggle("open");
      e.currentTarget.setAttribute("aria-expanded", String(open));
    },
  }, "☰");
  const links = h(
    "ul",
    { id: "nav-links" },
    PRIVATE.map(([p, title]) =>
      h("li", {}, h("a", { href: p, "aria-current": p === active ? "page" : undefined }, title)),
    ),
    h("li", {}, h("button", { type: "button", class: "ghost", onClick: logout }, "Sign out")),
  );
  const nav = h("nav", { class: "topnav", "aria-label": "Main" }, h("a", { class: "brand", href: "/chat" }, "LLM Portal"), orgSwitcher(() => render()), menu, links);
  return h("header", { class: "top" }, nav);
}

async function logout() {
  try {
    await post("/api/auth/logout");
  } catch {
    /* the session may already be gone */
  }
  state.user = null;
  localStorage.removeItem(SIGNED_IN);
  forgetOrgs();
  navigate("/login");
}

export async function signedIn() {
  localStorage.setItem(SIGNED_IN, "1");
  await loadUser();
}

// Internal links are handled by the router; modified clicks keep the browser's behaviour.
document.addEventListener("click", (e) => {
  const a = e.target.closest?.("a[href]");
  if (!a || a.target || a.hasAttribute("download") || e.defaultPrevented) return;
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/") || url.pathname.startsWith("/v1/")) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", render);

setUnauthorizedHandler(() => {
  localStorage.removeItem(SIGNED_IN);
  if (state.user) {
    state.user = null;
    toast("Your session ended; please sign in again", "error");
    navigate("/login", { replace: true });
  }
});

loadUser().then(render);
