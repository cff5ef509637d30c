// Usage: summary with period and model filters, a daily chart, by-model table, cost breakdown.
import { get } from "../api.js";
import { alertBox, barChart, clear, fmt, h } from "../dom.js";
import { stat } from "./keys.js";

export async function usagePage(main) {
  const alert = alertBox();
  const period = h("select", { "aria-label": "Period" }, [["24h", "Last 24 hours"], ["7d", "7 days"], ["30d", "30 days"], ["90d", "90 days"]].map(([v, l]) => h("option", { value: v, selected: v === "30d" || undefined }, l)));
  const model = h("select", { "aria-label": "Model" }, h("option", { value: "" }, "All models"));
  const body = h("div", {});
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Usage"), h("div", { class: "row" }, period, model)), alert, body);
  try {
    const filters = await get("/api/usage/filters");
    for (const m of filters.models || []) {
      const id = typeof m === "string" ? m : m.id || m.model || m.name;
      model.append(h("option", { value: id }, id));
    }
  } catch {
    /* filters are optional */
  }
  async function load() {
    alert.hide();
    const q = new URLSearchParams({ period: period.value });
    if (model.value) q.set("model", model.value);
    try {
      const u = await get(`/api/usage/summary?${q}`);
      const s = u.stats;
      const c = u.costBreakdown || {};
      clear(body,
        h("div", { class: "stats" },
          stat("Requests", fmt.num(s.totalRequests)), stat("Tokens", fmt.num(s.totalTokens)),
          stat("Input tokens", fmt.num(s.inputTokens)), stat("Output tokens", fmt.num(s.outputTokens)),
          stat("Cost", fmt.money(s.totalCost)), stat("Avg response", `${fmt.num(s.avgResponseTime)} ms`),
          stat("Errors", `${fmt.num(s.errorCount)} (${s.errorRate ?? 0}%)`)),
        h("section", { class: "card" }, h("h2", {}, "Tokens per day"),
          barChart((u.dailyUsage || []).map((d) => ({ label: d.date, value: d.tokens })), { label: "Tokens per day" })),
        h("div", { class: "grid2" },
          h("section", { class: "card" }, h("h2", {}, "By model"),
            (u.byModel || []).length ? h("table", { class: "table" },
              h("thead", {}, h("tr", {}, ["Model", "Requests", "Tokens", "Cost", "Share"].map((t) => h("th", { scope: "col" }, t)))),
              h("tbody", {}, u.byModel.map((m) => h("tr", {},
                h("td", { "data-label": "Model" }, m.model), h("td", { "data-label": "Requests" }, fmt.num(m.requests)),
                h("td", { "data-label": "Tokens" }, fmt.num(m.tokens)), h("td", { "data-label": "Cost" }, fmt.money(m.cost)),
                h("td", { "data-label": "Share" }, `${m.percentage}%`))))) : h("p", { class: "muted" }, "No usage in this period.")),
          h("section", { class: "card" }, h("h2", {}, "Cost breakdown"),
            h("dl", { class: "dl" },
              h("dt", {}, "Input tokens"), h("dd", {}, fmt.money(c.inputTokensCost)),
              h("dt", {}, "Output tokens"), h("dd", {}, fmt.money(c.outputTokensCost)),
              h("dt", {}, "Images"), h("dd", {}, fmt.money(c.imagesCost)),
              h("dt", {}, "Total"), h("dd", {}, h("strong", {}, fmt.money(c.total)))))));
    } catch (err) {
      alert.show(err.message);
    }
  }
  period.addEventListener("change", load);
  model.addEventListener("change", load);
  await load();
}
