// Chat: seed 003's three modes, a streamed answer, and a route card per answer.
import { api, el, fmtUsd, kindOfKey, notice, routeFacts, state, stream } from "./api.js";

const CARD = [
  ["model", "Model"], ["version", "Version"], ["instance", "Instance"], ["task", "Task"],
  ["reason", "Reason"], ["overhead", "Overhead (ms)"], ["attempts", "Attempts"],
  ["cost", "Cost"], ["cache", "Cache"],
];

const chat = { turns: [], conversation: null };

export function routeCard(facts) {
  const dl = el("dl", { class: "route-card", "data-request-id": facts.request_id || "" });
  for (const [field, label] of CARD) {
    const value = field === "cost" ? (facts.cost ? fmtUsd(facts.cost) : facts.costNote || "—") : facts[field] || "—";
    dl.append(el("dt", {}, label), el("dd", { "data-field": field, "data-raw": facts[field] || "" }, value));
  }
  return dl;
}

function bubble(role, text) {
  const body = el("div", { class: "text" }, text);
  const node = el("div", { class: `msg ${role}` }, el("div", { class: "role" }, role), body);
  document.getElementById("messages").append(node);
  return { node, body };
}

// A stream's cost is settled after its last token; the caller's own ledger has it.
async function settledCost(requestId) {
  if (kindOfKey(state.key) !== "key" && kindOfKey(state.key) !== "cognito") return null;
  for (let i = 0; i < 10; i++) {
    try {
      const usage = await api("/v1/usage");
      const row = (usage.data || []).find((r) => r.request_id === requestId);
      if (row) return row.cost_usd;
    } catch { return null; }
    await new Promise((r) => setTimeout(r, 300));
  }
  return null;
}

function request(mode, prompt) {
  const max = Number(document.getElementById("max-tokens").value) || 24;
  const model = document.getElementById("model").value;
  if (mode === "hybrid") {
    // /inference is where seed 003's preferred_model + fallback_mode live; it streams too.
    return {
      path: "/inference",
      body: { prompt, preferred_model: model, fallback_mode: document.getElementById("fallback").value, max_length: max, stream: true },
      delta: (ev) => (ev.choices && ev.choices[0] && ev.choices[0].text) || "",
    };
  }
  const body = {
    model: mode === "auto" ? "auto" : model,
    messages: [...chat.turns, { role: "user", content: prompt }],
    max_tokens: max,
    stream: true,
  };
  if (document.getElementById("keep").checked && kindOfKey(state.key) !== "demo") {
    body.save_conversation = true;
    if (chat.conversation) body.conversation_id = chat.conversation;
  }
  return { path: "/v1/chat/completions", body, delta: (ev) => (ev.choices && ev.choices[0] && ev.choices[0].delta && ev.choices[0].delta.content) || "" };
}

async function send(ev) {
  ev.preventDefault();
  const input = document.getElementById("prompt");
  const prompt = input.value.trim();
  if (!prompt) return;
  const mode = document.getElementById("mode").value;
  const { path, body, delta } = request(mode, prompt);
  input.value = "";
  bubble("user", prompt);
  const answer = bubble("assistant", "");
  answer.node.dataset.state = "streaming";
  const sendBtn = document.getElementById("send");
  sendBtn.disabled = true;
  let facts = null;
  let chunks = 0;
  try {
    await stream(path, body, {
      onHeaders: (h) => {
        facts = routeFacts(h);
        allowance = { left: h.get("x-ratelimit-remaining-requests"), limit: h.get("x-ratelimit-limit-requests") };
      },
      onEvent: (event) => {
        const text = delta(event);
        if (text) { chunks += 1; answer.body.textContent += text; answer.node.dataset.chunks = String(chunks); }
      },
    });
    answer.node.dataset.state = "done";
    if (!facts.cache) facts.cache = "not cached (stream)";
    const card = routeCard({ ...facts, costNote: "settling…" });
    answer.node.append(card);
    if (mode !== "hybrid") {
      chat.turns.push({ role: "user", content: prompt }, { role: "assistant", content: answer.body.textContent });
    }
    if (facts.conversation) { chat.conversation = facts.conversation; listed(facts.conversation); }
    const cost = facts.cost || (await settledCost(facts.request_id));
    const dd = card.querySelector('[data-field="cost"]');
    dd.textContent = cost !== null && cost !== undefined ? fmtUsd(cost) : "not billed (demo or admin)";
    dd.dataset.raw = cost || "";
  } catch (err) {
    answer.node.dataset.state = "error";
    answer.body.textContent = `Error ${err.status || ""}: ${err.message}`;
    if (err.status === 429 && kindOfKey(state.key) === "demo") notice("The demo tier's requests are used up for now; sign up for full access.", "error");
  } finally {
    sendBtn.disabled = false;
    demoLeft();
  }
}

// History is written once the stream has ended, so a new conversation may take a moment to list.
async function listed(id) {
  for (let i = 0; i < 10; i++) {
    const ids = await loadConversations();
    if (ids.includes(id)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
}

export async function loadConversations() {
  const list = document.getElementById("conversations");
  const hint = document.getElementById("history-hint");
  list.replaceChildren();
  const kind = kindOfKey(state.key);
  hint.hidden = kind === "key" || kind === "cognito";
  if (!hint.hidden) return [];
  try {
    const res = await api("/v1/conversations");
    list.replaceChildren(...(res.data || []).map((c) =>
      el("li", {}, el("a", { href: "#chat", "data-conversation": c.id, onclick: () => openConversation(c.id) }, c.title || c.id.slice(0, 8)))));
    return (res.data || []).map((c) => c.id);
  } catch (err) {
    hint.hidden = false;
    hint.textContent = `History unavailable: ${err.message}`;
    return [];
  }
}

async function openConversation(id) {
  const conv = await api(`/v1/conversations/${id}`);
  chat.conversation = conv.id;
  chat.turns = conv.messages.map((m) => ({ role: m.role, content: m.content }));
  document.getElementById("messages").replaceChildren();
  for (const m of conv.messages) bubble(m.role, m.content);
  document.getElementById("keep").checked = true;
}

function newChat() {
  chat.turns = [];
  chat.conversation = null;
  document.getElementById("messages").replaceChildren();
}

// The demo allowance comes from the x-ratelimit-* headers of the last answer (the caller's
// own per-minute bucket); before the first answer the console only states that there is one.
let allowance = { left: null, limit: null };

function demoLeft() {
  const span = document.getElementById("demo-left");
  if (kindOfKey(state.key) !== "demo") { span.textContent = ""; return; }
  const { left, limit } = allowance;
  span.dataset.left = left ?? "";
  span.textContent = left !== null && limit !== null
    ? `Demo tier: ${left} of ${limit} requests left this minute, short answers. Sign up for full access.`
    : "Demo tier: limited requests and short answers. Sign up for full access.";
}

function syncMode() {
  const mode = document.getElementById("mode").value;
  document.getElementById("model-field").hidden = mode === "auto";
  document.getElementById("fallback-field").hidden = mode !== "hybrid";
}

export async function initChat(models) {
  const select = document.getElementById("model");
  select.replaceChildren(...models.map((m) => el("option", { value: m.id }, m.id)));
  const fallback = document.getElementById("fallback");
  fallback.replaceChildren(el("option", { value: "auto" }, "auto"), el("option", { value: "none" }, "none"));
  document.getElementById("mode").addEventListener("change", syncMode);
  document.getElementById("chat-form").addEventListener("submit", send);
  document.getElementById("prompt").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); document.getElementById("chat-form").requestSubmit(); }
  });
  document.getElementById("new-chat").addEventListener("click", newChat);
  syncMode();
  demoLeft();
}

export function onAuth() { demoLeft(); loadConversations(); }
