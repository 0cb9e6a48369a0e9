// The console's entry point: sign-in, tabs, and the pages of index.html.
import { loadConfig, notice, renderSignin, tabs } from "./api.js";
import { renderAccount } from "./account.js";
import { initChat, onAuth } from "./chat.js";
import { fetchModels, initCompare, renderModels } from "./models.js";

async function start() {
  await loadConfig();
  let current = "chat";
  const refresh = () => { onAuth(); if (current === "account") renderAccount(); };
  renderSignin(refresh);
  let models = [];
  try {
    models = await fetchModels();
  } catch (err) {
    // A refused key has already signed the person out, saying why; the demo tier still
    // sees the catalog.
    if (err.status === 401) models = await fetchModels().catch(() => []);
    else notice(`Cannot reach the router: ${err.message}`, "error");
  }
  await initChat(models);
  initCompare(models);
  onAuth();
  tabs(["chat", "models", "compare", "account"], async (name) => {
    current = name;
    if (name === "models") renderModels(await fetchModels());
    if (name === "account") renderAccount();
  });
  document.body.dataset.ready = "true";
}

start();
