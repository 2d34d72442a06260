// Settings → Connections, and the first-run onboarding panel.
//
// The API key field is write-only: the server never sends a key back, only
// whether one is set, so the field stays empty and says "set" in its
// placeholder; typing a new key replaces it, "Remove key" clears it.
// The compat dropdown is filled from GET /api/providers (the registry), so a
// provider plugin shows up here without any change to the page.
// A new connection can start from a preset (GET /api/presets: every provider
// of the model catalog the registered compats reach): picking one fills the
// name, compat and base URL, and names the key variable to paste from.

import { h, clear, field, announce } from "./dom.js";
import { api } from "./api.js";
import { GenerationFields } from "./generation.js";

/** The server's connection list in one shape: {items, active}. */
export function normalizeConnections(body) {
  const items = Array.isArray(body) ? body : body.connections || body.data || [];
  let active = body && !Array.isArray(body) ? body.active ?? body.active_id ?? null : null;
  if (active && typeof active === "object") active = active.id;
  if (!active) active = items.find((c) => c.active)?.id ?? null;
  return { items, active };
}

export function hasKey(c) {
  return Boolean(c.has_key ?? c.api_key_set ?? c.key_set ?? (c.api_key === "set"));
}

export function normalizeKinds(body) {
  const list = Array.isArray(body) ? body : body.providers || body.kinds || body.data || [];
  // A plugin's compat is shown by the display name its plugin gave.
  const labels = (!Array.isArray(body) && body.labels) || {};
  return list.map((p) => (typeof p === "string" ? { id: p, label: labels[p] || p } : {
    id: p.id || p.compat || p.kind || p.name,
    label: p.label || p.name || p.id || p.compat,
  })).filter((p) => p.id);
}

export function normalizePresets(body) {
  const list = Array.isArray(body) ? body : body.presets || [];
  return list.filter((p) => p && p.id && p.base_url && p.compat);
}

export function normalizeFound(body) {
  const list = Array.isArray(body) ? body : body.found || body.backends || body.data || [];
  return list;
}

export class SettingsView {
  constructor(app) {
    this.app = app;
    this.listEl = document.getElementById("connection-list");
    this.formHost = document.getElementById("connection-form-host");
    this.errorEl = document.getElementById("settings-error");
    this.kinds = [];
    this.presets = null; // loaded on the first "Add connection"
    this.connections = [];
    this.active = null;
    this.verdicts = new Map(); // connection id -> {ok, text}: survives re-renders
    document.getElementById("add-connection").addEventListener("click", () => this.create());
  }

  async loadKinds() {
    try {
      this.kinds = normalizeKinds(await api("/api/providers"));
    } catch {
      this.kinds = [{ id: "openai", label: "openai" }, { id: "anthropic", label: "anthropic" }];
    }
  }

  async loadPresets() {
    if (this.presets !== null) return this.presets;
    try {
      this.presets = normalizePresets(await api("/api/presets"));
    } catch {
      this.presets = []; // the form still works by hand
    }
    return this.presets;
  }

  async refresh() {
    try {
      const { items, active } = normalizeConnections(await api("/api/connections"));
      this.connections = items;
      this.active = active;
      this.errorEl.hidden = true;
    } catch (err) {
      this.errorEl.textContent = `Connections could not be loaded: ${err.message}`;
      this.errorEl.hidden = false;
    }
    this.render();
    return this.connections;
  }

  render() {
    clear(this.listEl);
    if (this.connections.length === 0) {
      this.listEl.append(h("li", { class: "muted", text: "No connections yet — add one." }));
      return;
    }
    for (const c of this.connections) this.listEl.append(this.row(c));
  }

  row(c) {
    const isActive = c.id === this.active || c.active === true;
    const last = this.verdicts.get(c.id);
    const verdict = h("p", { class: `verdict${last ? (last.ok ? " ok" : " bad") : ""}`, role: "status",
      "aria-live": "polite", text: last ? last.text : "" });
    const buttons = [
      h("button", { type: "button", class: "secondary", text: "Test",
        "aria-label": `Test ${c.name}`, onclick: () => this.test(c, verdict) }),
    ];
    if (!isActive) {
      buttons.push(h("button", { type: "button", class: "secondary", text: "Activate",
        "aria-label": `Activate ${c.name}`, onclick: () => this.activate(c) }));
    }
    if (!c.fallback) {
      buttons.push(
        h("button", { type: "button", class: "secondary", text: "Edit",
          "aria-label": `Edit ${c.name}`, onclick: () => this.edit(c) }),
        h("button", { type: "button", class: "secondary danger", text: "Delete",
          "aria-label": `Delete ${c.name}`, onclick: () => this.remove(c) }),
      );
    }
    return h("li", { class: `connection${isActive ? " active" : ""}`, dataset: { id: c.id } },
      h("div", { class: "connection-head" },
        h("strong", { class: "connection-name", text: c.name }),
        isActive ? h("span", { class: "badge", text: "active" }) : null,
        h("span", { class: "muted", text: ` ${c.compat} · ${c.base_url}` })),
      h("div", { class: "muted small", text:
        `Model: ${c.default_model || "(upstream default)"} · API key: ${hasKey(c) ? "set" : "not set"}` }),
      h("div", { class: "row" }, buttons),
      verdict);
  }

  /** The form for a new connection, with the presets once they are loaded. */
  async create() {
    await this.loadPresets();
    this.edit(null);
  }

  edit(c) {
    clear(this.formHost);
    const creating = !c;
    const name = h("input", { type: "text", required: true, maxlength: "64", autocomplete: "off",
      value: c?.name || "" });
    const compat = h("select", { required: true });
    const kinds = this.kinds.length ? this.kinds : [{ id: "openai", label: "openai" }];
    for (const k of kinds) compat.append(h("option", { value: k.id, text: k.label }));
    compat.value = c?.compat || (kinds.some((k) => k.id === "openai") ? "openai" : kinds[0].id);
    const baseUrl = h("input", { type: "url", required: true, autocomplete: "off",
      placeholder: "http://127.0.0.1:11434/v1", value: c?.base_url || "" });
    const model = h("input", { type: "text", autocomplete: "off", value: c?.default_model || "" });
    const key = h("input", { type: "password", autocomplete: "new-password", spellcheck: "false",
      placeholder: c && hasKey(c) ? "set — type to replace" : "not set" });
    const keyHint = "Write-only: stored in the OS keyring, never shown again.";
    let preset = null;
    if (creating) {
      const presets = this.presets || [];
      preset = h("select", {},
        h("option", { value: "", text: "— none: fill in by hand —" }),
        presets.map((p) => h("option", { value: p.id, text: `${p.name} (${p.compat})` })));
      let filledName = "";
      preset.addEventListener("change", () => {
        const p = presets.find((x) => x.id === preset.value);
        const hint = key.closest(".field")?.querySelector(".hint");
        if (!p) {
          key.placeholder = "not set";
          if (hint) hint.textContent = keyHint;
          return;
        }
        if (!name.value.trim() || name.value === filledName) name.value = filledName = p.id;
        if (![...compat.options].some((o) => o.value === p.compat)) {
          compat.append(h("option", { value: p.compat, text: p.compat }));
        }
        compat.value = p.compat;
        baseUrl.value = p.base_url;
        key.placeholder = p.key_env ? `paste your ${p.key_env}` : "not set";
        key.dataset.keyEnv = p.key_env || "";
        if (hint) {
          hint.textContent = p.key_env
            ? `${p.name} keys are usually kept in ${p.key_env}. ${keyHint}`
            : keyHint;
        }
        if (baseUrl.value.includes("${")) baseUrl.focus();
      });
    }
    const removeKey = c && hasKey(c)
      ? h("label", { class: "check" }, h("input", { type: "checkbox", id: "remove-key" }), " Remove the stored key")
      : null;
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const generation = new GenerationFields();
    generation.set(c?.generation);
    const defaults = h("details", { class: "generation-defaults", open: Object.keys(c?.generation || {}).length > 0 },
      h("summary", { text: "Default generation settings" }),
      h("p", { class: "hint", text: "New conversations on this connection start with these; each conversation can change its own." }),
      generation.el);
    const form = h("form", { class: "card", "aria-label": creating ? "Add a connection" : `Edit ${c.name}` },
      h("h3", { text: creating ? "Add a connection" : `Edit “${c.name}”` }),
      preset ? field("Preset", preset, "A known provider: fills compat, base URL and names its key variable.") : null,
      field("Name", name, "Used to address models as name/model."),
      field("Compatibility", compat, "Which protocol the backend speaks (from the server's providers)."),
      field("Base URL", baseUrl, "Usually ends in /v1."),
      field("Default model", model, "Optional; the model picker can override it."),
      field("API key", key, keyHint),
      removeKey,
      defaults,
      error,
      h("div", { class: "row" },
        h("button", { type: "submit", text: creating ? "Add connection" : "Save" }),
        h("button", { type: "button", class: "secondary", text: "Cancel",
          onclick: () => clear(this.formHost) })));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = {
        name: name.value.trim(),
        compat: compat.value,
        base_url: baseUrl.value.trim(),
        default_model: model.value.trim(),
        generation: generation.value(),
      };
      if (creating && !this.active) body.activate = true;
      // The revision this form was filled from: if someone else saved the
      // connection meanwhile, the server refuses (409) instead of overwriting.
      if (!creating && c.revision !== undefined) body.revision = c.revision;
      if (key.value) body.api_key = key.value;
      else if (removeKey && removeKey.querySelector("input").checked) body.api_key = null;
      try {
        if (creating) await api("/api/connections", { method: "POST", body });
        else await api(`/api/connections/${encodeURIComponent(c.id)}`, { method: "PUT", body });
        key.value = "";
        if (!creating) this.verdicts.delete(c.id);
        clear(this.formHost);
        announce(creating ? `Added ${body.name}.` : `Saved ${body.name}.`);
        await this.refresh();
        await this.app.connectionsChanged();
        this.listEl.querySelector(`li[data-id] .connection-name`)?.closest("li")
          ?.querySelector("button")?.focus();
      } catch (err) {
        if (/^generation\./.test(err.message)) {
          defaults.open = true;
          generation.showError(err);
        }
        error.textContent = err.message;
        error.hidden = false;
      }
    });
    this.formHost.append(form);
    name.focus();
  }

  async test(c, verdict) {
    verdict.className = "verdict";
    verdict.textContent = "Testing…";
    this.verdicts.delete(c.id);
    let outcome;
    try {
      const result = await api(`/api/connections/${encodeURIComponent(c.id)}/test`, { method: "POST" });
      const ok = result.ok === true;
      const detail = result.message || "";
      const models = typeof result.models === "number" ? result.models
        : Array.isArray(result.models) ? result.models.length : null;
      outcome = { ok, text: ok
        ? `✓ Works${models !== null ? ` — ${models} model${models === 1 ? "" : "s"} available` : ""}`
        : `✗ Failed: ${detail || "the backend did not answer as expected"}` };
    } catch (err) {
      outcome = { ok: false, text: `✗ Failed: ${err.message}` };
    }
    this.verdicts.set(c.id, outcome);
    // The row may have been re-rendered meanwhile: update whichever is shown.
    const shown = this.listEl.querySelector(`li[data-id="${CSS.escape(c.id)}"] .verdict`) || verdict;
    shown.className = `verdict ${outcome.ok ? "ok" : "bad"}`;
    shown.textContent = outcome.text;
  }

  async activate(c) {
    try {
      await api(`/api/connections/${encodeURIComponent(c.id)}/activate`, { method: "POST" });
      announce(`${c.name} is now the active connection.`);
    } catch (err) {
      this.errorEl.textContent = `Could not activate ${c.name}: ${err.message}`;
      this.errorEl.hidden = false;
    }
    await this.refresh();
    await this.app.connectionsChanged();
  }

  async remove(c) {
    if (!window.confirm(`Delete the connection “${c.name}” and its stored key?`)) return;
    try {
      await api(`/api/connections/${encodeURIComponent(c.id)}`, { method: "DELETE" });
      announce(`Deleted ${c.name}.`);
    } catch (err) {
      this.errorEl.textContent = `Could not delete ${c.name}: ${err.message}`;
      this.errorEl.hidden = false;
    }
    await this.refresh();
    await this.app.connectionsChanged();
  }

  /** First run: offer the local backends the server found, or the form. */
  async onboarding(panel) {
    clear(panel);
    panel.append(h("h2", { text: "Welcome to Pluma" }),
      h("p", { text: "Pluma needs a chat backend. Looking for one on this machine…" }));
    let found = [];
    try {
      found = normalizeFound(await api("/api/discovery"));
    } catch {
      found = [];
    }
    clear(panel);
    panel.append(h("h2", { text: "Welcome to Pluma" }));
    if (found.length) {
      panel.append(h("p", { text: "These local backends are running. Use one to start chatting:" }));
      const list = h("ul", { class: "found" });
      for (const f of found) {
        const profile = f.profile || { name: f.label, compat: "openai", base_url: f.base_url,
          default_model: (f.models || [])[0] || "" };
        const models = f.models || [];
        list.append(h("li", {},
          h("div", {}, h("strong", { text: f.label || profile.name }),
            h("span", { class: "muted", text: ` ${f.base_url || profile.base_url}` })),
          h("div", { class: "muted small", text: models.length
            ? `${models.length} model${models.length === 1 ? "" : "s"}: ${models.slice(0, 5).join(", ")}`
            : "no models listed" }),
          h("button", { type: "button", text: `Use ${f.label || profile.name}`, onclick: async (e) => {
            e.target.disabled = true;
            try {
              await api("/api/connections", { method: "POST", body: { ...profile, activate: true } });
              announce(`Connected to ${profile.name}.`);
              await this.refresh();
              await this.app.connectionsChanged();
            } catch (err) {
              e.target.disabled = false;
              panel.append(h("p", { class: "form-error", role: "alert", text: err.message }));
            }
          } })));
      }
      panel.append(list);
    } else {
      panel.append(h("p", { text: "No local backend (Ollama, LM Studio, llama.cpp, vLLM) answered. Add a connection to any OpenAI-compatible or Anthropic endpoint:" }));
    }
    panel.append(h("button", { type: "button", class: "secondary", text: "Add a connection…",
      onclick: () => {
        this.app.show("settings");
        this.create();
      } }));
  }
}
