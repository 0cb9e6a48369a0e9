// The admin pages: instances, rollouts, users/keys/budgets, usage reports, adding an instance.
import { api, el, fmtUsd, kindOfKey, loadConfig, notice, renderSignin, state, tabs } from "./api.js";
import { barChart, bucketize } from "./chart.js";

const session = { usersOffset: 0, timer: null, tab: "instances", watching: null };

function needAdmin() {
  if (kindOfKey(state.key) === "admin" || kindOfKey(state.key) === "cognito") return true;
  notice("Sign in with the admin key to use these pages.", "error");
  return false;
}

function shout(err) { notice(`${err.message}${err.status ? ` (HTTP ${err.status})` : ""}`, "error"); }

// -- instances ------------------------------------------------------------------------------
async function drain(id, action) {
  try {
    const view = await api(`/admin/instances/${encodeURIComponent(id)}/${action}`, { method: "POST" });
    notice(`${id} is now ${view.status}`);
    await renderInstances();
  } catch (err) { shout(err); }
}

export async function renderInstances() {
  if (!needAdmin()) return [];
  let data;
  try { data = (await api("/admin/instances")).data; } catch (err) { shout(err); return []; }
  document.getElementById("instances-count").textContent = `(${data.length})`;
  document.querySelector("#instances-table tbody").replaceChildren(...data.map((i) => {
    const draining = i.stored_status === "draining";
    return el("tr", { "data-instance": i.instance_id, "data-status": i.status },
      el("td", {}, i.instance_id), el("td", {}, i.model), el("td", {}, i.version),
      el("td", { "data-field": "status", class: i.routable ? "ok" : "bad" }, i.status + (i.status_reason ? ` (${i.status_reason})` : "")),
      el("td", { "data-field": "breaker" }, i.breaker_state), el("td", {}, i.in_flight),
      el("td", {}, i.heartbeat_age_s === null ? "—" : `${i.heartbeat_age_s.toFixed(1)} s`),
      el("td", {}, i.latency_ewma_ms ? `${Math.round(i.latency_ewma_ms)} ms` : "—"),
      el("td", {}, el("button", { type: "button", class: draining ? "undrain" : "drain", onclick: () => drain(i.instance_id, draining ? "undrain" : "drain") }, draining ? "Undrain" : "Drain")));
  }));
  return data;
}

// -- rollouts -------------------------------------------------------------------------------
async function changeRollout(model, change) {
  try {
    const res = await api(`/admin/models/${encodeURIComponent(model)}/rollout`, { method: "PUT", body: change });
    notice(`${model}: ${Object.entries(res.weights).map(([v, w]) => `${v} ${w}%`).join(", ")}`);
    await renderRollouts();
  } catch (err) { shout(err); }
}

function parseWeights(text) {
  const out = {};
  for (const part of text.split(",")) {
    const [v, w] = part.split("=").map((s) => s.trim());
    if (v) out[v] = Number(w);
  }
  return out;
}

async function renderRollouts() {
  if (!needAdmin()) return;
  let res;
  try { res = await api("/admin/rollouts"); } catch (err) { shout(err); return; }
  const root = document.getElementById("rollouts");
  root.replaceChildren(...Object.entries(res.rollouts).map(([model, weights]) => {
    const w = typeof weights === "object" && weights.weights ? weights.weights : weights;
    const versions = Object.keys(w);
    const weightsIn = el("input", { value: Object.entries(w).map(([v, x]) => `${v}=${x}`).join(", "), size: "24" });
    const stable = el("input", { value: versions[0] || "v1", size: "6" });
    const canary = el("input", { value: "v2", size: "6" });
    const percent = el("input", { type: "number", min: "0", max: "100", value: "10", size: "4" });
    const target = el("input", { value: versions[0] || "v1", size: "6" });
    return el("div", { class: "card", "data-model": model },
      el("h3", {}, model, el("span", { class: "muted" }, ` strategy ${res.strategies[model] || ""}`)),
      el("table", { class: "grid" }, el("tbody", {}, Object.entries(w).map(([v, x]) => el("tr", { "data-version": v }, el("td", {}, v), el("td", { "data-field": "weight" }, `${x}%`),
        el("td", {}, el("div", { class: "meter" }, el("span", { style: null, "data-w": x }))))))),
      el("div", { class: "controls" },
        el("label", {}, "Weights ", weightsIn), el("button", { type: "button", onclick: () => changeRollout(model, { weights: parseWeights(weightsIn.value) }) }, "Set")),
      el("div", { class: "controls" },
        el("label", {}, "Canary: stable ", stable), el("label", {}, " canary ", canary), el("label", {}, " % ", percent),
        el("button", { type: "button", onclick: () => changeRollout(model, { canary: { stable: stable.value, canary: canary.value, percent: Number(percent.value) } }) }, "Start canary")),
      el("div", { class: "controls" },
        el("label", {}, "Version ", target),
        el("button", { type: "button", onclick: () => changeRollout(model, { switch: target.value }) }, "Switch all traffic"),
        el("button", { type: "button", onclick: () => changeRollout(model, { rollback: target.value }) }, "Roll back")));
  }));
  // Bar widths are set through the CSSOM: the page's CSP forbids inline style attributes.
  for (const bar of root.querySelectorAll(".meter span")) bar.style.width = `${Number(bar.dataset.w)}%`;
}

// -- users, keys, budgets -------------------------------------------------------------------
const USERS_PAGE = 20;

function pickUser(id) {
  document.getElementById("key-user").value = id;
  document.getElementById("budget-user").value = id;
}

// Every user, newest first, whether or not they have used the API (GET /admin/users).
async function renderUsers() {
  if (!needAdmin()) return;
  let page;
  try {
    page = await api(`/admin/users?limit=${USERS_PAGE}&offset=${session.usersOffset}&newest_first=true`);
  } catch (err) { shout(err); return; }
  document.querySelector("#users-table tbody").replaceChildren(...page.data.map((u) =>
    el("tr", { "data-user": u.id },
      el("td", {}, u.name), el("td", {}, el("code", {}, u.id)), el("td", {}, u.tier), el("td", {}, new Date(u.created_at).toLocaleString()),
      el("td", { "data-field": "keys" }, u.keys),
      el("td", { "data-field": "budget" }, u.budget_usd === null ? "—" : `${fmtUsd(u.budget_usd)} (${u.budget_period})`),
      el("td", { "data-field": "spent" }, fmtUsd(u.spent_usd)),
      el("td", {}, el("button", { type: "button", class: "pick", onclick: () => pickUser(u.id) }, "Select")))));
  const last = session.usersOffset + page.data.length;
  document.getElementById("users-count").textContent = page.total ? `${session.usersOffset + 1}–${last} of ${page.total}` : "no users yet";
  document.getElementById("users-prev").disabled = session.usersOffset === 0;
  document.getElementById("users-next").disabled = page.next_offset === null;
}

function initUsers() {
  document.getElementById("users-prev").addEventListener("click", () => {
    session.usersOffset = Math.max(0, session.usersOffset - USERS_PAGE);
    renderUsers();
  });
  document.getElementById("users-next").addEventListener("click", () => {
    session.usersOffset += USERS_PAGE;
    renderUsers();
  });
  document.getElementById("user-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = document.getElementById("user-name").value.trim();
    const tier = document.getElementById("user-tier").value;
    try {
      const res = await api("/admin/users", { method: "POST", body: { name, tier } });
      pickUser(res.user_id);
      notice(`Created user ${name} (${res.user_id})`);
      session.usersOffset = 0;
      await renderUsers();
    } catch (err) { shout(err); }
  });
  document.getElementById("key-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const userId = document.getElementById("key-user").value.trim();
    try {
      const res = await api(`/admin/users/${encodeURIComponent(userId)}/keys`, { method: "POST", body: {} });
      const box = document.getElementById("new-key");
      box.hidden = false;
      box.replaceChildren(el("p", {}, "New key (shown once; copy it now):"), el("code", { id: "new-key-value" }, res.key));
      document.getElementById("revoke-prefix").value = res.prefix;
      await renderUsers();
    } catch (err) { shout(err); }
  });
  document.getElementById("revoke-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const prefix = document.getElementById("revoke-prefix").value.trim();
    try {
      await api(`/admin/keys/${encodeURIComponent(prefix)}`, { method: "DELETE" });
      notice(`Key ${prefix} revoked`);
      await renderUsers();
    } catch (err) { shout(err); }
  });
  document.getElementById("budget-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const userId = document.getElementById("budget-user").value.trim();
    const usd = document.getElementById("budget-usd").value;
    const period = document.getElementById("budget-period").value;
    try {
      const res = await api(`/admin/users/${encodeURIComponent(userId)}/budget`, { method: "PUT", body: { usd, period } });
      notice(`Budget for ${userId}: $${res.usd} (${res.period})`);
      await renderUsers();
    } catch (err) { shout(err); }
  });
}

// -- usage reports --------------------------------------------------------------------------
function groupTable(title, rows, keys) {
  return el("div", {}, el("h3", {}, title), el("table", { class: "grid", "data-group": title },
    el("thead", {}, el("tr", {}, [...keys, "Requests", "Tokens in", "Tokens out", "Cost", "Avg latency", "Errors"].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, ...keys.map((k) => el("td", {}, r[k] ?? "—")),
      el("td", {}, r.requests), el("td", {}, r.tokens_in), el("td", {}, r.tokens_out), el("td", {}, fmtUsd(r.cost_usd)),
      el("td", {}, r.avg_latency_ms ? `${Math.round(r.avg_latency_ms)} ms` : "—"), el("td", {}, r.errors))))));
}

async function renderUsage() {
  if (!needAdmin()) return;
  const q = new URLSearchParams();
  for (const [id, name] of [["usage-model", "model"], ["usage-version", "version"], ["usage-user", "user_id"]]) {
    const v = document.getElementById(id).value.trim();
    if (v) q.set(name, v);
  }
  let rep;
  try { rep = await api(`/admin/usage?${q}`); } catch (err) { shout(err); return; }
  barChart(document.getElementById("usage-chart"), bucketize(rep.rows || []), { title: "Requests per minute" });
  document.getElementById("usage-tables").replaceChildren(
    groupTable("By model", rep.by_model || [], ["model"]),
    groupTable("By version", rep.by_version || [], ["model", "version"]),
    groupTable("By user", rep.by_user || [], ["user_id"]));
}

// -- adding an instance (seed 001's admin workflow) -----------------------------------------
function commands(model, version, token) {
  const router = location.origin.replace("127.0.0.1", "host.docker.internal");
  const docker = [
    "docker run --gpus all -p 8080:8080 \\",
    `  -e SERVED_MODEL_NAME=${model} -e MODEL_VERSION=${version} \\`,
    `  -e MOTHERFLUXER_ROUTER_URL=${router} \\`,
    "  -e MOTHERFLUXER_PUBLIC_URL=http://<this-host>:8080 \\",
    `  -e MOTHERFLUXER_REGISTRATION_TOKEN=${token} \\`,
    "  motherfluxer-model serve",
  ].join("\n");
  const env = { SERVED_MODEL_NAME: model, MODEL_VERSION: version, MOTHERFLUXER_ROUTER_URL: location.origin, MOTHERFLUXER_REGISTRATION_TOKEN: token };
  const ecs = JSON.stringify({ environment: Object.entries({ ...env, MOTHERFLUXER_PUBLIC_URL: "http://<task-ip>:8080" }).map(([name, value]) => ({ name, value })) }, null, 2);
  const sm = `aws sagemaker create-model --model-name ${model}-${version} \\\n  --primary-container '${JSON.stringify({ Image: "<account>.dkr.ecr.<region>.amazonaws.com/motherfluxer-model:latest", Environment: { ...env, MOTHERFLUXER_INSTANCE_KIND: "sagemaker" } })}' \\\n  --execution-role-arn <role-arn>`;
  return { docker, ecs, sm };
}

async function watchFor(model, known) {
  clearInterval(session.watching);
  const line = document.getElementById("watch");
  line.textContent = `Watching for a new ${model} instance…`;
  line.dataset.state = "waiting";
  session.watching = setInterval(async () => {
    let data;
    try { data = (await api("/admin/instances")).data; } catch { return; }
    const fresh = data.find((i) => i.model === model && !known.has(i.instance_id));
    if (!fresh) return;
    line.textContent = `Connected: ${fresh.instance_id} (${fresh.version}) is ${fresh.status}`;
    line.dataset.state = fresh.routable ? "healthy" : "connected";
    line.dataset.instance = fresh.instance_id;
    if (fresh.routable) clearInterval(session.watching);
  }, 1000);
}

function initAdd(models) {
  const select = document.getElementById("token-model");
  select.replaceChildren(...models.map((m) => el("option", { value: m.id }, m.id)));
  document.getElementById("token-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!needAdmin()) return;
    const model = select.value;
    const version = document.getElementById("token-version").value.trim() || "v1";
    const ttl = Number(document.getElementById("token-ttl").value) || 600;
    try {
      const before = (await api("/admin/instances")).data;
      const res = await api("/admin/registration-tokens", { method: "POST", body: { model, ttl_seconds: ttl } });
      const cmd = commands(model, version, res.token);
      document.getElementById("token-out").hidden = false;
      document.getElementById("token-for").textContent = model;
      document.getElementById("token-expiry").textContent = res.expires_in;
      document.getElementById("token-value").textContent = res.token;
      document.getElementById("cmd-docker").textContent = cmd.docker;
      document.getElementById("cmd-ecs").textContent = cmd.ecs;
      document.getElementById("cmd-sagemaker").textContent = cmd.sm;
      watchFor(model, new Set(before.map((i) => i.instance_id)));
    } catch (err) { shout(err); }
  });
}

// -- page -----------------------------------------------------------------------------------
function show(name) {
  session.tab = name;
  clearInterval(session.timer);
  if (name === "instances") {
    renderInstances();
    session.timer = setInterval(renderInstances, 2000);
  } else if (name === "rollouts") renderRollouts();
  else if (name === "users") renderUsers();
  else if (name === "usage") {
    // Usage is written behind the response, so the report keeps itself current.
    renderUsage();
    session.timer = setInterval(renderUsage, 3000);
  }
}

async function start() {
  await loadConfig();
  renderSignin(() => { notice(""); show(session.tab); });
  let models = [];
  try { models = (await api("/v1/models")).data || []; } catch (err) { shout(err); }
  initUsers();
  initAdd(models);
  document.getElementById("usage-form").addEventListener("submit", (ev) => { ev.preventDefault(); renderUsage(); });
  tabs(["instances", "rollouts", "users", "add", "usage"], show);
  document.body.dataset.ready = "true";
}

start();
