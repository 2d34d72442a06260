// Settings → Image backends (AUTOMATIC1111 and ComfyUI profiles).
//
// Same rules as chat connections: the secret (Basic password or bearer
// token) is write-only, the kind dropdown comes from /api/image-providers.
// A ComfyUI workflow (API-format JSON) can be uploaded; the page lists the
// %placeholders% it uses so a person can see what Pluma will fill in
// before saving (the server validates it again).

import { h, clear, field, announce } from "./dom.js";
import { api } from "./api.js";

/** The %name% placeholders a workflow's JSON text uses, in order of first use. */
export function placeholdersIn(text) {
  const seen = [];
  for (const m of String(text).matchAll(/%([A-Za-z_][A-Za-z0-9_]*)%/g)) {
    if (!seen.includes(m[1])) seen.push(m[1]);
  }
  return seen;
}

export class ImageSettings {
  constructor(app, root) {
    this.app = app;
    this.root = root;
    this.kinds = [];
    this.labels = {};
    this.known = [];
    this.items = [];
    this.active = null;
    this.verdicts = new Map();
    this.listEl = h("ul", { class: "connections", id: "image-connection-list" });
    this.formHost = h("div");
    this.errorEl = h("p", { class: "form-error", role: "alert", hidden: true });
    clear(root).append(
      h("div", { class: "row spread" },
        h("h3", { id: "image-settings-heading", text: "Image backends" }),
        h("button", { type: "button", text: "Add image backend", onclick: () => this.edit(null) })),
      this.errorEl, this.formHost, this.listEl);
    root.hidden = false;
  }

  async refresh() {
    try {
      if (!this.kinds.length) {
        const [kinds, workflow] = await Promise.all([
          api("/api/image-providers"), api("/api/images/workflow").catch(() => ({})),
        ]);
        this.kinds = kinds.providers || [];
        this.labels = kinds.labels || {}; // plugin kinds: the display name their plugin gave
        this.known = workflow.placeholders || [];
      }
      const body = await api("/api/image-connections");
      this.items = body.connections || [];
      this.active = body.active;
      this.errorEl.hidden = true;
    } catch (err) {
      this.errorEl.textContent = `Image backends could not be loaded: ${err.message}`;
      this.errorEl.hidden = false;
    }
    this.render();
  }

  render() {
    clear(this.listEl);
    if (!this.items.length) {
      this.listEl.append(h("li", { class: "muted", text: "No image backend yet — add AUTOMATIC1111 or ComfyUI." }));
    }
    for (const c of this.items) {
      const isActive = c.id === this.active;
      const last = this.verdicts.get(c.id);
      const verdict = h("p", { class: `verdict${last ? (last.ok ? " ok" : " bad") : ""}`, role: "status",
        text: last ? last.text : "" });
      const buttons = [h("button", { type: "button", class: "secondary", text: "Test",
        "aria-label": `Test ${c.name}`, onclick: () => this.test(c) })];
      if (!isActive) {
        buttons.push(h("button", { type: "button", class: "secondary", text: "Activate",
          "aria-label": `Activate ${c.name}`, onclick: () => this.act(c, "activate") }));
      }
      if (!c.fallback) {
        buttons.push(
          h("button", { type: "button", class: "secondary", text: "Edit", "aria-label": `Edit ${c.name}`,
            onclick: () => this.edit(c) }),
          h("button", { type: "button", class: "secondary danger", text: "Delete",
            "aria-label": `Delete ${c.name}`, onclick: () => this.act(c, "delete") }));
      }
      const workflow = c.kind === "comfyui"
        ? ` · workflow: ${c.workflow ? `custom (${placeholdersIn(JSON.stringify(c.workflow)).join(", ") || "no placeholders"})` : "default"}`
        : "";
      this.listEl.append(h("li", { class: `connection${isActive ? " active" : ""}`, dataset: { id: c.id } },
        h("div", { class: "connection-head" }, h("strong", { text: c.name }),
          isActive ? h("span", { class: "badge", text: "active" }) : null,
          h("span", { class: "muted", text: ` ${c.kind} · ${c.base_url}` })),
        h("div", { class: "muted small", text:
          `Auth: ${c.auth}${c.auth !== "none" ? ` (${c.has_secret ? "secret set" : "secret not set"})` : ""}` +
          ` · checkpoint: ${c.default_checkpoint || "backend default"}${workflow}` }),
        h("div", { class: "row" }, buttons), verdict));
    }
  }

  edit(c) {
    clear(this.formHost);
    const creating = !c;
    const name = h("input", { type: "text", required: true, value: c?.name || "" });
    const kind = h("select", {}, (this.kinds.length ? this.kinds : ["a1111", "comfyui"])
      .map((k) => h("option", { value: k, text: k === "a1111" ? "AUTOMATIC1111 (a1111)" : k === "comfyui" ? "ComfyUI" : this.labels?.[k] || k })));
    kind.value = c?.kind || "a1111";
    const baseUrl = h("input", { type: "url", required: true, value: c?.base_url || "",
      placeholder: "http://127.0.0.1:7860" });
    const auth = h("select", {}, ["none", "basic", "bearer"].map((a) => h("option", { value: a, text: a })));
    auth.value = c?.auth || "none";
    const username = h("input", { type: "text", autocomplete: "off", value: c?.username || "" });
    const secret = h("input", { type: "password", autocomplete: "new-password",
      placeholder: c?.has_secret ? "set — type to replace" : "not set" });
    const checkpoint = h("input", { type: "text", value: c?.default_checkpoint || "" });
    const file = h("input", { type: "file", accept: "application/json,.json" });
    const placeholderNote = h("p", { class: "small", role: "status" });
    let workflow; // undefined: unchanged
    file.addEventListener("change", async () => {
      const chosen = file.files[0];
      if (!chosen) return;
      const text = await chosen.text();
      try {
        workflow = JSON.parse(text);
      } catch (err) {
        workflow = undefined;
        placeholderNote.className = "small form-error";
        placeholderNote.textContent = `${chosen.name} is not valid JSON: ${err.message}`;
        return;
      }
      const used = placeholdersIn(text);
      const unknown = used.filter((p) => this.known.length && !this.known.includes(p));
      placeholderNote.className = unknown.length ? "small form-error" : "small";
      placeholderNote.textContent = used.length
        ? `Placeholders used: ${used.map((p) => `%${p}%`).join(", ")}` +
          (unknown.length ? ` — unknown to Pluma: ${unknown.join(", ")}` : "") +
          (used.includes("prompt") ? "" : " — %prompt% is missing (required)")
        : "This workflow uses no %placeholders%: every generation would be identical.";
    });
    const workflowField = field("ComfyUI workflow (API format JSON)", file,
      "Optional: upload your own; otherwise Pluma's default text-to-image workflow is used.");
    const syncKind = () => {
      workflowField.hidden = kind.value !== "comfyui";
      placeholderNote.hidden = kind.value !== "comfyui";
    };
    kind.addEventListener("change", syncKind);
    syncKind();
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const form = h("form", { class: "card", "aria-label": creating ? "Add an image backend" : `Edit ${c.name}` },
      h("h3", { text: creating ? "Add an image backend" : `Edit “${c.name}”` }),
      field("Name", name), field("Kind", kind), field("Base URL", baseUrl),
      field("Authentication", auth), field("Username", username, "For basic auth (A1111 --api-auth)."),
      field("Password or token", secret, "Write-only: stored in the OS keyring."),
      field("Default checkpoint", checkpoint), workflowField, placeholderNote, error,
      h("div", { class: "row" }, h("button", { type: "submit", text: creating ? "Add image backend" : "Save" }),
        h("button", { type: "button", class: "secondary", text: "Cancel", onclick: () => clear(this.formHost) })));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { name: name.value.trim(), kind: kind.value, base_url: baseUrl.value.trim(),
        auth: auth.value, username: username.value.trim(), default_checkpoint: checkpoint.value.trim() };
      if (secret.value) body.secret = secret.value;
      if (workflow !== undefined && kind.value === "comfyui") body.workflow = workflow;
      if (creating && !this.active) body.activate = true;
      try {
        if (creating) await api("/api/image-connections", { method: "POST", body });
        else await api(`/api/image-connections/${encodeURIComponent(c.id)}`, { method: "PUT", body });
        if (!creating) this.verdicts.delete(c.id);
        clear(this.formHost);
        announce(`Saved ${body.name}.`);
        await this.refresh();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    });
    this.formHost.append(form);
    name.focus();
  }

  async test(c) {
    let outcome;
    try {
      const r = await api(`/api/image-connections/${encodeURIComponent(c.id)}/test`, { method: "POST" });
      const n = (r.checkpoints || []).length;
      outcome = r.ok
        ? { ok: true, text: `✓ Works — ${n} checkpoint${n === 1 ? "" : "s"}${(r.warnings || []).length ? ` (${r.warnings.join("; ")})` : ""}` }
        : { ok: false, text: `✗ Failed: ${r.message}` };
    } catch (err) {
      outcome = { ok: false, text: `✗ Failed: ${err.message}` };
    }
    this.verdicts.set(c.id, outcome);
    this.render();
  }

  async act(c, action) {
    try {
      if (action === "delete") {
        if (!window.confirm(`Delete the image backend “${c.name}”?`)) return;
        await api(`/api/image-connections/${encodeURIComponent(c.id)}`, { method: "DELETE" });
      } else {
        await api(`/api/image-connections/${encodeURIComponent(c.id)}/activate`, { method: "POST" });
      }
    } catch (err) {
      this.errorEl.textContent = err.message;
      this.errorEl.hidden = false;
    }
    await this.refresh();
  }
}
