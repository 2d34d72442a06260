// Export and import in the sidebar's "Export / import" section.
//
// Exports are plain links to GET /api/conversations[/{id}]/export, so the
// browser downloads them under the server's Content-Disposition name; the
// "this conversation" links take the open conversation's id when clicked.
// Import reads a JSON file made by an export, sends it to
// POST /api/conversations/import (the server checks it and answers with what
// went wrong, naming the field), then refreshes the list and opens the first
// imported conversation.

import { h, clear } from "./dom.js";
import { api } from "./api.js";

const FORMATS = [["json", "JSON"], ["markdown", "Markdown"]];

export class Transfer {
  constructor(app, host) {
    this.app = app;
    this.host = host;
    this.render();
    // Opening the section points "this conversation" at the open one, so the
    // links also work from a context menu or a middle click.
    host.closest("details")?.addEventListener("toggle", () => this.pointAtCurrent());
  }

  pointAtCurrent() {
    const id = this.app.chat.conversation?.id;
    for (const a of this.host.querySelectorAll('[data-scope="current"]')) {
      a.href = id ? `/api/conversations/${encodeURIComponent(id)}/export?format=${a.dataset.format}` : "#";
    }
  }

  render() {
    const current = FORMATS.map(([format, label]) => h("a", {
      class: "export-link", href: "#", download: "", dataset: { scope: "current", format },
      "aria-label": `Export this conversation as ${label}`, text: label,
      onclick: (e) => this.exportCurrent(e, format) }));
    const all = FORMATS.map(([format, label]) => h("a", {
      class: "export-link", href: `/api/conversations/export?format=${format}`, download: "",
      dataset: { scope: "all", format },
      "aria-label": `Export all conversations as ${label}`, text: label }));
    this.file = h("input", { type: "file", accept: "application/json,.json", hidden: true,
      id: "import-file", onchange: () => this.importFile() });
    this.status = h("p", { class: "muted small", role: "status" });
    this.error = h("p", { class: "form-error", role: "alert", hidden: true });
    const pick = h("button", { type: "button", class: "secondary", id: "import-button",
      text: "Import JSON…", onclick: () => this.file.click() });
    clear(this.host).append(
      h("p", { class: "transfer-row" }, h("span", { text: "This conversation: " }), current[0], " · ", current[1]),
      h("p", { class: "transfer-row" }, h("span", { text: "All conversations: " }), all[0], " · ", all[1]),
      h("div", { class: "transfer-row" }, pick, this.file),
      this.status, this.error,
    );
  }

  exportCurrent(e, format) {
    const id = this.app.chat.conversation?.id;
    if (!id) {
      e.preventDefault();
      this.showError("Open a conversation first; a new chat is saved once it has a message.");
      return;
    }
    // Set now: the browser follows the link with the href it has after this handler.
    e.currentTarget.href = `/api/conversations/${encodeURIComponent(id)}/export?format=${format}`;
    this.error.hidden = true;
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = false;
  }

  async importFile() {
    const file = this.file.files[0];
    this.file.value = "";
    if (!file) return;
    this.error.hidden = true;
    this.status.textContent = `Importing ${file.name}…`;
    let doc;
    try {
      doc = JSON.parse(await file.text());
    } catch {
      this.status.textContent = "";
      this.showError(`${file.name} is not JSON; import takes a file made by Export → JSON.`);
      return;
    }
    let imported;
    try {
      imported = (await api("/api/conversations/import", { method: "POST", body: doc })).conversations;
    } catch (err) {
      this.status.textContent = "";
      const hint = err.status === 413
        ? " For a large file use the command line: pluma conversations import FILE."
        : "";
      this.showError(`${file.name} was not imported: ${err.message}.${hint}`);
      return;
    }
    const n = imported.length;
    this.status.textContent = `Imported ${n} conversation${n === 1 ? "" : "s"} from ${file.name}.`;
    await this.app.sidebar.refresh();
    if (n > 0) {
      this.app.show("chat");
      await this.app.chat.open(imported[0].id);
    }
  }
}
