// The page's entry point: wires the views together and owns the header
// controls (view tabs, connection switcher, model picker, reasoning).
//
// Views are plain sections toggled with `hidden`; the URL hash remembers
// the open view and conversation (#settings, #images, #c=<id>) so a reload
// comes back to the same place.

import { h, clear, announce } from "./dom.js";
import { api } from "./api.js";
import { ChatView } from "./chat.js";
import { Sidebar } from "./sidebar.js";
import { SettingsView, normalizeConnections } from "./settings.js";

const VIEWS = ["chat", "images", "settings"];

function normalizeModels(body) {
  const list = Array.isArray(body) ? body : body.data || body.models || [];
  return list.map((m) => (typeof m === "string" ? { id: m, label: m }
    : { id: m.id, label: m.display || m.name || m.id })).filter((m) => m.id);
}

class App {
  constructor() {
    this.connectionSelect = document.getElementById("connection");
    this.modelSelect = document.getElementById("model");
    this.reasoningSelect = document.getElementById("reasoning");
    this.onboardingPanel = document.getElementById("onboarding");
    this.modelsNote = document.getElementById("models-note");
    this.connections = [];
    this.activeConnection = null;
    this.images = null;
    this.imageSettings = null;

    this.chat = new ChatView(this);
    this.sidebar = new Sidebar(this);
    this.settings = new SettingsView(this);

    for (const tab of document.querySelectorAll(".tabs [data-view]")) {
      tab.addEventListener("click", () => this.show(tab.dataset.view));
    }
    this.connectionSelect.addEventListener("change", () => this.switchConnection());
    this.modelSelect.addEventListener("change", () => {
      this.modelSelect.classList.remove("needs-choice");
      localStorage.setItem("pluma.model", this.modelSelect.value);
      this.chat.conversation && api(`/api/conversations/${encodeURIComponent(this.chat.conversation.id)}`,
        { method: "PATCH", body: { model: this.modelSelect.value } }).catch(() => null);
    });
    // Reasoning effort is one of the conversation's generation settings.
    this.reasoningSelect.addEventListener("change", () => this.chat.saveSettings());

    const toggle = document.getElementById("sidebar-toggle");
    toggle.addEventListener("click", () => {
      const open = document.body.classList.toggle("sidebar-open");
      toggle.setAttribute("aria-expanded", String(open));
      if (open) document.getElementById("new-chat").focus();
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && document.body.classList.contains("sidebar-open")) {
        this.closeSidebarOnPhone();
        toggle.focus();
      }
    });
  }

  closeSidebarOnPhone() {
    document.body.classList.remove("sidebar-open");
    document.getElementById("sidebar-toggle").setAttribute("aria-expanded", "false");
  }

  model() {
    return this.modelSelect.value || "";
  }

  /** The server asked which model to use (the connection has no default and
   * its backend offers several): point at the Model menu, which lists them. */
  askForModel() {
    const offered = this.modelSelect.options.length - 1; // without "Connection default"
    this.modelsNote.textContent = offered > 0
      ? `This connection has no default model: pick one of its ${offered} models in the Model menu, then press Retry.`
      : "This connection has no default model: set one in Settings → Connections.";
    this.modelSelect.classList.add("needs-choice");
    this.modelSelect.focus();
  }

  connectionId() {
    return this.connectionSelect.value || "";
  }

  reasoning() {
    return this.reasoningSelect.value || "";
  }

  setReasoning(value) {
    this.reasoningSelect.value = value;
  }

  /** The generation settings a new conversation on the chosen connection
   * starts with (Settings → the connection's defaults). */
  connectionDefaults() {
    const id = this.connectionId();
    return this.connections.find((c) => c.id === id)?.generation || {};
  }

  show(view) {
    if (!VIEWS.includes(view)) view = "chat";
    for (const name of VIEWS) {
      document.getElementById(`view-${name}`).hidden = name !== view;
      const tab = document.querySelector(`.tabs [data-view="${name}"]`);
      if (tab) {
        if (name === view) tab.setAttribute("aria-current", "page");
        else tab.removeAttribute("aria-current");
      }
    }
    document.body.dataset.view = view;
    if (view === "settings") {
      this.settings.refresh();
      this.imageSettings?.refresh();
      history.replaceState(null, "", "#settings");
    } else if (view === "images") {
      this.loadImages();
      history.replaceState(null, "", "#images");
    } else {
      const id = this.chat.conversation?.id;
      history.replaceState(null, "", id ? `#c=${encodeURIComponent(id)}` : "#");
    }
  }

  async loadImages() {
    if (this.images) return this.images.refresh();
    try {
      const { ImagesView } = await import("./images.js");
      this.images = new ImagesView(this);
      await this.images.refresh();
    } catch (err) {
      const host = document.getElementById("view-images");
      clear(host).append(h("p", { class: "error", role: "alert",
        text: `The Images view could not load: ${err.message}` }));
    }
  }

  /** Reload connections (switcher + onboarding) and the models of the active one. */
  async connectionsChanged() {
    try {
      const { items, active } = normalizeConnections(await api("/api/connections"));
      this.connections = items;
      this.activeConnection = active;
    } catch (err) {
      this.connections = [];
      announce(`Connections could not be loaded: ${err.message}`);
    }
    clear(this.connectionSelect);
    for (const c of this.connections) {
      this.connectionSelect.append(h("option", { value: c.id, text: c.name }));
    }
    // An open conversation keeps its own connection while it still exists.
    const own = this.chat.conversation?.connection;
    const shown = own && this.connections.some((c) => c.id === own) ? own : this.activeConnection;
    if (shown) this.connectionSelect.value = shown;
    this.connectionSelect.disabled = this.connections.length === 0;
    const firstRun = this.connections.length === 0;
    this.onboardingPanel.hidden = !firstRun;
    if (firstRun) await this.settings.onboarding(this.onboardingPanel);
    await this.loadModels();
    this.chat.showDefaults();
  }

  /** Show an opened conversation with the connection and model it was
   * last used with: the switcher selects its connection (when it still
   * exists; without activating it, so other chats keep the active one) and
   * the picker its model (when that connection offers it). */
  async adoptConversation(summary) {
    const id = summary.connection;
    const known = id && this.connections.some((c) => c.id === id);
    const wanted = known ? id : this.activeConnection;
    if (wanted && this.connectionSelect.value !== wanted) {
      this.connectionSelect.value = wanted;
      await this.loadModels();
    }
    const model = summary.model;
    if (model && [...this.modelSelect.options].some((o) => o.value === model)) {
      this.modelSelect.value = model;
    }
  }

  /** A new chat starts on the active connection. */
  async resetConnection() {
    if (this.activeConnection && this.connectionSelect.value !== this.activeConnection) {
      this.connectionSelect.value = this.activeConnection;
      await this.loadModels();
    }
  }

  /** The switcher: the chosen connection becomes the active one (new chats
   * use it) and the open conversation's own connection. */
  async switchConnection() {
    const id = this.connectionSelect.value;
    try {
      await api(`/api/connections/${encodeURIComponent(id)}/activate`, { method: "POST" });
      this.activeConnection = id;
      announce(`Using ${this.connectionSelect.selectedOptions[0]?.textContent || id}.`);
    } catch (err) {
      this.chat.showError(err.message, "Open Settings → Connections to check this connection.");
    }
    const open = this.chat.conversation;
    if (open) {
      try {
        const saved = await api(`/api/conversations/${encodeURIComponent(open.id)}`,
          { method: "PATCH", body: { connection: id } });
        if (this.chat.conversation?.id === saved.id) this.chat.conversation = saved;
      } catch (err) {
        announce(`The conversation keeps its previous connection: ${err.message}`);
      }
    }
    await this.loadModels();
    this.chat.showDefaults();
  }

  async loadModels() {
    const wanted = localStorage.getItem("pluma.model") || "";
    clear(this.modelSelect);
    this.modelSelect.append(h("option", { value: "", text: "Connection default" }));
    this.modelsNote.textContent = "";
    if (this.connections.length === 0) return;
    const id = this.connectionId();
    try {
      const models = normalizeModels(
        await api(id ? `/api/models?connection=${encodeURIComponent(id)}` : "/api/models"));
      for (const m of models) this.modelSelect.append(h("option", { value: m.id, text: m.label }));
      if (models.some((m) => m.id === wanted)) this.modelSelect.value = wanted;
    } catch (err) {
      this.modelsNote.textContent = `Models unavailable: ${err.message}`;
    }
  }

  /** The image half of the server is optional: offer its views only when
   * its API answers. */
  async detectImages() {
    try {
      await api("/api/image-connections");
    } catch {
      return;
    }
    document.getElementById("images-tab").hidden = false;
    const { ImageSettings } = await import("./image_settings.js");
    this.imageSettings = new ImageSettings(this, document.getElementById("image-settings"));
  }

  /** A server started with an access token refuses the API without it.
   * Ask for it once and present it to POST /api/session, which answers
   * with the `pluma_token` cookie (HttpOnly, SameSite=Strict: no script on
   * the page can read it back); resolves when the API answers. */
  async signIn() {
    const check = () => fetch("/api/health?upstream=false").then((r) => r.status);
    if ((await check()) !== 401) return;
    const main = document.getElementById("main");
    const views = [...main.children];
    views.forEach((v) => { v.hidden = true; });
    const input = h("input", { type: "password", id: "access-token", autocomplete: "current-password",
      required: true });
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const form = h("form", { class: "card signin", "aria-label": "Access token" },
      h("h2", { text: "This Pluma server needs its access token" }),
      h("p", { text: "It was started with an access token (PLUMA_TOKEN or --token). Enter it to continue; this browser remembers it." }),
      h("label", { for: "access-token", text: "Access token" }), input, error,
      h("div", { class: "row" }, h("button", { type: "submit", text: "Continue" })));
    main.append(form);
    input.focus();
    const refuse = (message) => {
      error.textContent = message;
      error.hidden = false;
      input.select();
    };
    await new Promise((resolve) => {
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        try {
          await api("/api/session", { method: "POST", body: { token: input.value.trim() } });
        } catch (err) {
          refuse(err.status === 401
            ? "That token was not accepted. Check the value the server was started with."
            : `Signing in failed: ${err.message}`);
          return;
        }
        if ((await check()) === 401) {
          refuse("The server accepted the token but this browser did not keep its cookie; allow cookies for this site and try again.");
          return;
        }
        form.remove();
        views.forEach((v) => { v.hidden = false; });
        resolve();
      });
    });
  }

  async start() {
    await this.signIn();
    await Promise.all([this.settings.loadKinds(), this.detectImages()]);
    await Promise.all([this.connectionsChanged(), this.sidebar.refresh()]);
    const hash = location.hash.slice(1);
    if (hash.startsWith("c=")) {
      const id = decodeURIComponent(hash.slice(2));
      this.show("chat");
      try {
        await this.chat.open(id);
      } catch (err) {
        this.chat.render();
        this.chat.showError(err.message, "Pick a conversation from the list, or start a new one.");
      }
    } else if (hash === "settings" || hash === "images") {
      this.chat.render();
      this.show(hash);
    } else {
      this.chat.render();
      this.show("chat");
    }
    this.chat.showDefaults();
    document.body.classList.add("ready");
  }
}

const app = new App();
window.pluma = app; // for debugging from the console
app.start();
