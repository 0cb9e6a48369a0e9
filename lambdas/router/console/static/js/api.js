import { finishHostedSignIn, startHostedSignIn } from "./pkce.js";

// Shared by every page: where the API is, which key signs requests, and how to call it.
// Only the public HTTP API is used; nothing here knows the router's internals.

const KEY_STORE = "motherfluxer.key";
export const state = { base: "", key: localStorage.getItem(KEY_STORE) || "", config: {} };

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || "";
  }
}

export async function loadConfig() {
  try {
    const res = await fetch("/ui/config.json");
    state.config = res.ok ? await res.json() : {};
  } catch {
    state.config = {};
  }
  state.base = state.config.api_base || "";
  // Back from Cognito's hosted UI with ?code=&state=: exchange the code (PKCE) for tokens.
  const back = await finishHostedSignIn(state.config.cognito);
  if (back && back.token) setKey(back.token);
  if (back && back.error) notice(`Sign-in failed: ${back.error}`, "error");
  return state.config;
}

export function setKey(key) {
  state.key = key || "";
  if (state.key) localStorage.setItem(KEY_STORE, state.key);
  else localStorage.removeItem(KEY_STORE);
}

function headers(extra) {
  const h = { "Content-Type": "application/json", ...(extra || {}) };
  if (state.key) h.Authorization = `Bearer ${state.key}`;
  return h;
}

// JSON in, JSON out; non-2xx raises ApiError with the API's own message.
export async function api(path, { method = "GET", body, raw = false } = {}) {
  const res = await fetch(state.base + path, {
    method,
    headers: headers(),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: { message: text } }; }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && state.key) signedOutBecause(err);
    throw err;
  }
  return raw ? { data, headers: res.headers, status: res.status } : data;
}

// POST and read an SSE stream; `onHeaders` sees the response before the first token.
export async function stream(path, body, { onHeaders, onEvent }) {
  const res = await fetch(state.base + path, { method: "POST", headers: headers(), body: JSON.stringify(body) });
  if (onHeaders) onHeaders(res.headers, res.status);
  if (!res.ok) {
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    const err = new ApiError(res.status, data);
    if (res.status === 401 && state.key) signedOutBecause(err);
    throw err;
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      for (const line of block.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return res.headers;
        onEvent(JSON.parse(data));
      }
    }
  }
  return res.headers;
}

// The route card's facts, read from the x-motherfluxer-* response headers.
export function routeFacts(h) {
  const get = (name) => h.get(`x-motherfluxer-${name}`);
  return {
    model: get("model"),
    version: get("version"),
    instance: get("instance"),
    task: get("task"),
    reason: get("route-reason"),
    overhead: get("overhead-ms"),
    attempts: get("attempts"),
    cost: get("cost-usd"),
    cache: get("cache"),
    request_id: h.get("x-request-id"),
    conversation: get("conversation-id"),
  };
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function notice(message, kind = "info") {
  const box = document.getElementById("notice");
  box.textContent = message;
  box.dataset.kind = kind;
  box.hidden = !message;
}

export function fmtUsd(v) {
  if (v === null || v === undefined || v === "") return "—";
  const n = Number(v);
  return n === 0 ? "$0" : n < 0.01 ? `$${n.toPrecision(3)}` : `$${n.toFixed(4)}`;
}

export function kindOfKey(key) {
  if (!key) return "demo";
  if (key.startsWith("mf_admin_")) return "admin";
  if (key.split(".").length === 3) return "cognito";
  return "key";
}

let onAuthChange = () => {};

// Signs the person out now, saying why (a revoked key, their own revocation of it, ...).
export function signOut(message, kind = "info") {
  setKey("");
  notice(message, kind);
  renderSignin();
  onAuthChange();
}

function signedOutBecause(err) {
  notice(`Your key was refused (${err.message}). It may have been revoked; sign in again.`, "error");
  setKey("");
  renderSignin();
  onAuthChange();
}

// The sign-in box: an API key (or the admin key), local sign-up, or Cognito's hosted UI.
export function renderSignin(changed) {
  if (changed) onAuthChange = changed;
  const box = document.getElementById("signin");
  box.replaceChildren();
  if (state.key) {
    box.append(
      el("span", { id: "whoami" }, `Signed in (${kindOfKey(state.key)})`),
      el("button", { id: "signout", type: "button", onclick: () => { setKey(""); notice(""); renderSignin(); onAuthChange(); } }, "Sign out"),
    );
    return;
  }
  const input = el("input", { id: "key-input", type: "password", placeholder: "API key or admin key", autocomplete: "off" });
  const form = el("form", { id: "signin-form", onsubmit: async (ev) => {
    ev.preventDefault();
    setKey(input.value.trim());
    notice("");
    renderSignin();
    onAuthChange();
  } }, input, el("button", { type: "submit" }, "Sign in"));
  box.append(el("span", { id: "whoami", class: "muted" }, "Demo tier"), form);
  if (state.config.local_signup) {
    const name = el("input", { id: "signup-name", placeholder: "Your name", maxlength: "200" });
    box.append(el("form", { id: "signup-form", onsubmit: (ev) => { ev.preventDefault(); signUp(name.value.trim()); } },
      name, el("button", { type: "submit" }, "Sign up")));
  }
  const cog = state.config.cognito;
  if (cog) {
    box.append(el("button", { id: "cognito-signin", type: "button", onclick: () => startHostedSignIn(cog) }, "Sign in / sign up"));
  }
}

async function signUp(name) {
  if (!name) return;
  try {
    const res = await api("/ui/signup", { method: "POST", body: { name } });
    setKey(res.key);
    notice(`Welcome! Your key (shown once, keep it): ${res.key}`, "secret");
    renderSignin();
    onAuthChange();
  } catch (err) {
    notice(`Sign-up failed: ${err.message}`, "error");
  }
}

// Tabs follow the URL fragment so each page can be linked (and screenshotted) directly.
export function tabs(names, onShow) {
  const show = () => {
    const want = location.hash.replace(/^#/, "");
    const name = names.includes(want) ? want : names[0];
    for (const n of names) document.getElementById(`tab-${n}`).hidden = n !== name;
    for (const a of document.querySelectorAll("nav a[data-tab]")) a.classList.toggle("active", a.dataset.tab === name);
    onShow(name);
  };
  window.addEventListener("hashchange", show);
  show();
}
