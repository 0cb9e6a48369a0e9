// Account: the signed-in user's usage over time (chart and table), and spend.
import { api, el, fmtUsd, kindOfKey, state } from "./api.js";
import { barChart, bucketize } from "./chart.js";

export async function renderAccount() {
  const root = document.getElementById("account-body");
  const kind = kindOfKey(state.key);
  if (kind === "demo") {
    root.replaceChildren(el("p", { class: "muted" }, "Sign in with an API key to see your usage."));
    return;
  }
  if (kind === "admin") {
    root.replaceChildren(el("p", {}, "The admin key has no account of its own; see ", el("a", { href: "/ui/admin#usage" }, "usage reports"), "."));
    return;
  }
  let usage;
  try {
    usage = await api("/v1/usage");
  } catch (err) {
    root.replaceChildren(el("p", { class: "bad", id: "account-error" }, `Cannot load usage: ${err.message}`));
    return;
  }
  const rows = usage.data || [];
  const sum = usage.summary || {};
  const chart = el("div", { class: "chart", id: "usage-chart" });
  const table = el("table", { class: "grid", id: "usage-rows" },
    el("thead", {}, el("tr", {}, ["Time", "Model", "Version", "Instance", "Tokens in", "Tokens out", "Cost", "Latency", "Status"].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.slice(-200).reverse().map((r) => el("tr", {},
      el("td", {}, new Date(r.created_at).toLocaleString()), el("td", {}, r.model), el("td", {}, r.version || ""),
      el("td", {}, r.instance_id || ""), el("td", {}, r.tokens_in), el("td", {}, r.tokens_out),
      el("td", {}, fmtUsd(r.cost_usd)), el("td", {}, r.latency_ms ? `${Math.round(r.latency_ms)} ms` : ""), el("td", {}, r.status)))));
  root.replaceChildren(
    el("dl", { class: "stats", id: "account-summary" },
      el("dt", {}, "Requests"), el("dd", { "data-field": "requests" }, sum.requests ?? 0),
      el("dt", {}, "Tokens"), el("dd", {}, `${sum.tokens_in ?? 0} in / ${sum.tokens_out ?? 0} out`),
      el("dt", {}, "Spend"), el("dd", { "data-field": "spend" }, fmtUsd(sum.cost_usd ?? 0))),
    chart, table);
  barChart(chart, bucketize(rows), { title: "Requests per minute" });
}
