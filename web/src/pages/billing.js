// Billing: plans side by side with the feature matrix, change plan with proration, cancel,
// invoices and payment methods.
import { del, get, patch, post } from "../api.js";
import { alertBox, busy, clear, dialog, fmt, h } from "../dom.js";

export async function billingPage(main) {
  const alert = alertBox();
  const overview = h("section", { class: "card" });
  const plans = h("section", { class: "card" });
  const methods = h("section", { class: "card" });
  const invoices = h("section", { class: "card" });
  main.append(h("h1", {}, "Billing"), alert, overview, plans, h("div", { class: "grid2" }, methods, invoices));

  async function reload() {
    try {
      const [b, p, inv] = await Promise.all([get("/api/billing"), get("/api/billing/plans"), get("/api/billing/invoices?limit=20&offset=0")]);
      renderOverview(b);
      renderPlans(p);
      renderMethods(b.paymentMethods || []);
      renderInvoices(inv.invoices || []);
    } catch (err) {
      alert.show(err.message);
    }
  }

  function renderOverview(b) {
    const s = b.subscription;
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel subscription");
    cancel.addEventListener("click", () => busy(cancel, async () => {
      if (!confirm("Cancel at the end of the current period?")) return;
      await post("/api/billing/cancel");
      await reload();
    }, alert));
    const pct = b.usage?.percentUsed;
    clear(overview, h("h2", {}, "Subscription"),
      h("p", {}, h("strong", {}, s.plan.name), ` · ${s.status}`, s.currentPeriod ? ` · ${fmt.date(s.currentPeriod.start)} – ${fmt.date(s.currentPeriod.end)}` : ""),
      s.cancelAtPeriodEnd ? h("p", { class: "alert info" }, "Cancels at the end of this period.") : null,
      h("p", {}, `Tokens this period: ${fmt.num(b.usage?.tokensUsed)}${b.usage?.tokensLimit ? ` of ${fmt.num(b.usage.tokensLimit)}` : ""}`),
      pct != null ? h("progress", { max: 100, value: Math.min(100, pct), "aria-label": "Tokens used" }) : null,
      s.id && !s.cancelAtPeriodEnd ? cancel : null);
  }

  function renderPlans(p) {
    const tiers = p.plans.map((pl) => pl.tier);
    const cards = h("div", { class: "plans" }, p.plans.map((pl) => {
      const current = pl.id === p.currentPlanId;
      const choose = h("button", { type: "button", class: current ? "secondary" : "primary", disabled: current || undefined }, current ? "Current plan" : `Switch to ${pl.name}`);
      choose.addEventListener("click", () => busy(choose, () => changePlan(pl), alert));
      return h("div", { class: `plan${current ? " current" : ""}` },
        h("h3", {}, pl.name), h("p", { class: "price" }, pl.monthlyPrice ? `${fmt.cents(pl.monthlyPrice)}/mo` : "Free"),
        pl.yearlyPrice ? h("p", { class: "muted" }, `or ${fmt.cents(pl.yearlyPrice)}/yr`) : null,
        h("ul", {}, Object.entries(pl.features || {}).map(([k, v]) => h("li", {}, `${k}: ${v}`))), choose);
    }));
    const matrix = (p.features || []).length ? h("table", { class: "table matrix" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Feature"), p.plans.map((pl) => h("th", { scope: "col" }, pl.name)))),
      h("tbody", {}, p.features.map((f) => h("tr", {}, h("th", { scope: "row" }, f.name), tiers.map((t, i) => h("td", { "data-label": p.plans[i].name }, String(f.values?.[t] ?? "—"))))))) : null;
    clear(plans, h("h2", {}, "Plans"), cards, matrix);
  }

  async function changePlan(pl) {
    const preview = await get(`/api/billing/change-plan?planId=${encodeURIComponent(pl.id)}`);
    const go = h("button", { type: "button", class: "primary" }, `Change to ${pl.name}`);
    const a = alertBox();
    const dlg = dialog(`Change to ${pl.name}`,
      h("p", {}, `Due now: ${fmt.cents(preview.amountDue)} (proration ${fmt.cents(preview.prorationAmount)}), effective ${fmt.date(preview.effectiveDate)}.`),
      (preview.lines || []).length ? h("ul", {}, preview.lines.map((l) => h("li", {}, `${l.description}: ${fmt.cents(l.amount)}`))) : null,
      a, go);
    go.addEventListener("click", () => busy(go, async () => {
      await post("/api/billing/change-plan", { planId: pl.id });
      dlg.close();
      await reload();
    }, a));
  }

  function renderMethods(list) {
    clear(methods, h("h2", {}, "Payment methods"), list.length ? h("ul", { class: "plain" }, list.map((m) => {
      const makeDefault = h("button", { type: "button", class: "ghost" }, "Make default");
      makeDefault.addEventListener("click", () => busy(makeDefault, async () => { await patch(`/api/billing/payment-methods/${m.id}`, { isDefault: true }); await reload(); }, alert));
      const remove = h("button", { type: "button", class: "ghost danger-text" }, "Remove");
      remove.addEventListener("click", () => busy(remove, async () => { if (!confirm("Remove this card?")) return; await del(`/api/billing/payment-methods/${m.id}`); await reload(); }, alert));
      return h("li", {}, `${m.brand} •••• ${m.last4}`, m.isDefault ? h("span", { class: "badge active" }, "Default") : makeDefault, remove);
    })) : h("p", { class: "muted" }, "No payment method on file."));
  }

  function renderInvoices(list) {
    clear(invoices, h("h2", {}, "Invoices"), list.length ? h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["Date", "Number", "Amount", "Status", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, list.map((i) => h("tr", {}, h("td", { "data-label": "Date" }, fmt.date(i.createdAt)), h("td", { "data-label": "Number" }, i.number || i.id),
        h("td", { "data-label": "Amount" }, fmt.cents(i.amountDue)), h("td", { "data-label": "Status" }, i.status),
        h("td", {}, i.hostedInvoiceUrl ? h("a", { href: i.hostedInvoiceUrl, target: "_blank", rel: "noopener" }, "View") : ""))))) : h("p", { class: "muted" }, "No invoices yet."));
  }

  await reload();
}
