// The catalog with live status, and the side-by-side comparison of 2–4 models.
import { api, el, fmtUsd, routeFacts } from "./api.js";

export async function fetchModels() {
  return (await api("/v1/models")).data || [];
}

function bestAt(spec) {
  return Object.entries(spec.specialization || {}).sort((a, b) => b[1] - a[1]).slice(0, 2)
    .map(([task, score]) => `${task} ${score}`).join(", ");
}

export function renderModels(models) {
  const body = document.querySelector("#models-table tbody");
  body.replaceChildren(...models.map((m) => {
    const live = m.status || {};
    return el("tr", { "data-model": m.id },
      el("td", {}, el("b", {}, m.id), el("div", { class: "muted" }, m.display_name || "")),
      el("td", {}, (m.capabilities || []).join(", ")),
      el("td", {}, bestAt(m)),
      el("td", {}, fmtUsd(m.cost_per_1m_input)),
      el("td", {}, fmtUsd(m.cost_per_1m_output)),
      el("td", {}, m.context_window || "—"),
      el("td", { "data-field": "healthy" }, `${live.healthy_instances ?? 0} / ${live.instances ?? 0}`),
      el("td", {}, live.latency_ewma_ms ? `${Math.round(live.latency_ewma_ms)} ms` : "—"),
      el("td", { class: live.available ? "ok" : "bad" }, live.available ? "available" : "unavailable"));
  }));
}

export function initCompare(models) {
  const box = document.getElementById("compare-models");
  box.replaceChildren(el("legend", {}, "Pick 2–4 models"), ...models.map((m, i) =>
    el("label", { class: "check" }, el("input", { type: "checkbox", value: m.id, checked: i < 2 ? "" : null }), m.id)));
  document.getElementById("compare-form").addEventListener("submit", runCompare);
}

async function one(model, prompt, maxTokens) {
  const started = performance.now();
  try {
    const res = await api("/v1/chat/completions", {
      method: "POST",
      raw: true,
      body: { model, messages: [{ role: "user", content: prompt }], max_tokens: maxTokens },
    });
    const ms = performance.now() - started;
    const facts = routeFacts(res.headers);
    const usage = res.data.usage || {};
    return { model, ok: true, text: res.data.choices[0].message.content || "", ms, usage, facts };
  } catch (err) {
    return { model, ok: false, text: `Error ${err.status || ""}: ${err.message}`, ms: performance.now() - started, usage: {}, facts: {} };
  }
}

async function runCompare(ev) {
  ev.preventDefault();
  const chosen = [...document.querySelectorAll("#compare-models input:checked")].map((i) => i.value);
  const out = document.getElementById("compare-results");
  if (chosen.length < 2 || chosen.length > 4) {
    out.replaceChildren(el("p", { class: "bad" }, "Pick between 2 and 4 models."));
    return;
  }
  const prompt = document.getElementById("compare-prompt").value.trim();
  const maxTokens = Number(document.getElementById("compare-max").value) || 16;
  out.replaceChildren(...chosen.map((m) => el("div", { class: "column pending", "data-model": m }, el("h3", {}, m), "…")));
  // In parallel: every model sees the same prompt at the same moment.
  const results = await Promise.all(chosen.map((m) => one(m, prompt, maxTokens)));
  out.replaceChildren(...results.map((r) => el("div", { class: `column ${r.ok ? "" : "bad"}`, "data-model": r.model },
    el("h3", {}, r.model),
    el("p", { class: "answer" }, r.text),
    el("dl", { class: "stats" },
      el("dt", {}, "Latency"), el("dd", { "data-field": "latency" }, `${Math.round(r.ms)} ms`),
      el("dt", {}, "Tokens"), el("dd", { "data-field": "tokens" }, `${r.usage.prompt_tokens ?? "—"} in / ${r.usage.completion_tokens ?? "—"} out`),
      el("dt", {}, "Cost"), el("dd", { "data-field": "cost" }, r.facts.cost ? fmtUsd(r.facts.cost) : "not billed"),
      el("dt", {}, "Instance"), el("dd", { "data-field": "instance" }, r.facts.instance || "—")))));
}
