// API keys: list with status and budget, create (secret shown once), edit, revoke/reactivate/regenerate/delete, usage.
// With an org chosen in the switcher: that org's keys (admins and owners change them, members read).
import { del, get, patch, post } from "../api.js";
import { alertBox, barChart, busy, clear, copyText, dialog, field, fmt, h } from "../dom.js";
import { canManage, loadOrgs, selectedOrg } from "../orgs.js";

const PERMISSIONS = ["chat", "images", "vision", "files", "library"];
export const BUDGET_PERIODS = [["", "Lifetime"], ["daily", "Daily (UTC day)"], ["weekly", "Weekly (from Monday, UTC)"], ["monthly", "Monthly (calendar month, UTC)"]];

// USD with cents, or the digits a small amount needs ($0.0042).
export function usd(n) {
  const v = Number(n ?? 0);
  return v !== 0 && Math.abs(v) < 0.01 ? `$${Number(v.toFixed(6))}` : `$${v.toFixed(2)}`;
}

// "$1.20 of $5.00 daily" with a bar, or "No budget".
export function budgetCell(b) {
  if (b.maxBudget == null) return h("span", { class: "muted" }, "No budget");
  const text = `${usd(b.budgetSpend)} of ${usd(b.maxBudget)} ${b.budgetPeriod || "lifetime"}`;
  return h("div", { class: "budget" },
    h("span", {}, text),
    h("progress", { max: b.maxBudget, value: Math.min(b.budgetSpend ?? 0, b.maxBudget), "aria-label": `Budget used: ${text}` }),
    b.budgetResetsAt ? h("small", { class: "muted" }, `Resets ${fmt.datetime(b.budgetResetsAt)}`) : null);
}

// The two budget inputs of a form, and the body fields they give.
export function budgetFields(current) {
  const amount = field("Budget (USD)", { type: "number", min: 0.000001, step: "any", value: current?.maxBudget ?? "", placeholder: "No budget" }, "Empty: no budget. Requests past it are refused (429).");
  const period = field("Budget period", { type: "select", options: BUDGET_PERIODS.map(([v, label]) => h("option", { value: v, selected: (current?.budgetPeriod || "") === v || undefined }, label)) });
  return {
    inputs: [amount, period],
    body: () => ({ maxBudget: amount.input.value === "" ? null : Number(amount.input.value), budgetPeriod: period.input.value || null }),
  };
}

export async function keysPage(main, { refresh }) {
  const org = selectedOrg();
  const base = org ? `/api/orgs/${org.id}/keys` : "/api/keys";
  const manage = canManage(org);
  const alert = alertBox();
  const list = h("div", { class: "key-list" });
  const create = h("button", { type: "button", class: "primary", hidden: !manage }, "+ Create key");
  const title = org ? `API keys of ${org.name}` : "API keys";
  const note = org
    ? h("p", { class: "muted" }, manage
      ? "Keys of the organization: they keep working when the member who created them leaves."
      : "Keys of the organization. Admins and owners create and change them.")
    : null;
  main.append(h("div", { class: "page-head" }, h("h1", {}, title), create), note, alert, list);
  create.addEventListener("click", () => keyForm(null, reload, base));

  async function reload() {
    try {
      const { keys } = await get(base);
      const columns = ["Name", "Key", "Status", "Permissions", "Models", "Budget", org ? "Created by" : null, "Last used", "Actions"].filter(Boolean);
      clear(list, keys.length ? h("table", { class: "table" },
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, keys.map((k) => row(k, reload, base, org, manage)))) : h("p", { class: "muted" }, manage ? "No keys yet. Create one to call the API." : "This organization has no keys yet."));
    } catch (err) {
      if (org && err.status === 404) {
        await loadOrgs(); // no longer a member: back to personal
        return refresh();
      }
      alert.show(err.message);
    }
  }
  await reload();
}

function row(k, reload, base, org, manage) {
  const act = (label, fn, cls = "ghost") => {
    const b = h("button", { type: "button", class: cls }, label);
    b.addEventListener("click", () => busy(b, fn));
    return b;
  };
  const revoked = k.status === "REVOKED";
  return h("tr", {},
    h("td", { "data-label": "Name" }, h("strong", {}, k.name), k.description ? h("div", { class: "muted" }, k.description) : null),
    h("td", { "data-label": "Key" }, h("code", {}, k.prefix)),
    h("td", { "data-label": "Status" }, h("span", { class: `badge ${k.status.toLowerCase()}` }, k.status)),
    h("td", { "data-label": "Permissions" }, k.permissions ? k.permissions.join(", ") : "all"),
    h("td", { "data-label": "Models" }, k.models ? k.models.join(", ") : h("span", { class: "muted" }, "all")),
    h("td", { "data-label": "Budget" }, budgetCell(k)),
    org ? h("td", { "data-label": "Created by" }, k.createdBy ? k.createdBy.name || k.createdBy.email : "—") : null,
    h("td", { "data-label": "Last used" }, fmt.datetime(k.lastUsedAt)),
    h("td", { "data-label": "Actions", class: "actions" },
      act("Usage", () => usageDialog(k, base)),
      manage ? [
        act("Edit", () => keyForm(k, reload, base)),
        revoked
          ? act("Reactivate", async () => { await post(`${base}/${k.id}/reactivate`); await reload(); })
          : act("Revoke", async () => {
              const reason = prompt(`Revoke "${k.name}"? Optional reason:`, "");
              if (reason === null) return;
              await post(`${base}/${k.id}/revoke`, reason ? { reason } : {});
              await reload();
            }),
        act("Regenerate", async () => {
          if (!confirm(`Regenerate "${k.name}"? The current secret stops working at once.`)) return;
          const res = await post(`${base}/${k.id}/regenerate`);
          showSecret(res.key, "Key regenerated");
          await reload();
        }),
        act("Delete", async () => {
          if (!confirm(`Delete "${k.name}" permanently?`)) return;
          await del(`${base}/${k.id}`);
          await reload();
        }, "ghost danger-text"),
      ] : null));
}

function showSecret(secret, title = "Your new API key") {
  const input = h("input", { readonly: true, value: secret, "aria-label": "API key", class: "secret" });
  dialog(title,
    h("p", { class: "alert info" }, "Copy it now: it is shown only once."),
    h("div", { class: "row" }, input, h("button", { type: "button", class: "primary", onClick: () => copyText(secret) }, "Copy")));
  input.select();
}

function keyForm(key, reload, base) {
  const alert = alertBox();
  const name = field("Name", { required: true, maxlength: 100, value: key?.name || "" });
  const description = field("Description", { maxlength: 500, value: key?.description || "" });
  const perms = h("fieldset", { class: "checks" }, h("legend", {}, "Permissions"),
    PERMISSIONS.map((p) => h("label", {}, h("input", { type: "checkbox", value: p, checked: key ? (key.permissions || PERMISSIONS).includes(p) : p === "chat" }), ` ${p}`)));
  const ips = field("IP whitelist", { type: "textarea", rows: 2, value: (key?.ipWhitelist || []).join("\n") }, "One address or CIDR range a line; empty allows any address.");
  const modelsHint = "Model ids or patterns (gpt-4o*, local/*, *-mini), comma-separated; empty allows every model.";
  const models = field("Allowed models", { maxlength: 20000, value: (key?.models || []).join(", "), placeholder: "every model" }, modelsHint);
  get("/api/chat/models").then(({ data }) => {
    if (data.length) models.querySelector(".hint").textContent = `${modelsHint} Available: ${data.map((m) => m.id).join(", ")}.`;
  }).catch(() => {});
  const limits = [
    field("Daily token limit", { type: "number", min: 0, value: key?.dailyLimit ?? "" }),
    field("Monthly token limit", { type: "number", min: 0, value: key?.monthlyLimit ?? "" }),
    field("Requests per minute", { type: "number", min: 0, value: key?.rpmLimit ?? "" }),
  ];
  const budget = budgetFields(key);
  const expires = field("Expires in days", { type: "number", min: 1, max: 3650 }, key ? `Now: ${key.expiresAt ? fmt.date(key.expiresAt) : "never"}. Leave empty to keep it.` : "Empty: never expires.");
  const submit = h("button", { type: "submit", class: "primary" }, key ? "Save" : "Create key");
  const num = (f) => (f.input.value === "" ? null : Number(f.input.value));
  const form = h("form", { class: "stack" }, alert, name, description, perms, ips, models, h("div", { class: "grid3" }, limits), h("div", { class: "grid2" }, budget.inputs), expires, submit);
  const dlg = dialog(key ? `Edit ${key.name}` : "Create an API key", form);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      const body = {
        name: name.input.value.trim(),
        description: description.input.value.trim() || null,
        permissions: [...perms.querySelectorAll("input:checked")].map((i) => i.value),
        ipWhitelist: ips.input.value.split(/[\s,]+/).filter(Boolean),
        models: allowedModels(models.input.value),
        dailyLimit: num(limits[0]),
        monthlyLimit: num(limits[1]),
        rpmLimit: num(limits[2]),
        ...budget.body(),
      };
      if (expires.input.value) body.expiresInDays = Number(expires.input.value);
      if (key) {
        await patch(`${base}/${key.id}`, body);
        dlg.close();
      } else {
        const res = await post(base, body);
        dlg.close();
        showSecret(res.key);
      }
      await reload();
    }, alert);
  });
  name.input.focus();
}

// "gpt-4o*, local/*" -> ["gpt-4o*", "local/*"]; nothing -> null (every model).
function allowedModels(text) {
  const list = text.split(/[\s,]+/).filter(Boolean);
  return list.length ? list : null;
}

async function usageDialog(k, base) {
  const days = h("select", { "aria-label": "Period" }, [7, 30, 90].map((d) => h("option", { value: d, selected: d === 30 || undefined }, `${d} days`)));
  const body = h("div", {});
  dialog(`Usage of ${k.name}`, h("div", { class: "row" }, h("label", {}, "Period ", days)), body);
  const load = async () => {
    const res = await get(`${base}/${k.id}/usage?days=${days.value}`);
    clear(body,
      h("div", { class: "stats" },
        stat("Requests", fmt.num(res.stats.totalRequests)),
        stat("Tokens", fmt.num(res.stats.totalTokens)),
        stat("Avg response", `${fmt.num(res.stats.avgResponseTime)} ms`),
        stat("Lifetime tokens", fmt.num(res.apiKey.totalTokensUsed))),
      h("h3", {}, "Tokens per day"),
      barChart(res.dailyUsage.map((d) => ({ label: d.date, value: d.tokens })), { label: "Tokens per day" }));
  };
  days.addEventListener("change", () => busy(null, load));
  await busy(null, load);
}

export function stat(label, value) {
  return h("div", { class: "stat" }, h("div", { class: "stat-value" }, value), h("div", { class: "stat-label" }, label));
}
