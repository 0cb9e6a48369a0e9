// Account: the signed-in user's budget, their own keys (create, shown once; revoke), and
// usage over time (chart and table). Everything here acts on the caller's own account only.
import { api, el, fmtUsd, kindOfKey, notice, signOut, state } from "./api.js";
import { barChart, bucketize } from "./chart.js";

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

function budgetSection(b) {
  const limited = b.limit_usd !== null;
  return el("section", { id: "budget", class: "card", "data-limited": String(limited) },
    el("h3", {}, "Budget"),
    el("dl", { class: "stats" },
      el("dt", {}, "Limit"), el("dd", { "data-field": "limit" }, limited ? `${fmtUsd(b.limit_usd)} (${b.period})` : "No budget set"),
      el("dt", {}, limited && b.period === "monthly" ? "Spent this month" : "Spent"), el("dd", { "data-field": "spent" }, fmtUsd(b.spent_usd)),
      el("dt", {}, "Remaining"), el("dd", { "data-field": "remaining" }, limited ? fmtUsd(b.remaining_usd) : "—"),
      el("dt", {}, "Resets"), el("dd", { "data-field": "resets" }, b.resets_at ? when(b.resets_at) : limited ? "Never (a total budget)" : "—")));
}

async function revoke(row) {
  try {
    const res = await api(`/v1/keys/${encodeURIComponent(row.prefix)}`, { method: "DELETE" });
    if (res.signed_out) {
      signOut(`You revoked the key you were signed in with (${row.prefix}); you are now signed out.`);
      return;
    }
    notice(`Key ${row.prefix} revoked. It stops working everywhere within 30 seconds.`);
    await renderAccount();
  } catch (err) {
    notice(`Cannot revoke ${row.prefix}: ${err.message}`, "error");
  }
}

function keysSection(keys, fresh) {
  const name = el("input", { id: "my-key-name", placeholder: "Name (e.g. laptop)", maxlength: "100" });
  const form = el("form", { id: "my-key-form", class: "controls", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const made = await api("/v1/keys", { method: "POST", body: { name: name.value.trim() || null } });
      await renderAccount(made);
    } catch (err) {
      notice(`Cannot create a key: ${err.message}`, "error");
    }
  } }, el("label", {}, "New key ", name), el("button", { type: "submit" }, "Create key"));
  const active = keys.data.filter((k) => !k.revoked).length;
  const shown = fresh
    ? el("div", { id: "my-new-key", class: "secret" },
      el("p", {}, `New key ${fresh.prefix}${fresh.name ? ` (${fresh.name})` : ""}: shown once, copy it now.`),
      el("code", { id: "my-new-key-value" }, fresh.key))
    : null;
  const rows = keys.data.map((k) => el("tr", { "data-prefix": k.prefix, "data-state": k.revoked ? "revoked" : "active" },
    el("td", {}, el("code", {}, k.prefix)), el("td", {}, k.name || "—"), el("td", {}, when(k.created_at)),
    el("td", { "data-field": "last-used" }, when(k.last_used_at)),
    el("td", { "data-field": "state", class: k.revoked ? "bad" : "ok" }, k.revoked ? `revoked ${when(k.revoked_at)}` : k.current ? "active (signed in with it)" : "active"),
    el("td", {}, k.revoked ? "" : el("button", { type: "button", class: "revoke", onclick: () => revoke(k) }, k.current ? "Revoke (signs you out)" : "Revoke"))));
  return el("section", { id: "my-keys", class: "card" },
    el("h3", {}, "Your API keys ", el("span", { class: "muted" }, `${active} of ${keys.max_active} active`)),
    form, shown,
    el("table", { class: "grid", id: "my-keys-table" },
      el("thead", {}, el("tr", {}, ["Prefix", "Name", "Created", "Last used", "State", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows)));
}

function usageSection(usage) {
  const rows = usage.data || [];
  const sum = usage.summary || {};
  const chart = el("div", { class: "chart", id: "usage-chart" });
  const table = el("table", { class: "grid", id: "usage-rows" },
    el("thead", {}, el("tr", {}, ["Time", "Model", "Version", "Instance", "Tokens in", "Tokens out", "Cost", "Latency", "Status"].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.slice(-200).reverse().map((r) => el("tr", {},
      el("td", {}, new Date(r.created_at).toLocaleString()), el("td", {}, r.model), el("td", {}, r.version || ""),
      el("td", {}, r.instance_id || ""), el("td", {}, r.tokens_in), el("td", {}, r.tokens_out),
      el("td", {}, fmtUsd(r.cost_usd)), el("td", {}, r.latency_ms ? `${Math.round(r.latency_ms)} ms` : ""), el("td", {}, r.status)))));
  const part = el("section", { id: "usage" },
    el("h3", {}, "Usage"),
    el("dl", { class: "stats", id: "account-summary" },
      el("dt", {}, "Requests"), el("dd", { "data-field": "requests" }, sum.requests ?? 0),
      el("dt", {}, "Tokens"), el("dd", {}, `${sum.tokens_in ?? 0} in / ${sum.tokens_out ?? 0} out`),
      el("dt", {}, "Spend"), el("dd", { "data-field": "spend" }, fmtUsd(sum.cost_usd ?? 0))),
    chart, table);
  return { part, draw: () => barChart(chart, bucketize(rows), { title: "Requests per minute" }) };
}

// `fresh`: a key just created, whose secret is shown this once.
export async function renderAccount(fresh) {
  const root = document.getElementById("account-body");
  const kind = kindOfKey(state.key);
  if (kind === "demo") {
    root.replaceChildren(el("p", { class: "muted" }, "Sign in with an API key to see your usage, budget and keys."));
    return;
  }
  if (kind === "admin") {
    root.replaceChildren(el("p", {}, "The admin key has no account of its own; see ", el("a", { href: "/ui/admin#users" }, "users, keys and budgets"), "."));
    return;
  }
  // Each part loads on its own: a key without the usage scope still manages its keys.
  const [usage, budget, keys] = await Promise.allSettled([api("/v1/usage"), api("/v1/budget"), api("/v1/keys")]);
  if (!state.key) return; // refused: the sign-in box already says why
  const failed = (what, res) => el("p", { class: "bad", id: `account-error-${what}` }, `Cannot load ${what}: ${res.reason.message}`);
  const use = usage.status === "fulfilled" ? usageSection(usage.value) : null;
  root.replaceChildren(
    budget.status === "fulfilled" ? budgetSection(budget.value) : failed("budget", budget),
    keys.status === "fulfilled" ? keysSection(keys.value, fresh) : failed("keys", keys),
    use ? use.part : failed("usage", usage));
  if (use) use.draw();
}
