// Register, verify email, sign in (with the 2FA step), forgot and reset password.
import { post } from "../api.js";
import { alertBox, busy, field, h } from "../dom.js";
import { signedIn } from "../main.js";

function card(main, title, ...body) {
  main.append(h("section", { class: "card auth-card" }, h("h1", {}, title), ...body));
}

function form(onSubmit, ...children) {
  const f = h("form", { novalidate: false }, ...children);
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    onSubmit(f.querySelector("button[type=submit]"));
  });
  return f;
}

export function loginPage(main, { navigate, params }) {
  const alert = alertBox();
  const email = field("Email", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = field("Password", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const code = field("Two-factor code", { name: "code", autocomplete: "one-time-code", inputmode: "numeric" }, "The 6-digit code from your authenticator app, or a backup code.");
  code.hidden = true;
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const f = form(
    (btn) =>
      busy(btn, async () => {
        const body = { email: email.input.value.trim(), password: password.input.value };
        if (!code.hidden && code.input.value.trim()) body.code = code.input.value.trim();
        try {
          await post("/api/auth/login", body);
        } catch (err) {
          if (err.body?.requires2FA && code.hidden) {
            code.hidden = false;
            submit.textContent = "Verify";
            code.input.focus();
            alert.show("Enter the code from your authenticator app.", "info");
            return;
          }
          throw err;
        }
        await signedIn();
        const next = params.get("next");
        navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/chat");
      }, alert),
    alert, email, password, code, submit,
  );
  card(
    main, "Sign in", f,
    h("p", { class: "links" }, h("a", { href: "/forgot-password" }, "Forgot password?"), " · ", h("a", { href: "/register" }, "Create an account")),
  );
  email.input.focus();
}

export function registerPage(main) {
  const alert = alertBox();
  const name = field("Name", { name: "name", autocomplete: "name" });
  const email = field("Email", { type: "email", name: "email", autocomplete: "email", required: true });
  const password = field("Password", { type: "password", name: "password", autocomplete: "new-password", required: true, minlength: 12 }, "At least 12 characters with upper and lower case letters, a digit and a symbol.");
  const done = h("div", { hidden: true });
  const f = form(
    (btn) =>
      busy(btn, async () => {
        const body = { name: name.input.value.trim() || undefined, email: email.input.value.trim(), password: password.input.value };
        const res = await post("/api/auth/register", body);
        f.hidden = true;
        done.hidden = false;
        done.append(
          h("p", { role: "status" }, res.requiresVerification ? `We sent a verification link to ${res.email}. Open it to activate your account.` : "Your account is ready."),
          h("p", {}, h("a", { href: "/login" }, "Go to sign in")),
          res.requiresVerification ? resendButton(res.email) : null,
        );
      }, alert),
    alert, name, email, password, h("button", { type: "submit", class: "primary" }, "Create account"),
  );
  card(main, "Create an account", f, done, h("p", { class: "links" }, "Already registered? ", h("a", { href: "/login" }, "Sign in")));
  name.input.focus();
}

function resendButton(email) {
  const alert = alertBox();
  const btn = h("button", { type: "button", class: "secondary" }, "Resend the email");
  btn.addEventListener("click", () =>
    busy(btn, async () => {
      await post("/api/auth/resend-verification", { email });
      alert.show("Sent again, if the address needs verifying.", "ok");
    }, alert),
  );
  return h("div", {}, btn, alert);
}

export async function verifyEmailPage(main, { params }) {
  const token = params.get("token");
  const status = h("p", { role: "status" }, "Verifying your email…");
  card(main, "Verify email", status);
  if (!token) {
    status.textContent = "This link has no token. Open the link from the email again.";
    return;
  }
  try {
    await post("/api/auth/verify-email", { token });
    status.textContent = "Your email is verified. You can sign in now.";
    status.className = "alert ok";
    main.querySelector(".card").append(h("p", {}, h("a", { href: "/login", class: "button primary" }, "Sign in")));
  } catch (err) {
    status.textContent = err.message;
    status.className = "alert error";
    const email = field("Email", { type: "email", autocomplete: "email" });
    main.querySelector(".card").append(h("p", {}, "Need a new link? "), email, resendFor(email));
  }
}

function resendFor(email) {
  const alert = alertBox();
  const btn = h("button", { type: "button", class: "secondary" }, "Send a new link");
  btn.addEventListener("click", () =>
    busy(btn, async () => {
      await post("/api/auth/resend-verification", { email: email.input.value.trim() });
      alert.show("If the address needs verifying, a new link is on its way.", "ok");
    }, alert),
  );
  return h("div", {}, btn, alert);
}

export function forgotPasswordPage(main) {
  const alert = alertBox();
  const email = field("Email", { type: "email", autocomplete: "email", required: true });
  const f = form(
    (btn) =>
      busy(btn, async () => {
        await post("/api/auth/forgot-password", { email: email.input.value.trim() });
        alert.show("If an account uses that address, a reset link is on its way.", "ok");
      }, alert),
    alert, email, h("button", { type: "submit", class: "primary" }, "Send reset link"),
  );
  card(main, "Forgot password", f, h("p", { class: "links" }, h("a", { href: "/login" }, "Back to sign in")));
  email.input.focus();
}

export function resetPasswordPage(main, { params, navigate }) {
  const token = params.get("token");
  const alert = alertBox();
  const password = field("New password", { type: "password", autocomplete: "new-password", required: true, minlength: 12 }, "At least 12 characters with upper and lower case letters, a digit and a symbol.");
  const again = field("Repeat the new password", { type: "password", autocomplete: "new-password", required: true });
  const f = form(
    (btn) =>
      busy(btn, async () => {
        if (password.input.value !== again.input.value) throw new Error("The passwords differ");
        await post("/api/auth/reset-password", { token, password: password.input.value });
        f.replaceChildren(h("p", { class: "alert ok", role: "status" }, "Your password is changed. Sign in with it."), h("a", { href: "/login", class: "button primary" }, "Sign in"));
      }, alert),
    alert, password, again, h("button", { type: "submit", class: "primary" }, "Set password"),
  );
  card(main, "Choose a new password", token ? f : h("p", { class: "alert error" }, "This link has no token. Open the link from the email again."));
  if (!token) return;
  password.input.focus();
  void navigate;
}
