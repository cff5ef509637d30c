// Profile, the account's budget, password change, two-factor setup (QR code, backup codes shown once) and disable.
import { get, patch, post } from "../api.js";
import { alertBox, busy, clear, copyText, download, field, h } from "../dom.js";
import { budgetCell, budgetFields } from "./keys.js";

export async function settingsPage(main, { state }) {
  const user = await get("/api/user/profile");
  state.user = user;
  main.append(h("h1", {}, "Settings"), h("div", { class: "grid2" }, profileCard(user, state), passwordCard()), budgetCard(user, state), twoFactorCard(user));
}

function formCard(title, fields, label, onSubmit) {
  const alert = alertBox();
  const submit = h("button", { type: "submit", class: "primary" }, label);
  const form = h("form", { class: "stack" }, alert, ...fields, submit);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, () => onSubmit(alert, form), alert);
  });
  return h("section", { class: "card" }, h("h2", {}, title), form);
}

function profileCard(user, state) {
  const f = {
    name: field("Name", { value: user.name || "", autocomplete: "name" }),
    email: field("Email", { type: "email", value: user.email, autocomplete: "email" }),
    company: field("Company", { value: user.company || "", autocomplete: "organization" }),
    phone: field("Phone", { type: "tel", value: user.phone || "", autocomplete: "tel" }),
    timezone: field("Timezone", { value: user.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone || "" }),
  };
  return formCard("Profile", Object.values(f), "Save profile", async (alert) => {
    const body = Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v.input.value.trim()]));
    state.user = await patch("/api/user/profile", body);
    alert.show(body.email !== user.email ? "Saved. Check your inbox to verify the new address." : "Saved.", "ok");
  });
}

// The account's own spending cap over every key and the browser.
function budgetCard(user, state) {
  const shown = h("div", {}, budgetCell(user));
  const budget = budgetFields(user);
  return formCard("Budget", [shown, h("div", { class: "grid2" }, budget.inputs)], "Save budget", async (alert) => {
    state.user = await patch("/api/user/profile", budget.body());
    clear(shown, budgetCell(state.user));
    alert.show("Saved.", "ok");
  });
}

function passwordCard() {
  const current = field("Current password", { type: "password", autocomplete: "current-password", required: true });
  const next = field("New password", { type: "password", autocomplete: "new-password", required: true, minlength: 12 }, "At least 12 characters with upper and lower case letters, a digit and a symbol.");
  return formCard("Password", [current, next], "Change password", async (alert, form) => {
    await post("/api/user/password", { currentPassword: current.input.value, newPassword: next.input.value });
    form.reset();
    alert.show("Password changed.", "ok");
  });
}

function twoFactorCard(user) {
  const card = h("section", { class: "card" });
  const render = (enabled) => {
    const alert = alertBox();
    if (enabled) {
      const password = field("Password", { type: "password", autocomplete: "current-password", required: true });
      const token = field("Code or backup code", { autocomplete: "one-time-code", required: true });
      const submit = h("button", { type: "submit", class: "danger" }, "Disable two-factor");
      const form = h("form", { class: "stack" }, alert, password, token, submit);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        busy(submit, async () => {
          await post("/api/auth/2fa/disable", { password: password.input.value, token: token.input.value.trim() });
          render(false);
        }, alert);
      });
      clear(card, h("h2", {}, "Two-factor authentication"), h("p", {}, h("span", { class: "badge active" }, "On"), " Sign-ins ask for a code from your authenticator app."), form);
      return;
    }
    const start = h("button", { type: "button", class: "primary" }, "Set up two-factor");
    start.addEventListener("click", () => busy(start, async () => {
      const setup = await post("/api/auth/2fa/setup");
      const token = field("Code from the app", { autocomplete: "one-time-code", inputmode: "numeric", required: true });
      const submit = h("button", { type: "submit", class: "primary" }, "Turn on");
      const form = h("form", { class: "stack" }, alert, token, submit);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        busy(submit, async () => {
          const res = await post("/api/auth/2fa/verify", { token: token.input.value.trim() });
          showBackupCodes(res.backupCodes || []);
        }, alert);
      });
      clear(card, h("h2", {}, "Set up two-factor authentication"),
        h("p", {}, "Scan the QR code with an authenticator app, or enter the secret by hand."),
        h("img", { src: setup.qrCode, alt: "QR code for your authenticator app", class: "qr", width: 200, height: 200 }),
        h("p", {}, "Secret: ", h("code", {}, setup.secret), " ", h("button", { type: "button", class: "ghost", onClick: () => copyText(setup.secret) }, "Copy")),
        form);
      token.input.focus();
    }, alert));
    clear(card, h("h2", {}, "Two-factor authentication"), h("p", {}, "Off. Add a code from an authenticator app to every sign-in."), alert, start);
  };
  const showBackupCodes = (codes) => {
    const text = codes.join("\n");
    clear(card, h("h2", {}, "Two-factor is on"),
      h("p", { class: "alert info" }, "Save these backup codes now: each works once, and they are not shown again."),
      h("pre", { class: "codes" }, text),
      h("div", { class: "row" },
        h("button", { type: "button", class: "secondary", onClick: () => copyText(text) }, "Copy"),
        h("button", { type: "button", class: "secondary", onClick: () => download("llmportal-backup-codes.txt", `${text}\n`) }, "Download"),
        h("button", { type: "button", class: "primary", onClick: () => render(true) }, "Done")));
    card.scrollIntoView({ block: "start" });
  };
  render(user.twoFactorEnabled);
  return card;
}
